"""Playwright on Debian's Chromium: sign in, open an incident, acknowledge it, add a note and
resolve it; each step updates the page in place (htmx) and shows the new state."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from incidents.models import Incident, IncidentNote, Status
from opsduty.models import Role
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_responder_acknowledges_notes_and_resolves_an_incident(
    page: Page, live_server: LiveServer
) -> None:
    acme = factories.make_organization(domain="acme", name="Acme Corp")
    olivia = factories.make_user(
        organization=acme, email="olivia@acme.example", first_name="Olivia", role=Role.MEMBER
    )
    team = factories.make_team(organization=acme, name="Platform")
    factories.add_member(team, olivia)
    service = factories.make_service(team=team, name="Checkout")
    incident = factories.make_incident(
        service=service, summary="Payments failing", payload={"error_rate": 0.42}
    )

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Organization domain").fill("acme")
    page.get_by_label("Email").fill("olivia@acme.example")
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/incidents/")
    expect(page.get_by_role("heading", name="Incidents")).to_be_visible()
    row = page.locator(f"#incident-row-{incident.pk}")
    expect(row).to_contain_text("Triggered")

    row.get_by_role("link", name="Payments failing").click()
    expect(page.get_by_role("heading", name=f"#{incident.number} Payments failing")).to_be_visible()
    state = page.locator("#incident-state")
    expect(state).to_have_text("Triggered")
    page.evaluate("window.__stillHere = true")

    page.get_by_role("button", name="Acknowledge", exact=True).click()
    expect(state).to_have_text("Acknowledged")
    expect(page.locator("#messages")).to_contain_text(f"Incident #{incident.number} acknowledged.")

    page.get_by_label("Add a note").fill("Rolled back the 14:02 deploy.")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#messages")).to_contain_text("Note added.")
    expect(page.locator(".timeline")).to_contain_text("Rolled back the 14:02 deploy.")

    page.get_by_role("button", name="Resolve", exact=True).click()
    expect(state).to_have_text("Resolved")
    expect(page.get_by_role("button", name="Reopen")).to_be_visible()
    expect(page.locator(".timeline")).to_contain_text("Rolled back the 14:02 deploy.")
    assert page.evaluate("window.__stillHere") is True

    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED
    assert IncidentNote.objects.filter(incident=incident).count() == 1
    assert Incident.objects.count() == 1
