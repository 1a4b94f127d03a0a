"""notify_user writes the outbox (invariant 5); delivery sends once, retries, logs attempts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import redis
import time_machine
from django.conf import settings
from django.core import mail
from django.db import transaction
from django.test import Client

from escalations.models import Notification, NotificationStatus
from escalations.notifications import tasks
from escalations.notifications.providers import DeliveryError
from escalations.notifications.services import (
    notification_deliver,
    notifications_cancel_for,
    notifications_due,
    notify_user,
)
from incidents import services
from incidents.models import Incident, IncidentResponder, LogAction
from incidents.views.timeline import incident_timeline
from opsduty.celery import app
from opsduty.models import User
from tests import factories
from tests.notifications.conftest import ScriptedProvider

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _notify(incident: Incident, user: User, prefix: str = "page:1") -> list[Notification]:
    with time_machine.travel(START, tick=False):
        return notify_user(
            incident=incident, user=user, reason="paged by Olivia", key_prefix=prefix
        )


def _deliver(notification: Notification, at: datetime) -> str | None:
    with time_machine.travel(at, tick=False):
        return notification_deliver(notification_id=notification.pk)


def _messages(incident: Incident) -> list[str]:
    return list(
        incident.log.filter(action=LogAction.NOTIFICATION)
        .order_by("id")
        .values_list("message", flat=True)
    )


@pytest.mark.django_db
def test_notify_user_writes_one_row_per_rule_with_its_due_time(
    incident: Incident, member: User
) -> None:
    rows = _notify(incident, member)
    assert [(n.channel, n.due_at) for n in rows] == [
        ("email", START),
        ("sms", START),
        ("voice", START + timedelta(minutes=5)),
    ]
    assert {n.status for n in rows} == {NotificationStatus.PENDING}
    assert {n.reason for n in rows} == {"paged by Olivia"}
    assert all(n.idempotency_key == f"page:1:{n.rule_id}" for n in rows)
    responder = IncidentResponder.objects.get(incident=incident, user=member)
    assert (responder.status, responder.last_notified) == ("pending", START)


@pytest.mark.django_db
def test_notify_user_is_idempotent_per_key_prefix(incident: Incident, member: User) -> None:
    assert len(_notify(incident, member)) == 3
    assert _notify(incident, member) == []
    assert Notification.objects.filter(incident=incident).count() == 3
    assert len(_notify(incident, member, prefix="page:2")) == 3


@pytest.mark.django_db
def test_low_urgency_uses_the_low_rules(incident: Incident, member: User) -> None:
    services.incident_set_urgency(incident=incident, by=None, urgency="low")
    incident.refresh_from_db()
    assert [n.channel for n in _notify(incident, member)] == ["email"]


@pytest.mark.django_db
def test_stakeholders_are_not_notified(incident: Incident, stakeholder: User) -> None:
    assert _notify(incident, stakeholder) == []
    assert not Notification.objects.exists()
    assert not IncidentResponder.objects.filter(user=stakeholder).exists()
    assert any("Stakeholders are not notified" in m for m in _messages(incident))


@pytest.mark.django_db
def test_inactive_users_are_not_notified(incident: Incident, member: User) -> None:
    member.is_active = False
    member.save()
    assert _notify(incident, member) == []
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_email_is_sent_once_even_when_the_task_is_duplicated(
    incident: Incident, member: User
) -> None:
    email = _notify(incident, member)[0]
    assert _deliver(email, START) == NotificationStatus.SENT
    assert _deliver(email, START) is None  # a duplicated task: no second email
    assert tasks.notification_deliver(email.pk) is None
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["member@a.example"]
    assert message.subject == f"[OpsDuty] #{incident.number} Disk full"
    assert f"/incidents/{incident.pk}/" in message.body
    assert "Status: Triggered" in message.body
    email.refresh_from_db()
    assert (email.status, email.attempts, email.sent_at) == ("sent", 1, START)
    assert f"Email to {member.get_full_name()}: sent" in _messages(incident)


@pytest.mark.django_db
def test_rows_due_together_are_delivered_by_one_task(incident: Incident, member: User) -> None:
    email, sms, voice = _notify(incident, member)
    with time_machine.travel(START, tick=False):
        results = tasks.notifications_deliver([email.pk, sms.pk, voice.pk])
    # Email sent, SMS not configured yet, voice not due: each row as `deliver` alone decides.
    assert results == [NotificationStatus.SENT, NotificationStatus.NOT_CONFIGURED, None]
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_nothing_is_sent_before_its_due_time(incident: Incident, member: User) -> None:
    voice = _notify(incident, member)[2]
    assert _deliver(voice, START + timedelta(minutes=4)) is None
    voice.refresh_from_db()
    assert (voice.status, voice.attempts) == ("pending", 0)


@pytest.mark.django_db
def test_unconfigured_channels_do_not_pretend(incident: Incident, member: User) -> None:
    _, sms, voice = _notify(incident, member)
    assert _deliver(sms, START) == NotificationStatus.NOT_CONFIGURED
    assert _deliver(voice, START + timedelta(minutes=5)) == NotificationStatus.NOT_CONFIGURED
    assert mail.outbox == []
    messages = _messages(incident)
    # No Twilio account in this organization: the telephony providers say what is missing.
    not_set_up = "not sent: Twilio is not set up (Settings, Telephony)"
    assert f"SMS {not_set_up} (to {member.get_full_name()})" in messages
    assert any(m.startswith(f"Voice call {not_set_up}") for m in messages)


@pytest.mark.django_db
def test_transient_errors_retry_with_backoff_then_give_up(
    incident: Incident, member: User, scripted_sms: ScriptedProvider
) -> None:
    scripted_sms.script = [DeliveryError("503 busy", permanent=False)] * 5
    sms = _notify(incident, member)[1]
    at = START
    for attempt, wait in enumerate([30, 60, 120, 240], start=1):
        assert _deliver(sms, at) == NotificationStatus.PENDING
        sms.refresh_from_db()
        assert sms.attempts == attempt
        assert sms.due_at == at + timedelta(seconds=wait)
        assert _deliver(sms, sms.due_at - timedelta(seconds=1)) is None  # not yet due
        at = sms.due_at
    assert _deliver(sms, at) == NotificationStatus.FAILED
    sms.refresh_from_db()
    assert (sms.status, sms.attempts, sms.last_error) == ("failed", 5, "503 busy")
    assert len(scripted_sms.calls) == 5
    messages = [m for m in _messages(incident) if m.startswith("SMS to")]
    assert len(messages) == 5
    assert "failed (503 busy), retry 2 of 5 at 12:00:30 UTC" in messages[0]
    assert messages[-1].endswith("failed (503 busy), gave up after 5 attempts")


@pytest.mark.django_db
def test_a_retry_that_succeeds_is_sent(
    incident: Incident, member: User, scripted_sms: ScriptedProvider
) -> None:
    scripted_sms.script = [DeliveryError("timeout", permanent=False), None]
    sms = _notify(incident, member)[1]
    assert _deliver(sms, START) == NotificationStatus.PENDING
    assert _deliver(sms, START + timedelta(seconds=30)) == NotificationStatus.SENT
    assert f"SMS to {member.get_full_name()}: sent (test)" in _messages(incident)


@pytest.mark.django_db
def test_permanent_errors_fail_at_once(
    incident: Incident, member: User, scripted_sms: ScriptedProvider
) -> None:
    scripted_sms.script = [DeliveryError("invalid number", permanent=True)]
    sms = _notify(incident, member)[1]
    assert _deliver(sms, START) == NotificationStatus.FAILED
    assert _deliver(sms, START + timedelta(hours=1)) is None
    assert len(scripted_sms.calls) == 1
    assert f"SMS to {member.get_full_name()}: failed (invalid number)" in _messages(incident)


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_acknowledge_and_resolve_cancel_pending_notifications(
    incident: Incident, member: User, owner: User, action: str
) -> None:
    email, _, voice = _notify(incident, member)
    assert _deliver(email, START) == NotificationStatus.SENT
    with time_machine.travel(START + timedelta(minutes=1), tick=False):
        getattr(services, f"incident_{action}")(incident=incident, by=owner)
    statuses = dict(Notification.objects.values_list("channel", "status"))
    assert statuses == {"email": "sent", "sms": "cancelled", "voice": "cancelled"}
    assert _deliver(voice, START + timedelta(minutes=5)) is None
    assert any(m.startswith("2 pending notifications cancelled") for m in _messages(incident))
    assert notifications_cancel_for(incident) == 0


@pytest.mark.django_db
def test_the_timeline_shows_every_attempt(incident: Incident, member: User) -> None:
    for notification in _notify(incident, member)[:2]:
        _deliver(notification, START)
    texts = [item.text for item in incident_timeline(incident).items]
    assert f"Email to {member.get_full_name()}: sent" in texts
    assert any(text.startswith("SMS not sent") for text in texts)


@pytest.mark.django_db
def test_sweeper_finds_due_rows_past_the_grace(incident: Incident, member: User) -> None:
    rows = _notify(incident, member)
    assert notifications_due(now=START + timedelta(seconds=5)) == []
    assert notifications_due(now=START + timedelta(seconds=10)) == [rows[0].pk, rows[1].pk]
    assert len(notifications_due(now=START + timedelta(minutes=6))) == 3


@pytest.mark.django_db
def test_sweeper_queues_a_waiting_row_once_per_requeue_period(
    incident: Incident, member: User
) -> None:
    from django.core.cache import cache

    from escalations.notifications.services import notifications_to_sweep

    rows = _notify(incident, member)
    later = START + timedelta(seconds=10)
    assert notifications_to_sweep(now=later) == [rows[0].pk, rows[1].pk]
    # The next sweeps (every 5 s) leave them to the tasks already queued...
    assert notifications_to_sweep(now=later + timedelta(seconds=5)) == []
    # ...until the period has passed (its markers expired): queued once more.
    cache.delete_many([f"notifications:swept:{row.pk}" for row in rows])
    assert notifications_to_sweep(now=later + timedelta(seconds=60)) == [rows[0].pk, rows[1].pk]


@pytest.mark.django_db(transaction=True)
def test_delivery_is_queued_after_commit_at_the_due_time(incident: Incident, member: User) -> None:
    app.control.purge()
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    with transaction.atomic():
        rows = notify_user(incident=incident, user=member, reason="r", key_prefix="k")
        assert client.llen("notify") == 0  # nothing before the commit
    messages = [json.loads(raw)["headers"] for raw in client.lrange("notify", 0, -1)]
    # One task per due time: rows due together (email and SMS now) share one. Rows already
    # due go out as plain tasks; later ones carry their due time as the ETA.
    queued = sorted(
        (m["task"], m["argsrepr"], m["eta"] and datetime.fromisoformat(m["eta"]))
        for m in messages
        if m["task"].startswith("notifications.deliver")
    )
    by_due: dict[datetime, list[int]] = {}
    for row in rows:
        by_due.setdefault(row.due_at, []).append(row.pk)
    now = max(row.created_at for row in rows)
    expected = sorted(
        (
            "notifications.deliver" if len(ids) == 1 else "notifications.deliver_many",
            f"({ids[0]},)" if len(ids) == 1 else f"({ids!r},)",
            due if due > now else None,
        )
        for due, ids in by_due.items()
    )
    assert queued == expected
    assert [eta is None for _, _, eta in queued].count(True) == 1  # email and SMS, now
    assert len(queued) < len(rows)  # the default rules: email + SMS now, voice later
    app.control.purge()


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_decision_queues_nothing(incident: Incident, member: User) -> None:
    app.control.purge()
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    with pytest.raises(RuntimeError), transaction.atomic():
        notify_user(incident=incident, user=member, reason="r", key_prefix="k")
        raise RuntimeError
    assert client.llen("notify") == 0
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_responders_api_lists_pending_then_active(
    incident: Incident, member: User, owner_api: Client
) -> None:
    _notify(incident, member)
    url = f"/api/v1/incidents/{incident.pk}/responders/"
    body = owner_api.get(url).json()
    [row] = [r for r in body["items"] if r["user"]["id"] == member.pk]
    assert row["status"] == "pending"
    assert datetime.fromisoformat(row["last_notified"]) == START
    services.incident_acknowledge(incident=incident, by=member)
    body = owner_api.get(url).json()
    [row] = [r for r in body["items"] if r["user"]["id"] == member.pk]
    assert row["status"] == "active"


@pytest.mark.django_db
def test_paging_an_active_responder_again_keeps_them_active(
    incident: Incident, member: User
) -> None:
    factories.make_responder(incident=incident, user=member, status="active")
    _notify(incident, member, prefix="page:1")
    _notify(incident, member, prefix="page:2")
    responder = IncidentResponder.objects.get(incident=incident, user=member)
    assert (responder.status, responder.last_notified) == ("active", START)
