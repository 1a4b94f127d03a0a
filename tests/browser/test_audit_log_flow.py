"""Playwright on Debian's Chromium, on a desktop and a phone screen: an owner changes a
person's role, finds the change in the audit log (who, from where, old → new), filters the
log, and downloads the filtered set as CSV; a member is refused the page."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from opsduty.models import Role
from tests import factories
from tests.browser.helpers import SCREENS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("screen", SCREENS)
def test_an_owner_finds_a_role_change_and_exports_it(
    page: Page, live_server: LiveServer, axe_check: Callable[[Page], None], screen: str
) -> None:
    acme = factories.make_organization(domain="acme", name="Acme Corp")
    factories.make_user(
        organization=acme,
        email="olga@acme.example",
        first_name="Olga",
        last_name="Owner",
        role=Role.OWNER,
    )
    bob = factories.make_user(
        organization=acme, email="bob@acme.example", first_name="Bob", last_name="Builder"
    )
    factories.make_team(organization=acme, name="Not a change of today's filter")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_viewport_size(SCREENS[screen])
    sign_in(page, live_server, "acme", "olga@acme.example", factories.PASSWORD)

    page.goto(f"{live_server.url}/members/")
    page.get_by_label("Role of Bob Builder").select_option(label="Stakeholder")
    with page.expect_response(lambda r: r.url.endswith(f"/members/{bob.pk}/role/")) as saved:
        page.get_by_role("button", name="Save role of Bob Builder").click()
    assert saved.value.ok, saved.value.status
    expect(page.get_by_label("Role of Bob Builder")).to_have_value("stakeholder")

    page.goto(f"{live_server.url}/settings/audit/")
    expect(page.get_by_role("heading", name="Audit log", level=1)).to_be_visible()
    row = page.locator("#audit-log tbody tr").first
    expect(row).to_contain_text("Olga Owner <olga@acme.example>")
    expect(row).to_contain_text("Person Bob Builder <bob@acme.example> changed")
    expect(row).to_contain_text("Role: Member → Stakeholder")
    expect(row).to_contain_text("Web")
    expect(row).to_contain_text("127.0.0.1")
    axe_check(page)

    page.locator("summary", has_text="Filters").click()
    page.get_by_label("What", exact=True).select_option(label="Team")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#audit-log tbody")).not_to_contain_text("Bob Builder")
    page.get_by_label("What", exact=True).select_option(label="Person")
    page.get_by_label("Action", exact=True).select_option(label="Changed")
    page.get_by_label("Text", exact=True).fill("stakeholder")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#audit-log tbody tr")).to_have_count(1)
    axe_check(page)

    with page.expect_download() as download:
        page.get_by_role("link", name="Export these entries as CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [(r["actor"], r["channel"], r["ip_address"], r["changes"]) for r in rows] == [
        ("Olga Owner <olga@acme.example>", "web", "127.0.0.1", "Role: Member → Stakeholder")
    ]
    assert errors == []


def test_a_member_is_refused_the_audit_log(page: Page, live_server: LiveServer) -> None:
    acme = factories.make_organization(domain="acme", name="Acme Corp")
    factories.make_user(organization=acme, email="mia@acme.example", role=Role.MEMBER)
    sign_in(page, live_server, "acme", "mia@acme.example", factories.PASSWORD)
    expect(page.get_by_role("link", name="Audit log")).to_have_count(0)
    response = page.goto(f"{live_server.url}/settings/audit/")
    assert response is not None and response.status == 403
