"""Playwright on Debian's Chromium: sign in, then the htmx flows of the team and members pages."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from opsduty.models import Organization, Role, Team, TeamMembership, User
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def acme() -> Organization:
    return factories.make_organization(domain="acme", name="Acme Corp")


@pytest.fixture
def olivia(acme: Organization) -> User:
    return factories.make_user(
        organization=acme,
        email="olivia@acme.example",
        first_name="Olivia",
        last_name="Owner",
        role=Role.OWNER,
    )


@pytest.fixture
def bob(acme: Organization) -> User:
    return factories.make_user(
        organization=acme, email="bob@acme.example", first_name="Bob", last_name="Berg"
    )


def _sign_in(page: Page, live_server: LiveServer, email: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Organization domain").fill("acme")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_sign_in_shows_the_members_of_the_organization(
    page: Page, live_server: LiveServer, olivia: User, bob: User
) -> None:
    factories.make_user(email="stranger@other.example")  # another organization
    _sign_in(page, live_server, "Olivia@Acme.example")
    expect(page).to_have_url(f"{live_server.url}/incidents/")
    page.get_by_role("link", name="Members", exact=True).click()
    expect(page.get_by_role("heading", name="Members")).to_be_visible()
    expect(page.get_by_text("Acme Corp").first).to_be_visible()
    table = page.get_by_role("table")
    expect(table.get_by_text("olivia@acme.example")).to_be_visible()
    expect(table.get_by_text("bob@acme.example")).to_be_visible()
    expect(page.get_by_text("stranger@other.example")).to_have_count(0)


def test_wrong_password_shows_the_generic_error(
    page: Page, live_server: LiveServer, olivia: User
) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Organization domain").fill("acme")
    page.get_by_label("Email").fill("olivia@acme.example")
    page.get_by_label("Password").fill("not the password")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("We could not sign you in")
    expect(page).to_have_url(f"{live_server.url}/login/")


def test_owner_adds_and_removes_a_team_member_in_place(
    page: Page, live_server: LiveServer, olivia: User, bob: User, acme: Organization
) -> None:
    team = Team.objects.create(organization=acme, name="Platform")
    _sign_in(page, live_server, "olivia@acme.example")
    page.get_by_role("link", name="Teams").click()
    page.get_by_role("link", name="Platform").click()
    expect(page.get_by_role("heading", name="Platform")).to_be_visible()
    # A marker that a full page load would wipe: the updates must happen in place (htmx).
    page.evaluate("window.__stillHere = true")

    page.get_by_label("Add a member").select_option(label="Bob Berg (bob@acme.example)")
    page.get_by_role("button", name="Add", exact=True).click()
    members = page.locator("#team-members .member-list")
    expect(members).to_contain_text("Bob Berg")
    expect(page.locator("#messages")).to_contain_text("Bob Berg added to Platform.")
    assert TeamMembership.objects.filter(team=team, user=bob).exists()

    page.get_by_role("button", name="Remove Bob Berg from Platform").click()
    expect(page.locator("#messages")).to_contain_text("Bob Berg removed from Platform.")
    expect(page.locator("#team-members")).to_contain_text("This team has no members yet.")
    assert not TeamMembership.objects.filter(team=team, user=bob).exists()
    assert page.evaluate("window.__stillHere") is True


def test_owner_changes_a_role_in_place_and_the_last_owner_error_shows(
    page: Page, live_server: LiveServer, olivia: User, bob: User
) -> None:
    _sign_in(page, live_server, "olivia@acme.example")
    page.get_by_role("link", name="Members", exact=True).click()
    page.evaluate("window.__stillHere = true")
    page.get_by_label("Role of Bob Berg").select_option("stakeholder")
    page.get_by_role("button", name="Save role of Bob Berg").click()
    expect(page.locator("#messages")).to_contain_text("Bob Berg is now Stakeholder.")
    expect(page.get_by_label("Role of Bob Berg")).to_have_value("stakeholder")

    page.get_by_label("Role of Olivia Owner").select_option("member")
    page.get_by_role("button", name="Save role of Olivia Owner").click()
    expect(page.locator("#messages")).to_contain_text("at least one owner")
    expect(page.get_by_label("Role of Olivia Owner")).to_have_value("owner")
    assert page.evaluate("window.__stillHere") is True
    bob.refresh_from_db()
    olivia.refresh_from_db()
    assert (bob.role, olivia.role) == (Role.STAKEHOLDER, Role.OWNER)


def test_navigation_works_on_a_phone_sized_screen(
    page: Page, live_server: LiveServer, olivia: User
) -> None:
    page.set_viewport_size({"width": 375, "height": 740})
    _sign_in(page, live_server, "olivia@acme.example")
    menu = page.get_by_role("button", name="Menu")
    for name in [
        "Services",
        "Teams",
        "Profile",
        "Developer settings",
        "Archive",
        "Members",
        "Incidents",
    ]:
        menu.click()  # the links are behind the Menu button on a phone
        page.get_by_role("link", name=name, exact=True).click()
        menu.click()
        expect(page.get_by_role("link", name=name, exact=True)).to_have_attribute(
            "aria-current", "page"
        )
        page.keyboard.press("Escape")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, "the page must not scroll sideways on a phone"
    menu.click()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login/$"))
    expect(page.locator("#messages")).to_contain_text("You have been signed out.")
