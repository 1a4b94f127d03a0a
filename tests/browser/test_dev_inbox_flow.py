"""The development inbox in a browser, at laptop and phone sizes: an owner reaches it from the
navigation, reads a notification mail sent to a colleague and follows its link to the
incident."""

from __future__ import annotations

import pytest
from django.core.mail import EmailMessage
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from opsduty.models import Role
from tests import factories
from tests.browser.helpers import sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("dev_inbox"),
]


def test_owner_reads_a_mail_and_follows_its_link(
    screen_page: Page, live_server: LiveServer
) -> None:
    page = screen_page
    acme = factories.make_organization(domain="acme", name="Acme Corp")
    factories.make_user(
        organization=acme, email="olivia@acme.example", first_name="Olivia", role=Role.OWNER
    )
    bob = factories.make_user(organization=acme, email="bob@acme.example", first_name="Bob")
    team = factories.make_team(organization=acme, name="Platform")
    incident = factories.make_incident(
        service=factories.make_service(team=team, name="Checkout"), summary="Payments failing"
    )
    link = f"{live_server.url}/incidents/{incident.pk}/"
    EmailMessage(
        subject=f"[OpsDuty] #{incident.number} Payments failing",
        body=f"Open the incident: {link}",
        to=[bob.email],
    ).send()

    sign_in(page, live_server, "acme", "olivia@acme.example", factories.PASSWORD)
    menu = page.get_by_role("button", name="Menu")
    if menu.is_visible():  # the phone folds the navigation behind its menu
        menu.click()
    page.get_by_role("link", name="Inbox (dev)").click()
    expect(page.locator("main")).to_contain_text(f"[OpsDuty] #{incident.number} Payments failing")
    expect(page.locator("main")).to_contain_text(bob.email)
    page.locator("main").get_by_role("link", name=link).click()
    expect(page).to_have_url(link)
    expect(page.locator("#incident-state")).to_have_text("Triggered")
