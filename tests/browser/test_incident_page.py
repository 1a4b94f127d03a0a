"""The incident page is built for acting, on a laptop (1366x768) and a phone (390x844): state,
who is paged and the actions are visible without scrolling, even under a 1,000-character
title and a stack trace; the keyboard shortcuts a / e / r / ? act from anywhere on the page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from escalations.catalog.services import service_set_policy
from escalations.notifications.models import Notification
from escalations.policies.models import StepKind
from escalations.policies.services import policy_create, step_add
from incidents.models import Incident
from opsduty.models import Role, User
from tests import factories
from tests.browser.helpers import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TRACE = "Traceback (most recent call last):\n" + "".join(
    f'  File "/srv/app/very/long/module/path/number_{i}.py", line {i}, in handler_{i}\n'
    f"    result = compute(payload, retries={i}, timeout=30, strategy='exponential-backoff')\n"
    for i in range(40)
)


def _setup() -> tuple[Incident, User, User]:
    acme = factories.make_organization(domain="acme", name="Acme Corp")
    olivia = factories.make_user(
        organization=acme, email="olivia@acme.example", first_name="Olivia", role=Role.MEMBER
    )
    noah = factories.make_user(
        organization=acme, email="noah@acme.example", first_name="Noah", role=Role.MEMBER
    )
    team = factories.make_team(organization=acme, name="Platform")
    factories.add_member(team, olivia)
    factories.add_member(team, noah)
    service = factories.make_service(team=team, name="Checkout")
    policy = policy_create(team=team, by=None, name="Checkout ladder")
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[olivia])
    step_add(policy=policy, by=None, kind=StepKind.WAIT, wait_minutes=30)
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[noah])
    service_set_policy(service=service, policy=policy, by=None)
    summary = "Payments failing in eu-west-1: " + "upstream connect error or disconnect " * 30
    incident = factories.make_incident(service=service, summary=summary, description=TRACE)
    return incident, olivia, noah


def test_the_actions_are_above_the_fold_and_long_text_stays_in_its_box(
    screen_page: Page, live_server: LiveServer
) -> None:
    page = screen_page
    incident, olivia, _ = _setup()
    sign_in(page, live_server, "acme", "olivia@acme.example", factories.PASSWORD)
    page.goto(f"{live_server.url}/incidents/{incident.pk}/")

    for name in ("Acknowledge", "Resolve", "Escalate", "Silence", "Reassign"):
        expect(page.get_by_role("button", name=name, exact=True)).to_be_in_viewport()
    expect(page.locator("#incident-state")).to_be_in_viewport()
    expect(page.locator("#incident-paged")).to_contain_text("Olivia")
    expect(page.locator("#incident-paged")).to_be_in_viewport()

    # The title is clamped (full text in its tooltip and under "Full title").
    title = page.locator("h1.incident-title")
    expect(title).to_have_attribute("title", incident.summary)
    height = title.evaluate("h => h.getBoundingClientRect().height")
    line = title.evaluate("h => parseFloat(getComputedStyle(h).lineHeight)")
    assert height <= 3.5 * line, (height, line)
    page.get_by_text("Full title").click()
    expect(page.locator(".full-title p")).to_have_text(incident.summary)

    # The stack trace keeps its lines and scrolls inside its box; the page does not scroll
    # sideways.
    description = page.locator("pre.description")
    expect(description).to_contain_text("line 39, in handler_39\n    result = compute(")
    assert description.evaluate("p => p.scrollHeight > p.clientHeight")
    assert page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def test_keyboard_shortcuts_escalate_acknowledge_and_resolve(
    screen_page: Page, live_server: LiveServer
) -> None:
    page = screen_page
    incident, _, noah = _setup()
    sign_in(page, live_server, "acme", "olivia@acme.example", factories.PASSWORD)
    page.goto(f"{live_server.url}/incidents/{incident.pk}/")
    state = page.locator("#incident-state")

    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Escalate to the next step")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # Typing in a field never triggers a shortcut.
    page.get_by_label("Add a note").fill("a r e")
    expect(state).to_have_text("Triggered")

    page.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")
    page.keyboard.press("e")
    expect(page.locator("#messages")).to_contain_text("escalated: step 3 runs now")
    expect(page.locator("#incident-paged")).to_contain_text("Noah")
    assert Notification.objects.filter(incident=incident, user=noah).exists()

    page.keyboard.press("a")
    expect(state).to_have_text("Acknowledged")
    page.keyboard.press("r")
    expect(state).to_have_text("Resolved")
    expect(page.get_by_role("button", name="Reopen")).to_be_in_viewport()
