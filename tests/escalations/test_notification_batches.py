"""Rows due together are delivered together (escalations/notifications/services.py
`notifications_deliver`): one claim (T1) and one record (T2) per chunk, with the same promise
as one row at a time. Each row is sent once and gets its timeline line; a second sender of the
same rows sends nothing; a failure, an acknowledge during the send and a broken connection
are recorded as they are for one row; a send that would start late in the lease gives its
claim back and goes in the next chunk.

Real PostgreSQL and real commits (`transaction=True`), the real email provider on Django's
locmem backend, as tests/escalations/test_notification_lease.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import connection

from escalations.models import Notification
from escalations.notifications import services as notifications
from escalations.notifications.providers import DeliveryError, Receipt, provider_register
from escalations.notifications.providers.email import EmailProvider
from escalations.notifications.services import notifications_deliver, notify_user
from incidents import services as incident_services
from incidents.ingest import services as ingest
from incidents.models import Incident, IncidentResponder, LogAction
from opsduty.events import EventData
from opsduty.models import Service, User
from tests.outages import in_thread, terminate_my_backend


@pytest.fixture(autouse=True)
def _locmem_email(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def incidents(service: Service) -> list[Incident]:
    return [
        ingest.ingest_event(
            service=service, event=EventData(summary=f"Disk {n} full", dedup_id=f"disk-{n}")
        )
        for n in range(5)
    ]


def _emails(incidents: list[Incident], user: User) -> list[Notification]:
    """Each incident's email row for `user` (due at once), written and committed."""
    rows = []
    for incident in incidents:
        written = notify_user(
            incident=incident, user=user, reason="paged", key_prefix=f"step:{incident.pk}"
        )
        rows.append(next(row for row in written if row.channel == "email"))
    return rows


def _lines(incident: Incident) -> list[str]:
    return list(
        incident.log.filter(action=LogAction.NOTIFICATION)
        .order_by("id")
        .values_list("message", flat=True)
    )


def _sent_lines(incident: Incident, user: User) -> list[str]:
    return [m for m in _lines(incident) if m.startswith(f"Email to {user.get_full_name()}: sent")]


def _subjects() -> list[str]:
    return sorted(str(message.subject) for message in mail.outbox)


class _Provider:
    """The real email provider; `during[row id](row)` runs after it accepted that row's
    message, before the outcome is recorded; `refuse` holds the rows it refuses."""

    def __init__(self) -> None:
        self.during: dict[int, Callable[[Notification], object]] = {}
        self.refuse: set[int] = set()
        self.calls: list[int] = []

    def send(self, notification: Notification) -> Receipt:
        self.calls.append(notification.pk)
        if notification.pk in self.refuse:
            raise DeliveryError("421 try later", permanent=False)
        receipt = EmailProvider().send(notification)
        if notification.pk in self.during:
            self.during[notification.pk](notification)
        return receipt


@pytest.fixture
def provider() -> Iterator[_Provider]:
    installed = _Provider()
    provider_register("email", installed)
    yield installed
    provider_register("email", None)


@pytest.mark.django_db(transaction=True)
def test_rows_due_together_are_each_sent_once_with_their_line(
    incidents: list[Incident], member: User, provider: _Provider
) -> None:
    rows = _emails(incidents, member)
    ids = [row.pk for row in rows]
    # A row asked for twice is still one message.
    assert notifications_deliver(notification_ids=[*ids, ids[0]]) == ["sent"] * 6
    assert sorted(provider.calls) == sorted(ids)
    # One message per incident, to the member.
    assert [m.to for m in mail.outbox] == [[member.email]] * 5
    assert all(sum(f"Disk {n} full" in s for s in _subjects()) == 1 for n in range(5))
    for incident, row in zip(incidents, rows, strict=True):
        assert _sent_lines(incident, member) == [f"Email to {member.get_full_name()}: sent"]
        row.refresh_from_db()
        assert (row.status, row.attempts, row.lease_until) == ("sent", 1, None)
        responder = IncidentResponder.objects.get(incident=incident, user=member)
        assert responder.last_notified == row.sent_at
    # Delivered again (a duplicated task, the sweeper): nothing more goes out.
    assert notifications_deliver(notification_ids=ids) == [None] * 5
    assert len(mail.outbox) == 5


