"""Playwright on Debian's Chromium: create a schedule, add a weekly rolling layer of two
people, preview its rotation (htmx), save, read the final row of the timeline, then override
a shift from the timeline and see the override win in the final row."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from escalations.models import ScheduleLayer, ScheduleOverride
from opsduty.models import Role
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_weekly_rotation_preview_timeline_and_override(page: Page, live_server: LiveServer) -> None:
    acme = factories.make_organization(domain="acme", name="Acme Corp")
    team = factories.make_team(organization=acme, name="Platform")
    for email, first in (("olivia", "Olivia"), ("alice", "Alice"), ("bob", "Bob")):
        user = factories.make_user(
            organization=acme,
            email=f"{email}@acme.example",
            first_name=first,
            last_name="",
            role=Role.MEMBER,
        )
        factories.add_member(team, user)
    # The schedule is in UTC, so "tomorrow" here is tomorrow for the schedule too.
    first_day = (timezone.now() + timedelta(days=1)).date()

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Organization domain").fill("acme")
    page.get_by_label("Email").fill("olivia@acme.example")
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.get_by_role("link", name="Schedules").click()
    page.get_by_role("button", name="New schedule").click()
    page.get_by_label("Owning team").select_option(label="Platform")
    page.get_by_label("Name").fill("Primary")
    page.get_by_label("Time zone").select_option("UTC")
    page.get_by_role("button", name="Create schedule").click()
    expect(page.get_by_role("heading", name="Primary", level=1)).to_be_visible()

    page.get_by_role("button", name="Add a layer").click()
    page.get_by_label("Name").fill("Weekly")
    page.get_by_label("Rotation").select_option("rolling")
    page.get_by_role("group", name="Group 1").get_by_label("Alice").check()
    page.get_by_role("group", name="Group 2").get_by_label("Bob").check()
    page.get_by_label("Repeats").select_option("weekly")
    page.get_by_label("First shift on").fill(first_day.isoformat())
    page.get_by_label("Handoff time").fill("09:00")
    page.get_by_label("Shift length: hours").fill("168")

    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#layer-preview")
    expect(preview).to_contain_text("Next 14 shifts")
    rows = preview.locator("tbody tr")
    expect(rows).to_have_count(14)
    expect(rows.nth(0)).to_contain_text("Alice")
    expect(rows.nth(1)).to_contain_text("Bob")
    expect(rows.nth(2)).to_contain_text("Alice")
    assert not ScheduleLayer.objects.exists()  # a preview saves nothing

    page.get_by_role("button", name="Save layer").click()
    expect(page.locator("#schedule-layers > li")).to_have_count(1)
    final = page.locator("#final-shifts tbody tr")
    expect(final.nth(0)).to_contain_text("Alice")
    expect(final.nth(1)).to_contain_text("Bob")
    final_row = page.get_by_role("group", name="Final schedule")
    first_bar = final_row.locator("a").first
    expect(first_bar).to_have_attribute("aria-label", f"Alice, {_label_start(first_day)}")

    # Override Alice's first week from the timeline: the link prefills the form.
    first_bar.click()
    form = page.locator("#override-form")
    expect(form.get_by_label("From", exact=True)).to_have_value(f"{first_day.isoformat()}T09:00")
    expect(form.get_by_label("Until", exact=True)).to_have_value(
        f"{(first_day + timedelta(days=7)).isoformat()}T09:00"
    )
    form.get_by_label("Who").select_option(label="Bob")
    form.get_by_role("button", name="Create override").click()
    expect(page.locator("#override-list")).to_contain_text("Bob")
    assert ScheduleOverride.objects.count() == 1
    final = page.locator("#final-shifts tbody tr")
    expect(final.nth(0)).to_contain_text("Bob")
    expect(final.nth(0)).to_contain_text("override")
    expect(final.nth(0)).not_to_contain_text("Alice")
    expect(page.get_by_role("group", name="Final schedule").locator("a").first).to_have_attribute(
        "aria-label",
        f"Bob (override), {_label_start(first_day)}",  # in words, not colour only
    )
    assert errors == []


def _label_start(day: date) -> str:
    """A week's bar label from `day` 09:00: "Tue 5 Jan 09:00 – Tue 12 Jan 09:00 (...)"."""
    end = day + timedelta(days=7)
    return (
        f"{day:%a} {day.day} {day:%b} 09:00 – {end:%a} {end.day} {end:%b} 09:00 "
        "(create an override)"
    )
