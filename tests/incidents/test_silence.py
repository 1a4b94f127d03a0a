"""Silence expiry: a due_at row (silenced_until) fired by an ETA task and a sweeper.

Invariant 4 (time is data, docs/architecture.md).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import redis
import time_machine
from django.conf import settings
from django.utils import timezone

from incidents import services, tasks
from incidents.models import Incident, LogAction, Status
from opsduty.celery import app
from opsduty.models import User
from tests.waiting import wait_until

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _silence(incident: Incident, by: User, minutes: int) -> Incident:
    with time_machine.travel(START, tick=False):
        services.incident_silence(incident=incident, by=by, minutes=minutes)
    incident.refresh_from_db()
    return incident


@pytest.mark.django_db
def test_silence_ends_at_its_due_time_and_not_before(incident: Incident, member: User) -> None:
    incident = _silence(incident, member, 10)
    assert incident.silenced_until == START + timedelta(minutes=10)
    with time_machine.travel(START + timedelta(minutes=9, seconds=59), tick=False):
        assert services.incident_silence_expire(incident_id=incident.pk) is False
    incident.refresh_from_db()
    assert incident.status == Status.SILENCED
    with time_machine.travel(START + timedelta(minutes=10), tick=False):
        assert services.incident_silence_expire(incident_id=incident.pk) is True
        # A second delivery (ETA task and sweeper racing, or acks_late redelivery) is a no-op.
        assert services.incident_silence_expire(incident_id=incident.pk) is False
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED
    assert incident.silenced_until is None
    assert incident.log.filter(action=LogAction.UNSILENCED, actor=None).count() == 1


@pytest.mark.django_db
def test_acknowledged_during_the_silence_stays_acknowledged(
    incident: Incident, member: User
) -> None:
    incident = _silence(incident, member, 10)
    with time_machine.travel(START + timedelta(minutes=5), tick=False):
        services.incident_acknowledge(incident=incident, by=member)
    with time_machine.travel(START + timedelta(minutes=11), tick=False):
        assert services.incident_silence_expire(incident_id=incident.pk) is False
    incident.refresh_from_db()
    assert incident.status == Status.ACKNOWLEDGED


@pytest.mark.django_db
def test_sweeper_ends_every_due_silence(incident: Incident, member: User) -> None:
    incident = _silence(incident, member, 10)
    with time_machine.travel(START + timedelta(minutes=30), tick=False):
        assert tasks.incident_silence_sweep() == 1
        assert tasks.incident_silence_sweep() == 0
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED


@pytest.mark.django_db(transaction=True)
def test_silence_schedules_an_eta_task_on_the_broker(incident: Incident, member: User) -> None:
    app.control.purge()
    services.incident_silence(incident=incident, by=member, minutes=15)
    incident.refresh_from_db()
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    messages = [json.loads(raw) for raw in client.lrange("escalation", 0, -1)]
    scheduled = [
        m["headers"] for m in messages if m["headers"]["task"] == "incidents.silence_expire"
    ]
    assert len(scheduled) == 1
    assert scheduled[0]["argsrepr"] == f"({incident.pk},)"
    assert incident.silenced_until is not None
    assert datetime.fromisoformat(scheduled[0]["eta"]) == incident.silenced_until
    app.control.purge()


@pytest.mark.worker
def test_worker_sweeper_ends_a_silence_whose_task_was_lost(
    celery_worker: object, incident: Incident, member: User
) -> None:
    services.incident_silence(incident=incident, by=member, minutes=1)
    app.control.purge()  # the broker lost the ETA task
    Incident.objects.filter(pk=incident.pk).update(
        silenced_until=timezone.now() - timedelta(seconds=1)
    )
    tasks.incident_silence_sweep.delay()
    tasks.incident_silence_sweep.delay()
    tasks.incident_silence_expire.delay(incident.pk)
    assert wait_until(lambda: Incident.objects.get(pk=incident.pk).status == Status.TRIGGERED)
    # Give the duplicate deliveries time to run, then prove the transition happened once.
    marker = tasks.incident_silence_sweep.delay()
    assert marker.id
    assert wait_until(_queue_empty)
    assert incident.log.filter(action=LogAction.UNSILENCED).count() == 1


def _queue_empty() -> bool:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    return client.llen("escalation") == 0
