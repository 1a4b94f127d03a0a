"""Service maintenance (escalations.catalog.services): start, stop, validation, expiry on read, the
maintenance incident and its children, debug mode, and the end as a due time (invariant 4).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
import redis
import time_machine
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from escalations.catalog import tasks
from escalations.catalog.services import (
    service_maintenance_expire,
    service_maintenance_start,
    service_maintenance_stop,
)
from incidents import services as incident_services
from incidents.ingest import services as ingest
from incidents.ingest.services import DEBUG_MAINTENANCE_MESSAGE
from incidents.models import Incident, LogAction, Status
from opsduty import selectors
from opsduty.celery import app
from opsduty.models import MaintenanceMode, Service, User
from tests import factories
from tests.escalations.conftest import START
from tests.waiting import wait_until


def _start(service: Service, by: User, mode: str = "maintenance", minutes: int = 30) -> Service:
    with time_machine.travel(START, tick=False):
        return service_maintenance_start(
            service=service, by=by, mode=mode, duration_minutes=minutes
        )


def _maintenance_incident(service: Service) -> Incident:
    return Incident.objects.get(service=service, is_maintenance=True)


def _fresh(service: Service) -> Service:
    return Service.objects.get(pk=service.pk)


# --- start, stop, validation ---------------------------------------------------------------


@pytest.mark.django_db
def test_start_sets_mode_and_window(service: Service, member: User) -> None:
    _start(service, member, "debug", 15)
    service = _fresh(service)
    assert service.maintenance_mode == MaintenanceMode.DEBUG
    assert service.maintenance_window_start == START
    assert service.maintenance_window_end == START + timedelta(minutes=15)
    assert not Incident.objects.filter(service=service).exists()  # debug opens no incident


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("mode", "minutes", "field"),
    [
        ("paused", 10, "mode"),
        ("", 10, "mode"),
        ("maintenance", 0, "duration_minutes"),
        ("maintenance", 1441, "duration_minutes"),
        ("maintenance", -5, "duration_minutes"),
        ("maintenance", "10", "duration_minutes"),
        ("maintenance", 1.5, "duration_minutes"),
        ("maintenance", True, "duration_minutes"),
    ],
)
def test_start_refuses_bad_input_and_changes_nothing(
    service: Service, member: User, mode: str, minutes: object, field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        service_maintenance_start(
            service=service,
            by=member,
            mode=mode,
            duration_minutes=minutes,  # type: ignore[arg-type]
        )
    assert list(refused.value.message_dict) == [field]
    assert _fresh(service).maintenance_mode is None
    assert not Incident.objects.exists()


@pytest.mark.django_db
def test_start_accepts_the_bounds(service: Service, member: User) -> None:
    _start(service, member, "debug", 1440)
    assert _fresh(service).maintenance_window_end == START + timedelta(hours=24)


@pytest.mark.django_db
def test_start_refused_while_in_maintenance(service: Service, member: User) -> None:
    _start(service, member, "maintenance", 30)
    refused = pytest.raises(ValidationError, match="already in maintenance until 2026-03-01 12:30")
    with time_machine.travel(START + timedelta(minutes=29), tick=False), refused:
        service_maintenance_start(service=service, by=member, mode="debug", duration_minutes=5)
    service = _fresh(service)
    assert service.maintenance_mode == MaintenanceMode.MAINTENANCE
    assert Incident.objects.filter(is_maintenance=True).count() == 1


@pytest.mark.django_db
def test_stakeholder_and_other_teams_cannot_start_or_stop(
    service: Service, stakeholder: User, org_a: object
) -> None:
    other = factories.make_user(organization=service.organization, email="web@a.example")
    factories.add_member(factories.make_team(organization=service.organization), other)
    for user in (stakeholder, other):
        with pytest.raises(PermissionDenied):
            service_maintenance_start(service=service, by=user, mode="debug", duration_minutes=5)
        with pytest.raises(PermissionDenied):
            service_maintenance_stop(service=service, by=user)
    assert _fresh(service).maintenance_mode is None


@pytest.mark.django_db
def test_expired_window_reads_as_not_in_maintenance_and_can_restart(
    service: Service, member: User
) -> None:
    _start(service, member, "maintenance", 30)
    service = _fresh(service)
    assert selectors.service_maintenance_active(service, START + timedelta(minutes=29))
    assert not selectors.service_maintenance_active(service, START + timedelta(minutes=30))
    first = _maintenance_incident(service)
    # No sweeper has run: starting again is accepted and ends the old one properly first.
    with time_machine.travel(START + timedelta(minutes=31), tick=False):
        service_maintenance_start(service=service, by=member, mode="debug", duration_minutes=5)
    first.refresh_from_db()
    assert first.status == Status.RESOLVED
    service = _fresh(service)
    assert service.maintenance_mode == MaintenanceMode.DEBUG
    assert service.maintenance_window_end == START + timedelta(minutes=36)


@pytest.mark.django_db
def test_stop_outside_maintenance_changes_nothing(service: Service, member: User) -> None:
    stopped = service_maintenance_stop(service=service, by=member)
    assert stopped.maintenance_mode is None
    assert not Incident.objects.exists()


@pytest.mark.django_db
def test_escalation_paused_only_while_maintenance_lasts(service: Service, member: User) -> None:
    assert not selectors.service_escalation_paused(service, START)
    _start(service, member, "debug", 10)
    service = _fresh(service)
    assert selectors.service_escalation_paused(service, START + timedelta(minutes=9))
    assert not selectors.service_escalation_paused(service, START + timedelta(minutes=10))


# --- the maintenance incident --------------------------------------------------------------


@pytest.mark.django_db
def test_maintenance_opens_an_incident_that_collects_the_open_incidents(
    service: Service, member: User
) -> None:
    triggered = factories.make_incident(service=service, summary="CPU")
    acked = factories.make_incident(service=service, summary="Disk")
    incident_services.incident_acknowledge(incident=acked, by=member)
    done = factories.make_incident(service=service, summary="Old")
    incident_services.incident_resolve(incident=done, by=member)
    other_service = factories.make_service(team=service.team, name="Web")
    elsewhere = factories.make_incident(service=other_service)

    _start(service, member, "maintenance", 90)

    maintenance = _maintenance_incident(service)
    assert maintenance.summary == "Maintenance of API until 2026-03-01 13:30 UTC"
    assert maintenance.status == Status.TRIGGERED
    created = maintenance.log.get(action=LogAction.CREATED)
    assert created.actor is None
    assert "started by" in created.message
    assert {i.pk for i in maintenance.children.all()} == {triggered.pk, acked.pk}
    acked.refresh_from_db()
    assert acked.status == Status.ACKNOWLEDGED  # children keep their own status
    for unchanged in (done, elsewhere):
        unchanged.refresh_from_db()
        assert unchanged.parent_id is None


@pytest.mark.django_db
def test_incidents_opened_during_maintenance_become_children(
    service: Service, member: User
) -> None:
    _start(service, member, "maintenance", 30)
    maintenance = _maintenance_incident(service)
    with time_machine.travel(START + timedelta(minutes=5), tick=False):
        new = factories.make_incident(service=service, summary="During")
        by_hand = ingest.incident_trigger(service=service, by=member, summary="Hand")
    assert new.parent_id == maintenance.pk
    assert by_hand.parent_id == maintenance.pk
    assert new.log.filter(action=LogAction.ATTACHED, actor=None).exists()
    # Once the window has passed (even before any sweeper ran) new incidents stand alone.
    with time_machine.travel(START + timedelta(minutes=30), tick=False):
        after = factories.make_incident(service=service, summary="After")
    assert after.parent_id is None


@pytest.mark.django_db
def test_acknowledge_refused_for_the_maintenance_incident_and_its_children(
    service: Service, member: User
) -> None:
    child = factories.make_incident(service=service)
    _start(service, member, "maintenance", 30)
    maintenance = _maintenance_incident(service)
    with pytest.raises(ValidationError, match="maintenance incident of its service"):
        incident_services.incident_acknowledge(incident=maintenance, by=member)
    with pytest.raises(
        ValidationError, match=f"attached to maintenance incident #{maintenance.number}"
    ):
        incident_services.incident_acknowledge(incident=child, by=member)
    with pytest.raises(ValidationError):
        incident_services.incident_resolve(incident=maintenance, by=member)
    with pytest.raises(ValidationError):
        incident_services.incident_silence(incident=maintenance, by=member, minutes=5)
    for incident in (maintenance, child):
        incident.refresh_from_db()
        assert incident.status == Status.TRIGGERED


@pytest.mark.django_db
def test_stop_resolves_the_maintenance_incident_and_detaches_open_children(
    service: Service, member: User
) -> None:
    still_open = factories.make_incident(service=service, summary="Still open")
    fixed = factories.make_incident(service=service, summary="Fixed during maintenance")
    _start(service, member, "maintenance", 30)
    incident_services.incident_resolve(incident=fixed, by=member)
    maintenance = _maintenance_incident(service)

    with time_machine.travel(START + timedelta(minutes=10), tick=False):
        stopped = service_maintenance_stop(service=service, by=member)

    assert stopped.maintenance_mode is None
    service = _fresh(service)
    assert (service.maintenance_window_start, service.maintenance_window_end) == (None, None)
    maintenance.refresh_from_db()
    assert maintenance.status == Status.RESOLVED
    assert maintenance.log.filter(action=LogAction.RESOLVED, actor=None).count() == 1
    assert (
        maintenance.log.filter(action=LogAction.MAINTENANCE)
        .get()
        .message.startswith("Maintenance stopped by")
    )
    still_open.refresh_from_db()
    assert (still_open.parent_id, still_open.status) == (None, Status.TRIGGERED)
    assert still_open.log.filter(action=LogAction.DETACHED, actor=None).exists()
    fixed.refresh_from_db()
    assert (fixed.parent_id, fixed.status) == (maintenance.pk, Status.RESOLVED)
    # The children can be acknowledged again; a new incident is not attached any more.
    incident_services.incident_acknowledge(incident=still_open, by=member)
    assert factories.make_incident(service=service).parent_id is None


@pytest.mark.django_db
def test_debug_mode_logs_that_escalation_is_paused(service: Service, member: User) -> None:
    before = factories.make_incident(service=service, summary="Before")
    _start(service, member, "debug", 30)
    with time_machine.travel(START + timedelta(minutes=1), tick=False):
        during = factories.make_incident(service=service, summary="During")
    with time_machine.travel(START + timedelta(minutes=31), tick=False):
        after = factories.make_incident(service=service, summary="After")
    assert during.log.filter(message=DEBUG_MAINTENANCE_MESSAGE, actor=None).count() == 1
    assert during.parent_id is None
    assert not before.log.filter(message=DEBUG_MAINTENANCE_MESSAGE).exists()
    assert not after.log.filter(message=DEBUG_MAINTENANCE_MESSAGE).exists()


# --- the end as a due time (invariant 4) ---------------------------------------------------


@pytest.mark.django_db
def test_maintenance_ends_at_its_due_time_exactly_once(service: Service, member: User) -> None:
    child = factories.make_incident(service=service)
    _start(service, member, "maintenance", 10)
    maintenance = _maintenance_incident(service)
    with time_machine.travel(START + timedelta(minutes=9, seconds=59), tick=False):
        assert service_maintenance_expire(service_id=service.pk) is False
    assert _fresh(service).maintenance_mode == MaintenanceMode.MAINTENANCE
    with time_machine.travel(START + timedelta(minutes=10), tick=False):
        assert service_maintenance_expire(service_id=service.pk) is True
        assert service_maintenance_expire(service_id=service.pk) is False  # the racer
    assert _fresh(service).maintenance_mode is None
    maintenance.refresh_from_db()
    assert maintenance.status == Status.RESOLVED
    assert maintenance.log.filter(action=LogAction.RESOLVED).count() == 1
    assert "window ended" in maintenance.log.get(action=LogAction.MAINTENANCE).message
    child.refresh_from_db()
    assert child.parent_id is None


@pytest.mark.django_db
def test_expiry_of_a_stopped_then_restarted_maintenance_is_a_no_op(
    service: Service, member: User
) -> None:
    _start(service, member, "debug", 10)
    with time_machine.travel(START + timedelta(minutes=5), tick=False):
        service_maintenance_stop(service=service, by=member)
        service_maintenance_start(service=service, by=member, mode="debug", duration_minutes=60)
    # The first window's ETA task fires late: the window it was scheduled for is gone.
    with time_machine.travel(START + timedelta(minutes=10), tick=False):
        assert service_maintenance_expire(service_id=service.pk) is False
    assert _fresh(service).maintenance_mode == MaintenanceMode.DEBUG


@pytest.mark.django_db
def test_sweeper_ends_every_due_maintenance_once(service: Service, member: User) -> None:
    other = factories.make_service(team=service.team, name="Web")
    _start(service, member, "maintenance", 10)
    _start(other, member, "debug", 60)
    with time_machine.travel(START + timedelta(minutes=30), tick=False):
        assert tasks.service_maintenance_sweep() == 1
        assert tasks.service_maintenance_sweep() == 0
    assert _fresh(service).maintenance_mode is None
    assert _fresh(other).maintenance_mode == MaintenanceMode.DEBUG


@pytest.mark.django_db(transaction=True)
def test_start_schedules_an_eta_task_on_the_broker(service: Service, member: User) -> None:
    app.control.purge()
    service_maintenance_start(service=service, by=member, mode="debug", duration_minutes=20)
    service = _fresh(service)
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    messages = [json.loads(raw) for raw in client.lrange("escalation", 0, -1)]
    scheduled = [
        m["headers"] for m in messages if m["headers"]["task"] == "escalations.maintenance_expire"
    ]
    assert len(scheduled) == 1
    assert scheduled[0]["argsrepr"] == f"({service.pk},)"
    assert datetime.fromisoformat(scheduled[0]["eta"]) == service.maintenance_window_end
    app.control.purge()


def test_sweeper_is_on_the_beat_schedule() -> None:
    entries = {e["task"]: e["schedule"] for e in app.conf.beat_schedule.values()}
    assert entries["escalations.maintenance_sweep"] <= 10


@pytest.mark.worker
def test_worker_ends_maintenance_once_when_eta_task_and_sweeper_race(
    celery_worker: object, service: Service, member: User
) -> None:
    child = factories.make_incident(service=service)
    service_maintenance_start(service=service, by=member, mode="maintenance", duration_minutes=1)
    app.control.purge()  # the broker lost the ETA task
    Service.objects.filter(pk=service.pk).update(
        maintenance_window_end=timezone.now() - timedelta(seconds=1)
    )
    tasks.service_maintenance_sweep.delay()
    tasks.service_maintenance_expire.delay(service.pk)
    tasks.service_maintenance_sweep.delay()
    assert wait_until(lambda: _fresh(service).maintenance_mode is None)
    # Give the duplicate deliveries time to run, then prove the end happened once.
    assert tasks.service_maintenance_sweep.delay().id
    assert wait_until(_queue_empty)
    maintenance = _maintenance_incident(service)
    assert maintenance.status == Status.RESOLVED
    assert maintenance.log.filter(action=LogAction.RESOLVED).count() == 1
    assert maintenance.log.filter(action=LogAction.MAINTENANCE).count() == 1
    assert child.log.filter(action=LogAction.DETACHED).count() == 1


def _queue_empty() -> bool:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    return client.llen("escalation") == 0