@pytest.mark.django_db(transaction=True)
def test_a_second_sender_of_the_same_rows_sends_nothing(
    incidents: list[Incident], member: User, provider: _Provider
) -> None:
    ids = [row.pk for row in _emails(incidents, member)]
    second: dict[str, Any] = {}

    def meanwhile(_: Notification) -> None:
        assert not connection.in_atomic_block  # the sends run outside any transaction
        finished, second["statuses"] = in_thread(
            lambda: notifications_deliver(notification_ids=ids)
        )
        assert finished

    provider.during[ids[2]] = meanwhile
    assert notifications_deliver(notification_ids=ids) == ["sent"] * 5
    assert second["statuses"] == [None] * 5  # every row was under this sender's lease
    assert len(mail.outbox) == 5
    for incident in incidents:
        assert len(_sent_lines(incident, member)) == 1


@pytest.mark.django_db(transaction=True)
def test_a_failure_and_an_acknowledge_in_a_batch_are_recorded_as_for_one_row(
    incidents: list[Incident], member: User, owner: User, provider: _Provider
) -> None:
    rows = _emails(incidents, member)
    refused, acknowledged = rows[1], rows[3]
    provider.refuse.add(refused.pk)
    provider.during[acknowledged.pk] = lambda _: in_thread(
        lambda: incident_services.incident_acknowledge(incident=incidents[3], by=owner)
    )
    statuses = notifications_deliver(notification_ids=[row.pk for row in rows])
    assert statuses == ["sent", "pending", "sent", "sent", "sent"]
    assert len(mail.outbox) == 4
    # The refused one waits for its retry, and says when.
    refused.refresh_from_db()
    assert (refused.status, refused.attempts, refused.lease_until) == ("pending", 1, None)
    assert refused.due_at > refused.created_at + timedelta(seconds=29)
    assert _lines(incidents[1])[-1].startswith(
        f"Email to {member.get_full_name()}: failed (421 try later), retry 2 of 5 at"
    )
    # The one acknowledged during its send went out: it says so.
    assert _lines(incidents[3])[-1] == (
        f"Email to {member.get_full_name()}: sent"
        " (it was on its way when the pending notifications were cancelled)"
    )
    assert Notification.objects.get(pk=acknowledged.pk).status == "sent"
    for n in (0, 2, 4):
        assert _sent_lines(incidents[n], member) == [f"Email to {member.get_full_name()}: sent"]


@pytest.mark.django_db(transaction=True)
def test_a_connection_broken_before_the_batch_record_records_each_once(
    incidents: list[Incident], member: User, provider: _Provider
) -> None:
    rows = _emails(incidents, member)
    provider.during[rows[-1].pk] = terminate_my_backend
    assert notifications_deliver(notification_ids=[row.pk for row in rows]) == ["sent"] * 5
    assert len(mail.outbox) == 5
    for incident, row in zip(incidents, rows, strict=True):
        assert len(_sent_lines(incident, member)) == 1
        row.refresh_from_db()
        assert (row.status, row.attempts, row.lease_until) == ("sent", 1, None)


@pytest.mark.django_db(transaction=True)
def test_sends_late_in_the_lease_give_their_claim_back_and_go_next(
    incidents: list[Incident], member: User, provider: _Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every send after a chunk's first starts "past half the lease".
    monkeypatch.setattr(notifications, "LEASE", timedelta(0))
    rows = _emails(incidents, member)
    assert notifications_deliver(notification_ids=[row.pk for row in rows]) == ["sent"] * 5
    assert provider.calls == [row.pk for row in rows]  # each once, in order
    assert len(mail.outbox) == 5
    for incident, row in zip(incidents, rows, strict=True):
        row.refresh_from_db()
        # A claim given back is not an attempt: no "again" note, one attempt each.
        assert (row.status, row.attempts, row.lease_until) == ("sent", 1, None)
        assert _sent_lines(incident, member) == [f"Email to {member.get_full_name()}: sent"]
