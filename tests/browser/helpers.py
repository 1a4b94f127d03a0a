"""Helpers shared by the browser tests."""

from __future__ import annotations

from playwright.sync_api import Page, ViewportSize
from pytest_django.live_server_helper import LiveServer

# The two sizes every responder flow is tried at: a 1366x768 laptop and a 390x844 phone.
SCREENS: dict[str, ViewportSize] = {
    "desktop": {"width": 1366, "height": 768},
    "phone": {"width": 390, "height": 844},
}


def sign_in(page: Page, live_server: LiveServer, domain: str, email: str, password: str) -> None:
    """Sign in through the login form and wait for the incident list."""
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Organization domain").fill(domain)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/incidents/")
