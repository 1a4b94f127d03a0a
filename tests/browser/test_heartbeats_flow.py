"""Playwright on Debian's Chromium: create a heartbeat on a service, add an interval
environment in the environment editor, copy its check-in URL with the page's Copy button,
check in at that URL, reload and see the environment up with its last check-in (on the
heartbeat page and the list); then a bad row in the editor is refused on its row."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from opsduty.models import Role
from signals.heartbeats.models import HeartbeatCheckIn, HeartbeatState
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _check_in(page: Page, url: str) -> None:
    """Check in at the copied public URL over real HTTP (Playwright's request client)."""
    response = page.request.get(url, headers={"User-Agent": "playwright-test"})
    assert response.status == 200, response.text()


def test_create_heartbeat_add_environment_copy_url_and_check_in(
    page: Page, live_server: LiveServer
) -> None:
    acme = factories.make_organization(domain="acme", name="Acme Corp")
    team = factories.make_team(organization=acme, name="Platform")
    olivia = factories.make_user(
        organization=acme,
        email="olivia@acme.example",
        first_name="Olivia",
        last_name="",
        role=Role.MEMBER,
    )
    factories.add_member(team, olivia)
    factories.make_service(team=team, name="Billing")
    for label in ("backup", "db"):
        factories.make_label(organization=acme, name=label)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Organization domain").fill("acme")
    page.get_by_label("Email").fill("olivia@acme.example")
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.get_by_role("link", name="Heartbeats").click()
    page.get_by_role("button", name="New heartbeat").click()
    page.get_by_label("Service").select_option(label="Billing (Platform)")
    page.get_by_label("Name").fill("Nightly backup")
    page.get_by_role("checkbox", name="backup").check()
    page.get_by_role("checkbox", name="db").check()
    page.get_by_role("button", name="Create heartbeat").click()
    expect(page.get_by_role("heading", name="Nightly backup", level=1)).to_be_visible()
    expect(page.locator("#heartbeat-labels")).to_have_text("backupdb")
    expect(page.locator("#checkin")).to_contain_text("No environments yet")

    page.get_by_role("button", name="Edit environments").click()
    page.get_by_label("Environment, row 1").fill("prod")
    page.get_by_label("Type, row 1").select_option("interval")
    page.get_by_label("Interval in seconds, row 1").fill("3600")
    page.get_by_label("Timeout in seconds, row 1").fill("300")
    page.get_by_role("button", name="Save environments").click()
    row = page.locator('#environment-table tr[data-environment="prod"]')
    expect(row.locator(".badge")).to_have_text("waiting")
    expect(row).to_contain_text("every 3600 s, timeout 300 s")
    assert HeartbeatState.objects.get().interval_seconds == 3600

    # The one environment's URL, copied with the page's button (copy.js shows it).
    url_input = page.get_by_label("Environment “prod”")
    url = url_input.input_value()
    assert url.startswith(f"{live_server.url}/heartbeats/checkin/HB") and url.endswith("/prod/")
    page.get_by_role("button", name="Copy the check-in URL prod").click()
    expect(page.locator("#copy-status")).to_have_text("Copied to the clipboard.")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == url

    _check_in(page, copied)

    page.reload()
    row = page.locator('#environment-table tr[data-environment="prod"]')
    expect(row.locator(".badge")).to_have_text("up")
    expect(row.locator(".hb-last")).to_contain_text("just now")
    expect(page.locator("#checkin-history tbody tr")).to_have_count(1)
    expect(page.locator("#checkin-history")).to_contain_text("playwright-test")
    assert HeartbeatCheckIn.objects.count() == 1

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Heartbeats").click()
    listing = page.locator('li[data-environment="prod"]')
    expect(listing.locator(".badge")).to_have_text("up")
    expect(listing).to_contain_text("last check-in just now")

    # A bad row is refused with its error on that row.
    page.get_by_role("link", name="Nightly backup").click()
    page.get_by_role("button", name="Edit environments").click()
    page.get_by_label("Environment, row 2").fill("dev")
    page.get_by_label("Type, row 2").select_option("cron")
    page.get_by_label("Cron expression, row 2").fill("bad")
    page.get_by_role("button", name="Save environments").click()
    expect(page.locator('tr[data-row="2"] .errorlist')).to_contain_text(
        "“bad” is not a valid cron expression"
    )
    assert HeartbeatState.objects.count() == 1  # all or nothing
    assert errors == []
