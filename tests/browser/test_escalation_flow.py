"""Playwright on Debian's Chromium: build a policy in the editor, send a webhook event, see
the escalation on the timeline, acknowledge, see the rest of the policy cancelled."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from escalations.catalog.services import service_set_policy
from escalations.models import EscalationPolicy, Notification
from incidents.ingest import drain as signal_services
from opsduty.models import Role
from signals.models import Webhook
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_policy_from_the_editor_escalates_a_webhook_incident_until_acknowledged(
    page: Page, live_server: LiveServer
) -> None:
    acme = factories.make_organization(domain="acme", name="Acme Corp")
    olivia = factories.make_user(
        organization=acme,
        email="olivia@acme.example",
        first_name="Olivia",
        last_name="Oncall",
        role=Role.MEMBER,
    )
    team = factories.make_team(organization=acme, name="Platform")
    factories.add_member(team, olivia)
    service = factories.make_service(team=team, name="API")
    webhook = Webhook.objects.create(organization=acme, name="Generic")

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Organization domain").fill("acme")
    page.get_by_label("Email").fill("olivia@acme.example")
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # Build "notify Olivia; wait 10 minutes; notify Olivia" in the editor.
    page.goto(f"{live_server.url}/escalation-policies/new/")
    page.get_by_label("Name").fill("Two rounds")
    page.get_by_label("Owning team").select_option(label="Platform")
    page.get_by_role("button", name="Create escalation policy").click()
    for kind in ("Notify", "Wait", "Notify"):
        page.get_by_role("button", name=kind, exact=True).click()
        if kind == "Notify":
            page.get_by_label("olivia@acme.example").check()
        else:
            page.get_by_label("Minutes").fill("10")
        page.get_by_role("button", name="Add step").click()
    expect(page.locator("#policy-steps > li")).to_have_count(3)
    policy = EscalationPolicy.objects.get(name="Two rounds")
    service_set_policy(service=service, policy=policy, by=None)

    # An event through the webhook; processing runs here (no worker in this test).
    answer = page.request.post(
        f"{live_server.url}/integrations/webhooks/enque/event/{webhook.key}/{service.routing_key}",
        data=json.dumps({"title": "Checkout is down", "dedup_id": "checkout"}),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status == 202
    assert signal_services.raw_events_drain(linger=0) == 1

    page.goto(f"{live_server.url}/incidents/")
    page.get_by_role("link", name="Checkout is down").click()
    expect(page.get_by_text("Escalation policy “Two rounds” started.")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Step 1: notifying Olivia Oncall"))).to_be_visible()
    pending = Notification.objects.filter(user=olivia, status="pending")
    assert pending.exists()

    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_text("Escalation stopped: incident acknowledged.")).to_be_visible()
    expect(page.get_by_text(re.compile(r"pending notifications? cancelled"))).to_be_visible()
    assert not Notification.objects.filter(user=olivia, status="pending").exists()
