"""An override ending in year 9999 is refused by the form, next to the field, with the range it
must be in and what was typed kept, on a laptop and a phone; the schedule keeps working."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from escalations.models import ScheduleOverride
from escalations.schedules.services import schedule_create
from opsduty.models import Role
from opsduty.timebounds import RANGE_MESSAGE
from tests import factories
from tests.browser.helpers import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_override_until_year_9999_is_refused_with_its_message(
    screen_page: Page, live_server: LiveServer
) -> None:
    page = screen_page
    acme = factories.make_organization(domain="acme", name="Acme Corp")
    team = factories.make_team(organization=acme, name="Platform")
    olivia = factories.make_user(
        organization=acme, email="olivia@acme.example", first_name="Olivia", role=Role.MEMBER
    )
    factories.add_member(team, olivia)
    schedule = schedule_create(team=team, by=None, name="Primary")

    sign_in(page, live_server, "acme", "olivia@acme.example", factories.PASSWORD)

    page.goto(f"{live_server.url}/schedules/{schedule.pk}/")
    form = page.locator("#override-form")
    form.get_by_label("Who").select_option(label=olivia.get_full_name())
    form.get_by_label("From").fill("2027-01-04T09:00")
    form.get_by_label("Until").fill("9999-12-31T09:00")
    form.get_by_role("button", name="Create override").click()

    form = page.locator("#override-form")
    until = form.get_by_label("Until")
    expect(until).to_have_attribute("aria-invalid", "true")
    expect(form).to_contain_text(RANGE_MESSAGE)
    expect(until).to_have_value("9999-12-31T09:00")
    expect(form.get_by_label("From")).to_have_value("2027-01-04T09:00")
    assert not ScheduleOverride.objects.exists()
    # The page and its feed still answer.
    expect(page.get_by_role("heading", name="Primary", level=1)).to_be_visible()
    assert page.request.get(f"{live_server.url}/schedules/{schedule.pk}/").status == 200
