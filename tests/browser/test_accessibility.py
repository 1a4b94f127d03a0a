"""axe-core on every page of the seeded demo (tests/demo_data.py: `seed_demo` plus incidents
in each state), signed in as the owner, who sees every page: no serious or critical
violation, on a desktop screen in light mode and on a phone's (where other boxes scroll) in
dark mode. The pages are the ones the crawl of tests/crawling.py reaches from the home page,
so a new page is checked as soon as something links to it."""

from __future__ import annotations

from typing import Literal

import pytest
from django.test import Client
from playwright.sync_api import Page, ViewportSize
from pytest_django.live_server_helper import LiveServer

from tests import demo_data
from tests.browser.axe import axe_violations
from tests.browser.helpers import sign_in
from tests.crawling import crawl

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _demo_pages() -> list[str]:
    """Every HTML page of the demo an owner reaches by links (one per distinct query); not the
    htmx fragments the pages load into themselves (axe checks them inside their page)."""
    client = Client()
    client.force_login(demo_data.demo_user(demo_data.OWNER))
    pages = crawl(client)
    return sorted(url for url, page in pages.items() if page.status == 200 and page.document)


@pytest.mark.parametrize(
    ("viewport", "scheme"),
    [({"width": 1366, "height": 768}, "light"), ({"width": 390, "height": 844}, "dark")],
    ids=["desktop-light", "phone-dark"],
)
def test_no_page_of_the_demo_has_a_serious_accessibility_violation(
    page: Page, live_server: LiveServer, viewport: ViewportSize, scheme: Literal["light", "dark"]
) -> None:
    page.set_viewport_size(viewport)
    page.emulate_media(color_scheme=scheme)  # base.html follows the system's light or dark
    demo_data.seed_demo_with_incidents()
    urls = _demo_pages()
    assert len(urls) > 100  # the crawl found the demo's pages, not only the home page
    sign_in(page, live_server, demo_data.DEMO_DOMAIN, demo_data.OWNER, demo_data.DEMO_PASSWORD)
    found: list[str] = []
    for url in urls:
        response = page.goto(live_server.url + url)
        assert response is not None and response.status == 200, url
        found += [f"{url}: {line}" for line in axe_violations(page)]
    assert not found, "serious or critical axe-core violations:\n" + "\n".join(found)
