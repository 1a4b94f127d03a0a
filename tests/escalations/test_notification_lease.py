"""Notification delivery in three steps, claim -> send -> record, under a lease
(escalations/notifications/services.py): a broken connection after the provider accepted a
message loses nothing and sends nothing twice; a live lease keeps other senders off the row
while no lock is held; an expired lease (the sender died) is sent again, and says so.

Real PostgreSQL, real commits (`transaction=True`), the real email provider on Django's
locmem backend, scripted providers through the provider registry as in
tests/notifications/test_outbox.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.db import connection, transaction

from escalations.models import Notification, NotificationStatus
from escalations.notifications import services as notifications
from escalations.notifications.providers import DeliveryError, Receipt, provider_register
from escalations.notifications.providers.email import EmailProvider, message_id
from escalations.notifications.services import (
    notification_deliver,
    notifications_due,
    notifications_to_sweep,
    notify_user,
)
from incidents import services as incident_services
from incidents.ingest import services as ingest
from incidents.models import Incident, LogAction
from opsduty.events import EventData
from opsduty.models import Service, User
from tests.notifications.conftest import ScriptedProvider
from tests.outages import in_thread, terminate_my_backend
from tests.waiting import wait_until

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _locmem_email(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def incident(service: Service) -> Incident:
    return ingest.ingest_event(
        service=service, event=EventData(summary="Disk full", dedup_id="disk")
    )


def _email(incident: Incident, user: User) -> Notification:
    """The member's email row (rule 1, due at once), written and committed."""
    rows = notify_user(incident=incident, user=user, reason="paged", key_prefix="step:1")
    return next(row for row in rows if row.channel == "email")


def _lines(incident: Incident) -> list[str]:
    return list(
        incident.log.filter(action=LogAction.NOTIFICATION)
        .order_by("id")
        .values_list("message", flat=True)
    )


def _sent_lines(incident: Incident, user: User) -> list[str]:
    return [m for m in _lines(incident) if m.startswith(f"Email to {user.get_full_name()}: sent")]


class _Provider:
    """The real email provider, and `during(notification)` after it accepted the message and
    before the outcome is recorded."""

    def __init__(self, during: Callable[[Notification], None]) -> None:
        self.during = during
        self.calls = 0

    def send(self, notification: Notification) -> Receipt:
        self.calls += 1
        receipt = EmailProvider().send(notification)
        self.during(notification)
        return receipt


@pytest.fixture
def install() -> Iterator[Callable[[str, Any], None]]:
    channels: list[str] = []

    def register(channel: str, provider: Any) -> None:
        channels.append(channel)
        provider_register(channel, provider)

    yield register
    for channel in channels:
        provider_register(channel, None)


