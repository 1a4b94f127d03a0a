"""Playwright on Debian's Chromium: a team member builds a status page (two groups, a
component in each, one standing for the incident's service), tells customers about an
operational incident from its page, posts an update, and writes a postmortem from the
generated draft, previews it and publishes it; the team's pages show the result and pass
the axe check."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from incidents.models import IncidentNote
from opsduty.models import Role
from statuspages.models import Notice
from tests import factories
from tests.browser.helpers import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _add_group(page: Page, name: str) -> None:
    page.get_by_role("button", name="Add a group").click()
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Add group").click()
    expect(page.get_by_text(f"Group “{name}” added.")).to_be_visible()


def _add_component(page: Page, group: str, name: str, service: str | None = None) -> None:
    page.get_by_role("link", name=f"Add a component to {group}").click()
    page.get_by_label("Name").fill(name)
    if service:
        page.get_by_label(re.compile(re.escape(service))).check()
    page.get_by_role("button", name="Add component").click()
    expect(page.get_by_text(f"Component “{name}” added to {group}.")).to_be_visible()


def test_build_a_page_tell_customers_update_and_publish_a_postmortem(
    page: Page, live_server: LiveServer, axe_check: Callable[[Page], None]
) -> None:
    acme = factories.make_organization(domain="acme", name="Acme Corp")
    team = factories.make_team(organization=acme, name="Platform")
    olivia = factories.make_user(
        organization=acme, email="olivia@acme.example", first_name="Olivia", role=Role.MEMBER
    )
    factories.add_member(team, olivia)
    service = factories.make_service(team=team, name="Checkout API")
    incident = factories.make_incident(service=service, summary="Checkout API returns 500s")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, live_server, "acme", "olivia@acme.example", factories.PASSWORD)

    # Build the page: two groups, a component in each.
    page.get_by_role("link", name="Status pages").click()
    page.get_by_role("button", name="New status page").click()
    page.get_by_label("Team").select_option(label="Platform")
    page.get_by_label("Name").fill("Acme status")
    page.get_by_label("Slug").fill("acme")
    page.get_by_role("button", name="Create status page").click()
    expect(page.get_by_role("heading", name="Acme status", level=1)).to_be_visible()
    _add_group(page, "Shop")
    _add_group(page, "Back office")
    _add_component(page, "Shop", "Checkout", service="Checkout API")
    _add_component(page, "Back office", "Reports")
    page.get_by_role("button", name="Move Back office to the top").click()
    groups = page.locator("#components h3")
    expect(groups).to_have_text(["Back office", "Shop"])
    axe_check(page)

    # Tell customers from the incident's page.
    page.goto(f"{live_server.url}/incidents/{incident.pk}/")
    section = page.locator("#tell-customers")
    expect(section.get_by_label("Title customers see")).to_have_value("Checkout API returns 500s")
    section.get_by_label("Impact", exact=True).select_option("major")
    section.get_by_label("Message").fill("Some payments **fail**; we are on it.")
    section.get_by_role("button", name="Tell customers").click()
    expect(page.get_by_role("heading", name="Checkout API returns 500s", level=1)).to_be_visible()
    expect(page.get_by_text("(1 component affected)")).to_be_visible()
    expect(page.locator("#notice-timeline strong").first).to_have_text("Investigating")
    expect(page.locator("#notice-timeline")).to_contain_text("Some payments fail")
    axe_check(page)

    # Post an update that moves it on.
    page.get_by_label("Update", exact=True).fill("A fix is **deployed**.")
    page.get_by_label("New status").select_option("monitoring")
    page.get_by_role("button", name="Post update").click()
    expect(page.get_by_text("Update posted.")).to_be_visible()
    expect(page.locator("#notice-status")).to_have_text("Monitoring")
    expect(page.locator("#notice-timeline li").first).to_contain_text("A fix is deployed.")

    # The postmortem: from the draft, previewed (htmx), published.
    page.get_by_role("link", name="Write a postmortem").click()
    page.get_by_role("button", name="Start from a draft").click()
    expect(page.get_by_label("Postmortem")).to_contain_text("# Postmortem: Checkout API")
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#postmortem-preview")
    expect(preview.get_by_role("heading", level=1)).to_have_text(
        "Postmortem: Checkout API returns 500s"
    )
    expect(preview.get_by_role("heading", name="What was affected")).to_be_visible()
    axe_check(page)
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_text("Postmortem published.")).to_be_visible()
    expect(page.locator("#postmortem-state")).to_contain_text("customers can read it")

    # The result, on the team's pages.
    page.get_by_role("link", name="Acme status").click()
    checkout = page.locator(".sp-components li", has_text="Checkout")
    expect(checkout.locator(".badge")).to_have_text("Partial outage")
    expect(page.locator("#notices")).to_contain_text("Checkout API returns 500s")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Status pages").click()
    expect(page.locator("tbody tr").first).to_contain_text("Partial outage")
    # And on the public page customers read (signed out, it is a public page).
    notice = Notice.objects.get()
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/status/acme/")
    main = page.locator("main")
    expect(main).to_contain_text("Partial outage")
    expect(main).to_contain_text("Checkout API returns 500s")
    expect(main).to_contain_text("A fix is deployed.")
    expect(main).to_contain_text("Monitoring")
    page.goto(f"{live_server.url}/status/acme/incidents/{notice.pk}/")
    expect(
        page.get_by_role("heading", name="Postmortem: Checkout API returns 500s")
    ).to_be_visible()
    assert notice.incident_id == incident.pk and notice.postmortem.published
    notes = list(IncidentNote.objects.filter(incident=incident).values_list("text", flat=True))
    assert any("Customers were told" in n for n in notes)
    assert any("postmortem" in n for n in notes)
    assert errors == []
