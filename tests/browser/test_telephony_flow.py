"""Telephony in a browser, with the fake Twilio behind the development phone: an owner sets up
the Twilio account, buys a number and gives it a destination, then calls it and watches the
on-call person accept; and a webhook incident's SMS is acknowledged by a reply typed on the
development phone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from escalations.catalog.services import service_set_policy
from escalations.models import Notification, StepKind
from escalations.notifications.services import notification_deliver
from escalations.policies.services import policy_create, step_add
from incidents.ingest import drain
from integrations.twilio.fake import FakeTwilio
from opsduty.models import Organization, Role, Service, User
from signals.models import Webhook
from tests import factories
from tests.browser.helpers import sign_in
from tests.integrations.twilio.conftest import ACCOUNT_SID, AUTH_TOKEN
from tests.integrations.twilio.telephony import (
    PUBLIC_URL,
    phone_verified,
    telephony_set_up,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BOB_PHONE = "+14155550111"
CALLER = "+12125550142"


@pytest.fixture
def phone_dev(
    fake_twilio: FakeTwilio, live_server: LiveServer, settings: Any
) -> Iterator[FakeTwilio]:
    """The development phone on: Twilio's webhooks reach the live server through the fake."""
    settings.OPSDUTY_PUBLIC_URL = PUBLIC_URL
    settings.OPSDUTY_DEV_PHONE = True
    fake_twilio.forward(PUBLIC_URL, live_server.url)
    yield fake_twilio


@pytest.fixture
def acme() -> Organization:
    return factories.make_organization(domain="acme", name="Acme Corp")


@pytest.fixture
def bob(acme: Organization) -> User:
    user = factories.make_user(
        organization=acme, email="bob@acme.example", first_name="Bob", last_name="Berg"
    )
    return phone_verified(user, BOB_PHONE, (0, "sms"))


@pytest.fixture
def checkout(acme: Organization, bob: User) -> Service:
    olivia = factories.make_user(
        organization=acme, email="olivia@acme.example", first_name="Olivia", role=Role.OWNER
    )
    team = factories.make_team(organization=acme, name="Payments")
    factories.add_member(team, olivia)
    factories.add_member(team, bob)
    service = factories.make_service(team=team, name="Checkout")
    policy = policy_create(team=team, by=None, name="Payments on call")
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[bob])
    service_set_policy(service=service, policy=policy, by=None)
    return service


def _open_nav(page: Page, name: str) -> None:
    menu = page.get_by_role("button", name="Menu")
    if menu.is_visible():  # the phone folds the navigation behind its menu
        menu.click()
    page.get_by_role("link", name=name, exact=True).click()


def test_owner_sets_up_a_number_and_an_incoming_call_reaches_the_on_call_person(
    screen_page: Page, live_server: LiveServer, phone_dev: FakeTwilio, checkout: Service
) -> None:
    page = screen_page
    sign_in(page, live_server, "acme", "olivia@acme.example", factories.PASSWORD)
    _open_nav(page, "Telephony")
    page.get_by_label("Account SID").fill(ACCOUNT_SID)
    page.get_by_label("Auth token").fill(AUTH_TOKEN)
    page.get_by_role("button", name="Check with Twilio and save").click()
    expect(page.locator("main")).to_contain_text(AUTH_TOKEN[-4:])
    expect(page.locator("main")).not_to_contain_text(AUTH_TOKEN)

    page.get_by_role("button", name="Buy a number").or_(
        page.get_by_role("link", name="Buy a number")
    ).click()
    page.get_by_label("Area code").fill("415")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("button", name="Buy").first.click()
    (bought,) = [n for n in phone_dev.numbers.values() if n.account_sid == ACCOUNT_SID]
    assert (
        bought.voice_url
        == f"{PUBLIC_URL}/integrations/twilio/" + bought.voice_url.split("/")[5] + "/voice/"
    )
    page.get_by_label("Digit").select_option("1")
    page.get_by_label("Service").select_option(label="Checkout")
    page.get_by_role("button", name="Add destination").click()
    expect(page.locator("main")).to_contain_text("Checkout")

    # A customer calls the number from the development phone.
    _open_nav(page, "Phone (dev)")
    page.get_by_label("From").first.fill(CALLER)
    page.get_by_label("To").first.fill(bought.phone_number)
    page.get_by_role("button", name="Call", exact=True).click()
    bobs_phone = page.locator(f"#phone-{BOB_PHONE[1:]}")
    bobs_phone.get_by_role("button", name="Answer as Bob Berg").click(timeout=15_000)
    expect(bobs_phone).to_contain_text("Press 1 to accept", timeout=15_000)
    bobs_phone.get_by_role("button", name="1", exact=True).click()
    phone_dev.settle()
    bobs_phone = page.locator(f"#phone-{BOB_PHONE[1:]}")
    bobs_phone.get_by_role("button", name="Hang up").click(timeout=15_000)
    phone_dev.settle()

    _open_nav(page, "Incidents")
    page.get_by_role("link", name=f"Incoming call from {CALLER}").first.click()
    expect(page.locator("#incident-state")).to_have_text("Acknowledged")
    expect(page.locator("main")).to_contain_text("Bob Berg answered the incoming call")


def test_a_webhook_incidents_sms_is_acknowledged_by_a_reply(
    screen_page: Page,
    live_server: LiveServer,
    phone_dev: FakeTwilio,
    acme: Organization,
    checkout: Service,
    bob: User,
) -> None:
    page = screen_page
    telephony_set_up(organization=acme, fake=phone_dev, sid=ACCOUNT_SID, token=AUTH_TOKEN)
    webhook = Webhook.objects.create(organization=acme, name="Generic")
    answer = page.request.post(
        f"{live_server.url}/integrations/webhooks/enque/event/{webhook.key}/{checkout.routing_key}",
        data=json.dumps({"title": "Payments failing", "dedup_id": "payments"}),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status == 202
    assert drain.raw_events_drain(linger=0) == 1
    for notification in Notification.objects.filter(user=bob):  # the escalator's delivery
        notification_deliver(notification_id=notification.pk)
    phone_dev.settle()

    sign_in(page, live_server, "acme", "olivia@acme.example", factories.PASSWORD)
    _open_nav(page, "Phone (dev)")
    bobs_phone = page.locator(f"#phone-{BOB_PHONE[1:]}")
    expect(bobs_phone).to_contain_text("Payments failing. Reply 1a ack")
    bobs_phone.get_by_label("Text").fill("1a")
    bobs_phone.get_by_role("button", name="Send").click()
    phone_dev.settle()
    bobs_phone = page.locator(f"#phone-{BOB_PHONE[1:]}")
    expect(bobs_phone).to_contain_text("Acknowledged #1: Payments failing", timeout=15_000)

    _open_nav(page, "Incidents")
    page.get_by_role("link", name="Payments failing").click()
    expect(page.locator("#incident-state")).to_have_text("Acknowledged")
    expect(page.locator("main")).to_contain_text('SMS reply "1a" from Bob Berg')
