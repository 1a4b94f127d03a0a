"""The public status page in Chromium with JavaScript off: it reads (headline, components,
uptime, notices, the subscribe form works), breaks no Content-Security-Policy rule (the
suite's fixture) and has no serious axe-core violation, light and dark, desktop and phone."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, ViewportSize, expect
from pytest_django.live_server_helper import LiveServer

from statuspages.models import ComponentStatus, Impact, NoticeStatus
from tests import factories
from tests.browser.axe import assert_no_serious_violations
from tests.statuspages.world import (
    make_component,
    make_group,
    make_notice,
    make_page,
    post_update,
    show,
    write_postmortem,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _world() -> int:
    org = factories.make_organization(domain="acme-sp", name="Acme")
    page = make_page(organization=org, name="Acme status", slug="acme", description="Our services")
    core = make_group(page, "Core", order=0)
    api = make_component(core, "API", 0)
    make_component(core, "Dashboard", 1)
    make_component(make_group(page, "Edge", order=1), "CDN", 0)
    start = timezone.now() - timedelta(days=5)
    show(api, ComponentStatus.MAJOR_OUTAGE, at=start)
    show(api, ComponentStatus.OPERATIONAL, at=start + timedelta(hours=2))
    show(api, ComponentStatus.DEGRADED_PERFORMANCE)
    notice = make_notice(page, "Slow API", components=[api], impact=Impact.MINOR)
    post_update(notice, "We are looking into **slow** responses. [Details](https://example.com/)")
    old = make_notice(page, "Outage last week", status=NoticeStatus.RESOLVED, components=[api])
    post_update(old, "Resolved.")
    write_postmortem(old, "## Cause\n\nA bad deploy.", published=True)
    return old.pk


def test_the_public_page_reads_and_subscribes_without_javascript(
    browser: Browser, live_server: LiveServer
) -> None:
    old_id = _world()
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()

    page.goto(f"{live_server.url}/status/acme/")
    expect(page.get_by_role("heading", name="Degraded performance")).to_be_visible()
    expect(page.get_by_role("heading", name="Core")).to_be_visible()
    expect(page.get_by_role("link", name="Slow API")).to_be_visible()
    expect(page.locator(".md strong", has_text="slow")).to_be_visible()
    expect(page.get_by_text("% uptime").first).to_be_visible()
    expect(page.get_by_text("How it is computed")).to_be_visible()
    # The API's 90 bars span the width; its outage 5 days ago and today's slowdown are drawn
    # where those days are (day 84 and day 89 of 0-89), in their colors.
    bars = page.locator("svg.bars").first
    box = bars.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 20
    for code, day, color in (("mo", 84, "rgb(214, 51, 58)"), ("dp", 89, "rgb(217, 163, 28)")):
        path = bars.locator(f"path.{code}")
        drawn = path.bounding_box()
        assert drawn is not None
        assert abs((drawn["x"] - box["x"]) / box["width"] - day / 90) < 0.5 / 90, code
        assert path.evaluate("e => getComputedStyle(e).fill") == color

    page.get_by_role("link", name="Outage last week").first.click()
    expect(page.get_by_role("heading", name="Cause")).to_be_visible()
    assert page.url.endswith(f"/status/acme/incidents/{old_id}/")

    # The subscribe form posts without JavaScript.
    page.goto(f"{live_server.url}/status/acme/")
    page.get_by_label("Email address").fill("reader@example.com")
    page.get_by_label("CDN").check()
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    context.close()


@pytest.mark.parametrize(
    ("viewport", "scheme"),
    [({"width": 1366, "height": 768}, "light"), ({"width": 390, "height": 844}, "dark")],
    ids=["desktop-light", "phone-dark"],
)
def test_the_public_pages_pass_axe(
    browser: Browser,
    live_server: LiveServer,
    viewport: ViewportSize,
    scheme: Literal["light", "dark"],
) -> None:
    # axe-core is itself a script: this context runs it (the pages have none of their own).
    old_id = _world()
    context = browser.new_context(viewport=viewport, color_scheme=scheme)
    page = context.new_page()
    for path in ("", f"incidents/{old_id}/", "history/"):
        response = page.goto(f"{live_server.url}/status/acme/{path}")
        assert response is not None and response.status == 200, path
        assert_no_serious_violations(page)
    context.close()
