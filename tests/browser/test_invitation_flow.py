"""Inviting someone, in a browser at laptop and phone sizes: an owner invites an address with
a role and a team from the members page, the invitation mail arrives in the development
inbox, the invited person opens its link, sets a name and password, lands signed in, and
signs in again later with the password; the used link then says so."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
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
PASSWORD = "a-long-unusual-passphrase"


def _sign_out(page: Page) -> None:
    menu = page.get_by_role("button", name="Menu")
    if menu.is_visible():  # the phone folds the navigation behind its menu
        menu.click()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login/"))


def test_invite_accept_and_sign_in(
    screen_page: Page, live_server: LiveServer, settings: Any, axe_check: Callable[[Page], None]
) -> None:
    page = screen_page
    settings.OPSDUTY_PUBLIC_URL = live_server.url
    acme = factories.make_organization(domain="acme", name="Acme Corp")
    factories.make_user(
        organization=acme, email="olivia@acme.example", first_name="Olivia", role=Role.OWNER
    )
    factories.make_team(organization=acme, name="Platform")

    sign_in(page, live_server, "acme", "olivia@acme.example", factories.PASSWORD)
    page.goto(f"{live_server.url}/members/")
    form = page.locator("#invite-form")
    form.get_by_label("Email").fill("ines@acme.example")
    form.get_by_label("Role").select_option("stakeholder")
    form.get_by_label("Platform").check()
    form.get_by_role("button", name="Send the invitation").click()
    expect(page.locator("main")).to_contain_text("Invitation sent to ines@acme.example")
    expect(page.locator("#invitations")).to_contain_text("ines@acme.example")

    page.goto(f"{live_server.url}/dev/inbox/")
    expect(page.locator("main")).to_contain_text("invited you to Acme Corp")
    link = page.locator("main").locator('a[href*="/invitations/"]').first
    url = link.get_attribute("href")
    assert url and url.startswith(f"{live_server.url}/invitations/")
    _sign_out(page)

    page.goto(url)
    expect(page.get_by_role("heading", name="Join Acme Corp")).to_be_visible()
    expect(page.locator("main")).to_contain_text("ines@acme.example")
    axe_check(page)
    page.get_by_label("First name").fill("Ines")
    page.get_by_label("Last name").fill("Invited")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Accept and sign in").click()
    expect(page.locator("main")).to_contain_text("Welcome to Acme Corp")

    page.goto(f"{live_server.url}/members/")
    expect(page.locator("main")).to_contain_text("Ines Invited")
    expect(page.locator("main")).to_contain_text("Stakeholder")
    _sign_out(page)
    sign_in(page, live_server, "acme", "ines@acme.example", PASSWORD)

    page.goto(url)
    expect(page.locator("#link-refused")).to_contain_text("used already")
