"""Playwright on Debian's Chromium, on a desktop and a phone screen: create a personal API
token, see it once and copy it with the page's button, use it, and revoke it (401 after)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from opsduty.models import Role
from tests import factories
from tests.browser.helpers import SCREENS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _services_status(page: Page, base: str, token: str) -> int:
    response = page.request.get(
        f"{base}/api/v1/services/", headers={"Authorization": f"Bearer {token}"}
    )
    return response.status


@pytest.mark.parametrize("screen", SCREENS)
def test_create_copy_use_and_revoke_a_token(
    page: Page, live_server: LiveServer, screen: str
) -> None:
    acme = factories.make_organization(domain="acme", name="Acme Corp")
    factories.make_user(
        organization=acme, email="alice@acme.example", first_name="Alice", role=Role.MEMBER
    )
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_viewport_size(SCREENS[screen])
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Organization domain").fill("acme")
    page.get_by_label("Email").fill("alice@acme.example")
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server.url}/profile/")
    page.get_by_role("main").get_by_role("link", name="API tokens").click()
    expect(page.get_by_role("heading", name="API tokens", level=2)).to_be_visible()  # a section
    expect(page.get_by_text("You have no API tokens.")).to_be_visible()

    page.get_by_label("Name").fill("Grafana sync")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("heading", name="Token “Grafana sync” created")).to_be_visible()
    field = page.get_by_label("Token", exact=True)
    expect(field).to_be_visible()
    token = field.input_value()
    assert len(token) >= 30
    copy = page.get_by_role("button", name="Copy the token")
    expect(copy).to_be_visible()
    copy.click()
    expect(page.locator("#copy-status")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == token
    assert _services_status(page, live_server.url, token) == 200

    # Shown once: the page, loaded again, lists the token by name without its value.
    page.goto(f"{live_server.url}/profile/tokens/")
    row = page.locator("#token-list tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Grafana sync")
    expect(row.locator(".token-last-used")).not_to_contain_text("Never used")
    assert token not in page.content()

    row.get_by_role("link", name="Revoke Grafana sync").click()
    expect(page.get_by_role("heading", name="Revoke token “Grafana sync”?")).to_be_visible()
    page.get_by_role("button", name="Revoke token").click()
    expect(page.get_by_text("Token “Grafana sync” revoked")).to_be_visible()
    expect(page.get_by_text("You have no API tokens.")).to_be_visible()
    assert _services_status(page, live_server.url, token) == 401
    assert errors == []
