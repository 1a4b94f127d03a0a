"""The notification rules form (the profile's "Notification rules" section) shows the
server's message for a refused rule next to the form, with what was typed kept (it used to
show a generic "HTTP 422")."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from escalations.notifications.models import MAX_DELAY_MINUTES
from opsduty.models import Role, User
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def olivia() -> User:
    acme = factories.make_organization(domain="acme", name="Acme Corp")
    return factories.make_user(
        organization=acme, email="olivia@acme.example", first_name="Olivia", role=Role.OWNER
    )


def test_a_refused_rule_shows_the_servers_message(
    page: Page, live_server: LiveServer, olivia: User
) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Organization domain").fill("acme")
    page.get_by_label("Email").fill(olivia.email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server.url}/profile/notifications/")
    high = page.get_by_role("article", name="High urgency rules")
    high.get_by_label("Delay of a new rule").fill(str(MAX_DELAY_MINUTES + 1))
    high.get_by_label("Channel of a new rule").select_option("email")
    high.get_by_role("button", name="Save high urgency rules").click()
    high = page.get_by_role("article", name="High urgency rules")
    expect(high.get_by_role("alert")).to_contain_text(
        f"the delay must be 0 to {MAX_DELAY_MINUTES} minutes"
    )
    expect(page.get_by_text("That did not work")).to_have_count(0)
    expect(high.get_by_label("Delay of rule 4")).to_have_value(str(MAX_DELAY_MINUTES + 1))
