"""Incident messages in the workspace's channels: posted when an incident opens, then updated
in place (never reposted) through every change, in order, with the buttons that fit."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import OperationalError, connection, transaction

from escalations.catalog import services as catalog
from escalations.engine.paging import incident_escalate
from escalations.policies.models import StepKind
from escalations.policies.services import policy_create, step_add
from incidents import services as incident_services
from incidents.models import Incident
from integrations.slack.fake import FakeSlack
from integrations.slack.messages.services import _redis as slack_redis
from integrations.slack.messages.services import message_sync, pace_settle, pace_wait
from integrations.slack.models import SlackMessage, SlackWorkspace
from opsduty.models import Organization, Service, User
from tests import factories
from tests.integrations.slack.conftest import (
    CHANNEL,
    OTHER_CHANNEL,
    OTHER_TEAM_ID,
    slack_installed,
)

Capture = Callable[..., AbstractContextManager[Any]]


def _open(committed: Callable[[], Any], service: Service, summary: str = "Disk full") -> Incident:
    with committed():
        return factories.make_incident(service=service, summary=summary)


def _texts(fake: FakeSlack, channel: str = CHANNEL) -> list[str]:
    return [m.text for m in fake.messages(channel) if m.thread_ts is None]


def _buttons(blocks: list[dict[str, Any]]) -> list[str]:
    actions = next(b for b in blocks if b["type"] == "actions")
    return [
        element["text"]["text"] if element["type"] == "button" else element["action_id"]
        for element in actions["elements"]
    ]


def _fields(blocks: list[dict[str, Any]]) -> str:
    return "\n".join(
        field["text"]
        for block in blocks
        if block["type"] == "section"
        for field in block.get("fields", [])
    )


@pytest.mark.django_db
def test_a_new_incident_is_posted_once_with_its_facts_and_buttons(
    workspace: SlackWorkspace, fake_slack: FakeSlack, service: Service, committed: Callable[[], Any]
) -> None:
    incident = _open(committed, service, "Disk <full> & slow")
    (message,) = fake_slack.messages(CHANNEL)
    assert message.text.startswith(f"#{incident.number} Disk &lt;full&gt; &amp; slow (Triggered")
    summary = message.blocks[0]["text"]["text"]
    assert f"https://ops.example.com/i/{incident.pk}" in summary
    assert "*Urgency*\nHigh" in _fields(message.blocks)
    assert "*Service*\nCheckout API" in _fields(message.blocks)
    assert _buttons(message.blocks) == ["Acknowledge", "Resolve", "silence"]
    assert len(fake_slack.calls("chat.postMessage")) == 1
    # The token we sent is the one the install gave us.
    assert fake_slack.calls("chat.postMessage")[0].token == fake_slack.install_token(
        workspace.team_id
    )


@pytest.mark.django_db
def test_each_change_updates_the_same_message_in_place(
    workspace: SlackWorkspace,
    fake_slack: FakeSlack,
    service: Service,
    member: User,
    committed: Callable[[], Any],
) -> None:
    incident = _open(committed, service)
    with committed():
        incident_services.incident_acknowledge(incident=incident, by=member)
    (message,) = fake_slack.messages(CHANNEL)
    assert "Acknowledged by" in _fields(message.blocks)
    assert member.get_full_name() in _fields(message.blocks)
    assert _buttons(message.blocks) == ["Unacknowledge", "Resolve", "silence"]
    with committed():
        incident_services.incident_silence(incident=incident, by=member, minutes=60)
    assert "Silenced" in _fields(fake_slack.messages(CHANNEL)[0].blocks)
    with committed():
        incident_services.incident_resolve(incident=incident, by=member)
    (message,) = fake_slack.messages(CHANNEL)
    assert "Resolved by" in _fields(message.blocks)
    assert _buttons(message.blocks) == ["Unresolve"]
    # One post, then updates of that message only.
    assert len(fake_slack.calls("chat.postMessage")) == 1
    assert len(fake_slack.calls("chat.update")) == 3
    assert {call.params["ts"] for call in fake_slack.calls("chat.update")} == {message.ts}


@pytest.mark.django_db
def test_attach_and_urgency_and_labels_show_on_the_message(
    workspace: SlackWorkspace,
    fake_slack: FakeSlack,
    service: Service,
    member: User,
    committed: Callable[[], Any],
) -> None:
    parent = _open(committed, service, "Parent")
    child = _open(committed, service, "Child")
    with committed():
        incident_services.incident_set_urgency(incident=child, by=member, urgency="low")
        incident_services.incident_add_label(incident=child, by=member, name="db")
    with committed():
        incident_services.incident_attach(incident=child, parent=parent, by=member)
    child_message = next(
        m for m in fake_slack.messages(CHANNEL) if m.text.startswith(f"#{child.number}")
    )
    context = " ".join(
        e["text"] for b in child_message.blocks if b["type"] == "context" for e in b["elements"]
    )
    assert f"Attached to #{parent.number}" in context
    assert "*Urgency*\nLow" in _fields(child_message.blocks)
    assert "*Labels*\ndb" in _fields(child_message.blocks)


@pytest.mark.django_db
def test_escalation_steps_show_who_is_paged(
    workspace: SlackWorkspace,
    fake_slack: FakeSlack,
    service: Service,
    member: User,
    owner: User,
    committed: Callable[[], Any],
) -> None:
    policy = policy_create(team=service.team, by=None, name="Checkout")
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[member])
    step_add(policy=policy, by=None, kind=StepKind.WAIT, wait_minutes=30)
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[owner])
    catalog.service_set_policy(service=service, policy=policy, by=None)
    incident = _open(committed, service)
    paging = _context(fake_slack)
    assert member.get_full_name() in paging
    assert owner.get_full_name() not in paging
    with committed():
        incident_escalate(incident=incident, by=member)
    paging = _context(fake_slack)
    assert owner.get_full_name() in paging
    assert len(fake_slack.calls("chat.postMessage")) == 1


def _context(fake: FakeSlack) -> str:
    (message,) = fake.messages(CHANNEL)
    return " ".join(
        e["text"] for b in message.blocks if b["type"] == "context" for e in b["elements"]
    )


@pytest.mark.django_db
def test_a_service_channel_overrides_the_default(
    workspace: SlackWorkspace, fake_slack: FakeSlack, service: Service, committed: Callable[[], Any]
) -> None:
    service.slack_channel = "#checkout"
    service.save(update_fields=["slack_channel"])
    _open(committed, service)
    assert len(_texts(fake_slack, OTHER_CHANNEL)) == 1
    assert _texts(fake_slack, CHANNEL) == []


@pytest.mark.django_db
def test_no_channel_no_install_no_message(
    fake_slack: FakeSlack,
    org_a: Organization,
    service: Service,
    eager_tasks: None,
    committed: Callable[[], Any],
) -> None:
    _open(committed, service, "Before the install")
    workspace = slack_installed(org_a, fake_slack, default_channel="")
    _open(committed, service, "No channel chosen")
    workspace.default_channel_id = CHANNEL
    workspace.save(update_fields=["default_channel_id"])
    _open(committed, service, "After")
    assert [t.split(" (")[0].split(" ", 1)[1] for t in _texts(fake_slack)] == ["After"]


@pytest.mark.django_db
def test_another_organization_never_posts_to_this_workspace(
    workspace: SlackWorkspace,
    fake_slack: FakeSlack,
    org_b: Organization,
    committed: Callable[[], Any],
) -> None:
    other = slack_installed(org_b, fake_slack, team_id=OTHER_TEAM_ID, default_channel="C0OTHER")
    theirs = factories.make_service(organization=org_b, name="Theirs")
    _open(committed, theirs, "Their outage")
    assert _texts(fake_slack) == []
    (message,) = fake_slack.messages("C0OTHER")
    assert "Their outage" in message.text
    assert fake_slack.calls("chat.postMessage")[0].token == fake_slack.install_token(other.team_id)


@pytest.mark.django_db
def test_thread_replies_are_off_by_default_and_never_mention_the_actor(
    workspace: SlackWorkspace,
    fake_slack: FakeSlack,
    service: Service,
    member: User,
    committed: Callable[[], Any],
) -> None:
    incident = _open(committed, service)
    with committed():
        incident_services.incident_acknowledge(incident=incident, by=member)
    assert [m for m in fake_slack.messages(CHANNEL) if m.thread_ts] == []

    workspace.thread_replies = True
    workspace.save(update_fields=["thread_replies"])
    with committed():
        incident_services.incident_add_note(incident=incident, by=member, text="Looking at db-1")
    replies = [m for m in fake_slack.messages(CHANNEL) if m.thread_ts]
    # The lines since the post, the acknowledge's included, then the note with its words.
    assert [r.text for r in replies][-1] == (
        f"Note added by {member.get_full_name()}: Looking at db-1"
    )
    assert any(r.text.startswith("Acknowledged") for r in replies)
    top = next(m for m in fake_slack.messages(CHANNEL) if m.thread_ts is None)
    assert all(r.thread_ts == top.ts for r in replies)
    assert not any("<@" in r.text for r in replies)


@pytest.mark.django_db
def test_an_older_state_never_overwrites_a_newer_one(
    workspace: SlackWorkspace,
    fake_slack: FakeSlack,
    service: Service,
    member: User,
    committed: Callable[[], Any],
) -> None:
    """A sync renders the incident as it is when it holds the message's lock: a late sync of
    an old change shows the newest state (or does nothing), never the old one."""
    incident = _open(committed, service)
    message = SlackMessage.objects.get(incident=incident)
    # The acknowledge's sync is "lost" (not run); the resolve's runs; then the late one.
    incident_services.incident_acknowledge(incident=incident, by=member)
    incident_services.incident_resolve(incident=incident, by=member)
    assert message_sync(message_id=message.pk) == "updated"
    assert message_sync(message_id=message.pk) == "unchanged"
    (shown,) = fake_slack.messages(CHANNEL)
    assert "Resolved" in _fields(shown.blocks)
    assert len(fake_slack.calls("chat.update")) == 1


@pytest.mark.django_db
def test_many_changes_in_one_transaction_cost_one_update(
    workspace: SlackWorkspace,
    fake_slack: FakeSlack,
    service: Service,
    member: User,
    committed: Callable[[], Any],
) -> None:
    incident = _open(committed, service)
    with committed():
        incident_services.incident_acknowledge(incident=incident, by=member)
        incident_services.incident_add_note(incident=incident, by=member, text="On it")
        incident_services.incident_set_urgency(incident=incident, by=member, urgency="low")
        incident_services.incident_resolve(incident=incident, by=member)
    assert len(fake_slack.calls("chat.update")) == 1
    assert "Resolved" in _fields(fake_slack.messages(CHANNEL)[0].blocks)


@pytest.mark.django_db
def test_a_429_is_retried_and_shown_on_the_workspace(
    workspace: SlackWorkspace,
    fake_slack: FakeSlack,
    service: Service,
    member: User,
    committed: Callable[[], Any],
) -> None:
    incident = _open(committed, service)
    fake_slack.rate_limit("chat.update", times=1, retry_after=7)
    with committed():
        incident_services.incident_acknowledge(incident=incident, by=member)
    workspace.refresh_from_db()
    assert workspace.rate_limited_until is not None
    assert "rate limit" in workspace.last_error
    # The retry (queued with Retry-After as its countdown; eager here) delivered the change.
    assert "Acknowledged" in _fields(fake_slack.messages(CHANNEL)[0].blocks)
    statuses = [call.status for call in fake_slack.calls("chat.update")]
    assert statuses == [429, 200]


def _lockable(table: str, pk: int) -> bool:
    """Whether another session can lock the row now (this thread's own connection)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM {table} WHERE id = %s FOR UPDATE NOWAIT",  # noqa: S608
                [pk],
            )
        return True
    except OperationalError:
        return False
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_a_sync_talking_to_slack_locks_its_message_not_the_workspace(
    workspace: SlackWorkspace,
    fake_slack: FakeSlack,
    service: Service,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Syncs of other incidents (and the settings page) never wait for this one's call."""
    seen: list[tuple[bool, bool]] = []
    handle = fake_slack.api.handle

    def probing(method: str, *args: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
        if method == "chat.postMessage":  # from the fake's thread: another database session
            message = SlackMessage.objects.get()
            seen.append(
                (
                    _lockable(SlackMessage._meta.db_table, message.pk),
                    _lockable(SlackWorkspace._meta.db_table, workspace.pk),
                )
            )
        return handle(method, *args)

    monkeypatch.setattr(fake_slack.api, "handle", probing)
    factories.make_incident(service=service)  # committed: its sync runs (eagerly)
    assert seen == [(False, True)]


@pytest.mark.django_db
def test_the_channel_pace_allows_a_burst_then_one_per_interval(
    fake_slack: FakeSlack, settings: Any
) -> None:
    settings.OPSDUTY_SLACK_CHANNEL_INTERVAL_MS = 60_000
    settings.OPSDUTY_SLACK_CHANNEL_BURST = 3
    waits = [pace_wait("T0PACE", "C0PACE") for _ in range(4)]
    assert waits[:3] == [0, 0, 0]
    assert waits[3] > 0
    # Another channel has its own pace.
    assert pace_wait("T0PACE", "C0OTHER") == 0


@pytest.mark.django_db
def test_with_redis_down_the_message_is_posted_without_the_pace(
    workspace: SlackWorkspace,
    fake_slack: FakeSlack,
    service: Service,
    committed: Callable[[], Any],
    settings: Any,
) -> None:
    """The pace lives in Redis; without it the message goes at once (Slack's 429 paces us)."""
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens: refused at once
    slack_redis.cache_clear()
    try:
        incident = _open(committed, service, "Queue stuck")
    finally:
        slack_redis.cache_clear()
    (message,) = fake_slack.messages(CHANNEL)
    assert message.text.startswith(f"#{incident.number} Queue stuck (Triggered")


def test_a_write_counts_from_slacks_answer_not_from_its_turn(settings: Any) -> None:
    """Slack counts a write when it arrives (at the latest when it answers): a write that took
    0.3 s to reach Slack moves the channel's next turn 0.3 s later."""
    settings.OPSDUTY_SLACK_CHANNEL_INTERVAL_MS = 1000
    settings.OPSDUTY_SLACK_CHANNEL_BURST = 1
    channel = f"C0SLOW{secrets.token_hex(3).upper()}"
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        assert pace_wait("T0PACE", channel) == 0
    with time_machine.travel(start + timedelta(milliseconds=300), tick=False):
        pace_settle("T0PACE", channel)  # Slack answered
    with time_machine.travel(start + timedelta(milliseconds=1000), tick=False):
        assert pace_wait("T0PACE", channel) == 0.3
    with time_machine.travel(start + timedelta(milliseconds=1300), tick=False):
        assert pace_wait("T0PACE", channel) == 0