@pytest.mark.django_db(transaction=True)
def test_a_connection_broken_after_the_send_records_the_outcome_once(
    incident: Incident,
    member: User,
    install: Callable[[str, Any], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider = _Provider(terminate_my_backend)
    install("email", provider)
    email = _email(incident, member)
    with caplog.at_level(logging.WARNING, logger=notifications.__name__):
        assert notification_deliver(notification_id=email.pk) == NotificationStatus.SENT
    assert provider.calls == 1
    assert len(mail.outbox) == 1
    email.refresh_from_db()
    assert (email.status, email.attempts, email.lease_until) == ("sent", 1, None)
    assert len(_sent_lines(incident, member)) == 1
    # The wait was said, without the message's content or its address.
    assert "the database is unreachable" in caplog.text
    assert "member@a.example" not in caplog.text
    assert "Disk full" not in caplog.text
    # Nothing is left for the sweeper or a redelivered task.
    later = email.due_at + timedelta(minutes=10)
    assert email.pk not in notifications_to_sweep(now=later)
    assert notification_deliver(notification_id=email.pk) is None
    assert provider.calls == 1
    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_a_live_lease_keeps_other_senders_off_while_no_lock_is_held(
    incident: Incident, member: User, install: Callable[[str, Any], None]
) -> None:
    seen: dict[str, Any] = {}

    def meanwhile(notification: Notification) -> None:
        assert not connection.in_atomic_block  # the send runs outside any transaction
        finished, seen["second"] = in_thread(
            lambda: notification_deliver(notification_id=notification.pk)
        )
        assert finished
        seen["due"] = notification.pk in notifications_due(
            now=notification.due_at + timedelta(seconds=15)
        )

        def lock_both() -> bool:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "SELECT id FROM incidents_incident WHERE id = %s FOR UPDATE NOWAIT",
                    [notification.incident_id],
                )
                cursor.execute(
                    f"SELECT id FROM {Notification._meta.db_table} WHERE id = %s"  # noqa: S608
                    " FOR UPDATE NOWAIT",
                    [notification.pk],
                )
            return True

        seen["locked"] = in_thread(lock_both)[1]

    provider = _Provider(meanwhile)
    install("email", provider)
    email = _email(incident, member)
    assert notification_deliver(notification_id=email.pk) == NotificationStatus.SENT
    assert seen == {"second": None, "due": False, "locked": True}
    assert provider.calls == 1
    assert len(mail.outbox) == 1
    assert len(_sent_lines(incident, member)) == 1


@pytest.mark.django_db(transaction=True)
def test_a_notification_acknowledged_during_its_send_is_recorded_as_sent(
    incident: Incident, member: User, owner: User, install: Callable[[str, Any], None]
) -> None:
    def acknowledge(_: Notification) -> None:
        finished, _result = in_thread(
            lambda: incident_services.incident_acknowledge(incident=incident, by=owner)
        )
        assert finished  # the send holds no lock that the acknowledge waits for

    install("email", _Provider(acknowledge))
    email = _email(incident, member)
    assert notification_deliver(notification_id=email.pk) == NotificationStatus.SENT
    email.refresh_from_db()
    assert (email.status, email.lease_until) == ("sent", None)
    lines = _lines(incident)
    assert lines[-2].startswith("3 pending notifications cancelled")
    assert lines[-1] == (
        f"Email to {member.get_full_name()}: sent"
        " (it was on its way when the pending notifications were cancelled)"
    )
    statuses = dict(Notification.objects.values_list("channel", "status"))
    assert statuses == {"email": "sent", "sms": "cancelled", "voice": "cancelled"}


@pytest.mark.django_db(transaction=True)
def test_a_failure_during_an_acknowledge_is_not_retried(
    incident: Incident, member: User, owner: User, install: Callable[[str, Any], None]
) -> None:
    class Refusing(ScriptedProvider):
        def send(self, notification: Notification) -> Receipt:
            finished, _result = in_thread(
                lambda: incident_services.incident_acknowledge(incident=incident, by=owner)
            )
            assert finished
            return super().send(notification)

    install("email", Refusing([DeliveryError("421 try later", permanent=False)]))
    email = _email(incident, member)
    assert notification_deliver(notification_id=email.pk) == NotificationStatus.CANCELLED
    email.refresh_from_db()
    assert (email.status, email.attempts, email.lease_until) == ("cancelled", 1, None)
    assert _lines(incident)[-1] == (
        f"Email to {member.get_full_name()}: not sent (421 try later); not retried: the"
        " pending notifications were cancelled meanwhile"
    )


def _server_up_for(grace: timedelta) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_postmaster_start_time() < clock_timestamp() - make_interval(secs => %s)",
            [grace.total_seconds()],
        )
        return bool(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_an_expired_lease_is_sent_again_and_says_the_earlier_outcome_is_unknown(
    incident: Incident, member: User
) -> None:
    with time_machine.travel(START, tick=False):
        email = _email(incident, member)
        # The sender that claimed it died before its record: T1 committed, nothing else.
        claim = notifications._lease(email.pk)
    assert claim is not None
    email.refresh_from_db()
    assert (email.status, email.attempts, email.lease_until) == (
        "pending",
        1,
        START + notifications.LEASE,
    )
    assert mail.outbox == []
    # While the lease is live nobody takes the row; after it, the sweeper does.
    assert notifications_due(now=START + timedelta(seconds=20)) == [
        row.pk for row in Notification.objects.filter(channel="sms")
    ]
    assert wait_until(lambda: _server_up_for(notifications.RECOVERY_GRACE))
    later = START + notifications.LEASE + timedelta(seconds=1)
    assert email.pk in notifications_to_sweep(now=later)
    with time_machine.travel(later, tick=False):
        assert notification_deliver(notification_id=email.pk) == NotificationStatus.SENT
        assert notification_deliver(notification_id=email.pk) is None
    email.refresh_from_db()
    assert (email.status, email.attempts, email.lease_until) == ("sent", 2, None)
    [message] = mail.outbox
    # The same Message-ID as the lost attempt's: a receiver that dedupes shows one.
    assert message.extra_headers["Message-ID"] == message_id(email)
    assert _sent_lines(incident, member) == [
        f"Email to {member.get_full_name()}: sent (again: attempt 1 stopped mid-send and its"
        " outcome is unknown, so this may be a second message)"
    ]


@pytest.mark.django_db(transaction=True)
def test_an_expired_lease_waits_until_the_server_has_been_up_for_the_grace(
    incident: Incident, member: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    with time_machine.travel(START, tick=False):
        email = _email(incident, member)
        assert notifications._lease(email.pk) is not None
    # As if PostgreSQL had just restarted: a live sender may still be recording.
    monkeypatch.setattr(notifications, "RECOVERY_GRACE", timedelta(days=36500))
    later = START + notifications.LEASE + timedelta(seconds=1)
    assert email.pk not in notifications_due(now=later)
    with time_machine.travel(later, tick=False):
        assert notification_deliver(notification_id=email.pk) is None
    assert mail.outbox == []
