"""Slack in a browser, with the fake Slack's own pages standing for the Slack client: an owner
installs the app (OAuth through the fake), chooses the default channel and links their Slack
account with `/opsduty account link`; a webhook incident's message appears in the channel,
Acknowledge is pressed there (the fake posts the signed `block_actions`), and both the
message and the incident page show it acknowledged. Celery runs in a real worker."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from escalations.catalog.services import service_set_policy
from escalations.models import StepKind
from escalations.policies.services import policy_create, step_add
from integrations.slack.fake import FakeSlack
from integrations.slack.selectors import slack_presence_forget
from opsduty.models import Organization, Role, Service, User
from signals.models import Webhook
from tests import factories
from tests.browser.helpers import sign_in
from tests.integrations.slack.conftest import CLIENT_ID, CLIENT_SECRET, SIGNING_SECRET

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEAM = "T0ACME"
INCIDENTS = "C0INCIDENTS"
OLIVIA = "U0OLIVIA"


@pytest.fixture
def slack(live_server: LiveServer, settings: Any) -> Iterator[FakeSlack]:
    """The fake Slack, sending its signed requests to the live server."""
    with FakeSlack(
        signing_secret=SIGNING_SECRET,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        app_url=live_server.url,
    ) as fake:
        settings.OPSDUTY_SLACK_CLIENT_ID = CLIENT_ID
        settings.OPSDUTY_SLACK_CLIENT_SECRET = CLIENT_SECRET
        settings.OPSDUTY_SLACK_SIGNING_SECRET = SIGNING_SECRET
        settings.OPSDUTY_SLACK_API_URL = fake.api_url
        settings.OPSDUTY_SLACK_AUTHORIZE_URL = fake.authorize_url
        settings.OPSDUTY_PUBLIC_URL = live_server.url
        fake.add_team(TEAM, "Acme")
        fake.add_channel(TEAM, INCIDENTS, "incidents")
        fake.add_channel(TEAM, "C0RANDOM", "random")
        fake.add_user(
            TEAM, OLIVIA, name="olivia", real_name="Olivia Owner", email="olivia@acme.example"
        )
        slack_presence_forget()
        yield fake
    slack_presence_forget()


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
def checkout(acme: Organization, olivia: User) -> Service:
    team = factories.make_team(organization=acme, name="Payments")
    factories.add_member(team, olivia)
    service = factories.make_service(team=team, name="Checkout")
    policy = policy_create(team=team, by=None, name="Payments on call")
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[olivia])
    service_set_policy(service=service, policy=policy, by=None)
    return service


def test_install_link_and_acknowledge_from_slack(
    page: Page,
    live_server: LiveServer,
    slack: FakeSlack,
    celery_worker: Any,
    acme: Organization,
    olivia: User,
    checkout: Service,
) -> None:
    sign_in(page, live_server, "acme", "olivia@acme.example", factories.PASSWORD)

    # Install: Settings -> Slack -> Add to Slack -> the fake's consent page -> back.
    page.goto(f"{live_server.url}/settings/slack/")
    page.get_by_role("button", name="Add to Slack").click()
    expect(page.get_by_role("button", name="Allow")).to_be_visible()
    page.get_by_label("Workspace").select_option(TEAM)
    page.get_by_label("Acting as").select_option(OLIVIA)
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(re.compile(r".*/settings/slack/.*"))
    expect(page.locator("main")).to_contain_text("Acme")
    page.get_by_label("Default channel").select_option(label="#incidents")
    page.get_by_role("button", name="Save channel settings").click()
    expect(page.get_by_label("Default channel")).to_have_value(INCIDENTS)
    token = slack.install_token(TEAM)
    assert token is not None
    expect(page.locator("main")).not_to_contain_text(token)

    # Link Olivia's Slack user: /opsduty account link in the channel, open the link, confirm.
    channel_page = f"{slack.url}/team/{TEAM}/channel/{INCIDENTS}?as={OLIVIA}"
    page.goto(channel_page)
    page.get_by_label("Message #incidents").fill("/opsduty account link")
    page.get_by_label("Message #incidents").press("Enter")
    link = page.locator("aside.ephemeral a", has_text="/slack/link/").last
    expect(link).to_be_visible()
    page.goto(link.get_attribute("href") or "")
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("main")).to_contain_text("Linked: Slack user @olivia")

    # A webhook incident: its message appears in #incidents.
    webhook = Webhook.objects.create(organization=acme, name="Generic")
    answer = page.request.post(
        f"{live_server.url}/integrations/webhooks/enque/event/{webhook.key}/{checkout.routing_key}",
        data=json.dumps({"title": "Payments failing", "dedup_id": "payments"}),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status == 202
    page.goto(channel_page)
    message = page.locator("article.message", has_text="Payments failing")
    expect(message).to_contain_text("Triggered", timeout=20_000)

    # Acknowledge in Slack: the message is updated in place, and the incident page agrees.
    message.get_by_role("button", name="Acknowledge").click()
    message = page.locator("article.message", has_text="Payments failing")
    expect(message).to_contain_text("Acknowledged by Olivia Owner", timeout=20_000)
    expect(page.locator("article.message")).to_have_count(1)

    page.goto(f"{live_server.url}/incidents/")
    page.get_by_role("link", name="Payments failing").click()
    expect(page.locator("#incident-state")).to_have_text("Acknowledged")
