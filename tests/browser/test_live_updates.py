"""Playwright on Debian's Chromium, against the real ASGI server (the live stream is not
served by pytest-django's WSGI live_server): a colleague's change appears in another
browser without a reload, at desktop and phone sizes.

Olivia watches; Bob acts in a second browser context (his own cookies and connections).
Every wait is Playwright's own auto-waiting `expect`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import Browser, BrowserContext, Page, expect

from escalations.policies.services import policy_create
from incidents.ingest.services import incident_trigger
from incidents.models import Incident
from opsduty.models import Role, Service, User
from tests import factories
from tests.browser.helpers import SCREENS
from tests.conftest import session_client_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = SCREENS


@dataclass
class Acme:
    olivia: User
    bob: User
    service: Service
    incident: Incident


@pytest.fixture
def acme() -> Acme:
    org = factories.make_organization(domain="acme", name="Acme Corp")
    olivia = factories.make_user(
        organization=org, email="olivia@acme.example", first_name="Olivia", role=Role.MEMBER
    )
    bob = factories.make_user(
        organization=org, email="bob@acme.example", first_name="Bob", role=Role.MEMBER
    )
    team = factories.make_team(organization=org, name="Platform")
    factories.add_member(team, olivia)
    factories.add_member(team, bob)
    service = factories.make_service(team=team, name="Checkout")
    # A policy to reassign to: the top of the incident page then has a select whose first
    # option shows without being chosen, which is not someone at work in the form.
    policy_create(team=team, by=None, name="Night")
    incident = factories.make_incident(service=service, summary="Payments failing")
    return Acme(olivia, bob, service, incident)


@pytest.fixture
def signed_in(browser: Browser, asgi_server: str) -> Iterator[Any]:
    contexts: list[BrowserContext] = []

    def _open(user: User, size: str) -> Page:
        context = browser.new_context(viewport=SIZES[size])
        contexts.append(context)
        key = session_client_for(user).cookies[settings.SESSION_COOKIE_NAME].value
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": key, "url": asgi_server}]
        )
        return context.new_page()

    yield _open
    for context in contexts:
        context.close()


def _title(count: int, page: str) -> re.Pattern[str]:
    return re.compile(rf"^\({count}\) {page} ·")


@pytest.mark.parametrize("size", SIZES)
def test_a_colleagues_changes_appear_live(
    size: str, acme: Acme, signed_in: Any, asgi_server: str
) -> None:
    olivia, bob = signed_in(acme.olivia, size), signed_in(acme.bob, size)
    first = acme.incident

    olivia.goto(f"{asgi_server}/incidents/")
    row = olivia.locator(f"#incident-row-{first.pk}")
    expect(row).to_contain_text("Triggered")
    expect(olivia).to_have_title(_title(1, "Incidents"))
    olivia.evaluate("window.__stillHere = true")

    # Bob acknowledges in his browser; Olivia's list follows.
    bob.goto(f"{asgi_server}/incidents/{first.pk}/")
    bob.get_by_role("button", name="Acknowledge", exact=True).click()
    expect(bob.locator("#incident-state")).to_have_text("Acknowledged")
    expect(row).to_contain_text("Acknowledged")

    # A new incident on her team: a new row, and the title counts it.
    second = incident_trigger(service=acme.service, by=acme.bob, summary="Database down")
    expect(olivia.locator(f"#incident-row-{second.pk}")).to_contain_text("Database down")
    expect(olivia).to_have_title(_title(2, "Incidents"))

    # On the incident page, a half-written note survives Bob's changes.
    olivia.locator(f"#incident-row-{second.pk}").get_by_role("link", name="Database down").click()
    expect(olivia.locator("#incident-state")).to_have_text("Triggered")
    olivia.evaluate("window.__stillHere = true")
    note = olivia.get_by_label("Add a note")
    note.fill("Half-written thought")
    bob.goto(f"{asgi_server}/incidents/{second.pk}/")
    bob.get_by_role("button", name="Acknowledge", exact=True).click()
    expect(olivia.locator("#incident-state")).to_have_text("Acknowledged")
    expect(note).to_have_value("Half-written thought")
    expect(note).to_be_focused()

    bob.get_by_role("button", name="Resolve", exact=True).click()
    expect(olivia.locator("#incident-state")).to_have_text("Resolved")
    expect(olivia.locator("#incident-timeline")).to_contain_text("Resolved by Bob")
    expect(olivia).to_have_title(_title(1, f"#{second.number} Database down"))
    expect(note).to_have_value("Half-written thought")
    assert olivia.evaluate("window.__stillHere") is True


def test_tabs_of_one_browser_share_one_stream(acme: Acme, signed_in: Any, asgi_server: str) -> None:
    from incidents.live import hub

    olivia = signed_in(acme.olivia, "desktop")
    olivia.goto(f"{asgi_server}/incidents/")
    expect(olivia).to_have_title(_title(1, "Incidents"))
    second_tab = olivia.context.new_page()
    second_tab.goto(f"{asgi_server}/incidents/{acme.incident.pk}/")
    expect(second_tab.locator("#incident-state")).to_have_text("Triggered")

    bob = signed_in(acme.bob, "desktop")
    bob.goto(f"{asgi_server}/incidents/{acme.incident.pk}/")
    bob.get_by_role("button", name="Acknowledge", exact=True).click()
    expect(second_tab.locator("#incident-state")).to_have_text("Acknowledged")
    expect(olivia.locator(f"#incident-row-{acme.incident.pk}")).to_contain_text("Acknowledged")
    # Olivia's first tab streams for both; the second waits for the lock.
    locks = second_tab.evaluate("navigator.locks.query()")
    assert [lock["name"] for lock in locks["held"]] == [f"opsduty-live-{acme.olivia.pk}"]
    assert [lock["name"] for lock in locks["pending"]] == [f"opsduty-live-{acme.olivia.pk}"]
    assert hub._hub is not None
    streams = [
        client
        for org in hub._hub.organizations.values()
        for client in org.clients
        if client.viewer.user_id == acme.olivia.pk
    ]
    assert len(streams) == 1
