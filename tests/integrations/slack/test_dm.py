"""Slack as a notification channel: the Slack rule pages the person by DM, with the same
buttons as the channel's message; delivery, failure and retries show on the timeline."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from escalations.models import Notification, NotificationStatus
from escalations.notifications.rules import RuleInput, notification_rules_replace
from escalations.notifications.services import notification_deliver, notify_user
from incidents.models import Incident, Status
from integrations.slack.fake import FakeSlack
from integrations.slack.models import SlackWorkspace
from opsduty.models import Organization, Service, User
from tests import factories
from tests.integrations.slack.conftest import slack_installed, slack_linked

Capture = Callable[..., AbstractContextManager[Any]]
ALICE = "U0ALICE"


@pytest.fixture
def workspace(
    fake_slack: FakeSlack, org_a: Organization, eager_tasks: None, settings: Any
) -> SlackWorkspace:
    settings.OPSDUTY_SLACK_CHANNEL_BURST = 10_000
    return slack_installed(org_a, fake_slack, default_channel="")


def _page(incident: Incident, user: User) -> Notification:
    notification_rules_replace(user=user, urgency="high", rules=[RuleInput(0, "slack")])
    (row,) = notify_user(incident=incident, user=user, reason="on call", key_prefix="t")
    notification_deliver(notification_id=row.pk)
    row.refresh_from_db()
    return row


def _timeline(incident: Incident) -> list[str]:
    return list(incident.log.order_by("id").values_list("message", flat=True))


@pytest.mark.django_db
def test_the_slack_rule_pages_by_dm_and_its_buttons_work(
    workspace: SlackWorkspace,
    fake_slack: FakeSlack,
    service: Service,
    member: User,
    committed: Callable[[], Any],
) -> None:
    slack_linked(member, fake_slack, workspace, ALICE)
    with committed():
        incident = factories.make_incident(service=service, summary="Disk full")
    with committed():
        row = _page(incident, member)
    assert row.status == NotificationStatus.SENT
    assert any(line.endswith("sent as a Slack DM") for line in _timeline(incident))
    dm = fake_slack.dm_channel("T0ACME", ALICE)
    (message,) = fake_slack.messages(dm)
    assert message.text.startswith(f"You are paged: #{incident.number} Disk full")
    assert '"Acknowledge"' in json.dumps(message.blocks)

    with committed():
        answer = fake_slack.click("T0ACME", ALICE, dm, message.ts, "acknowledge")
    assert answer.status == 200
    incident.refresh_from_db()
    assert incident.status == Status.ACKNOWLEDGED
    (message,) = fake_slack.messages(dm)
    assert "Acknowledged by" in json.dumps(message.blocks)
    # Updated in place (the unpacking above: still one message), with its history kept.
    assert "Acknowledged" not in message.edits[0][0]


@pytest.mark.django_db
def test_an_unlinked_person_is_not_configured_and_the_timeline_says_why(
    workspace: SlackWorkspace, fake_slack: FakeSlack, service: Service, member: User
) -> None:
    incident = factories.make_incident(service=service)
    row = _page(incident, member)
    assert row.status == NotificationStatus.NOT_CONFIGURED
    assert any("has not linked a Slack account" in line for line in _timeline(incident))
    assert fake_slack.calls("chat.postMessage") == []


@pytest.mark.django_db
def test_a_person_gone_from_the_workspace_fails_for_good(
    workspace: SlackWorkspace, fake_slack: FakeSlack, service: Service, member: User
) -> None:
    link = slack_linked(member, fake_slack, workspace, ALICE)
    link.slack_user_id = "U0GONE"  # not a user of the workspace
    link.save(update_fields=["slack_user_id"])
    incident = factories.make_incident(service=service)
    row = _page(incident, member)
    assert row.status == NotificationStatus.FAILED
    assert any("is not in the Slack workspace" in line for line in _timeline(incident))


@pytest.mark.django_db
def test_a_429_is_retried_after_its_retry_after(
    workspace: SlackWorkspace, fake_slack: FakeSlack, service: Service, member: User
) -> None:
    slack_linked(member, fake_slack, workspace, ALICE)
    fake_slack.rate_limit("chat.postMessage", times=1, retry_after=42)
    incident = factories.make_incident(service=service)
    before = timezone.now()
    row = _page(incident, member)
    assert row.status == NotificationStatus.PENDING
    assert before + timedelta(seconds=41) <= row.due_at <= timezone.now() + timedelta(seconds=43)
    assert any("retry 2 of" in line for line in _timeline(incident))
    assert fake_slack.messages(fake_slack.dm_channel("T0ACME", ALICE)) == []
    # When it is due, the retry delivers it (once).
    Notification.objects.filter(pk=row.pk).update(due_at=timezone.now())
    notification_deliver(notification_id=row.pk)
    row.refresh_from_db()
    assert row.status == NotificationStatus.SENT
    assert len(fake_slack.messages(fake_slack.dm_channel("T0ACME", ALICE))) == 1


@pytest.mark.django_db
def test_not_connected_is_not_configured(
    fake_slack: FakeSlack, service: Service, member: User
) -> None:
    incident = factories.make_incident(service=service)
    row = _page(incident, member)
    assert row.status == NotificationStatus.NOT_CONFIGURED
    assert any("Slack is not connected" in line for line in _timeline(incident))
