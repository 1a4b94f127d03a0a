"""Heartbeats with injected time: deadlines (interval, cron, DST), misses, dedup, mute,
resolve on check-in, validation, the public check-in lookup and tenancy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from escalations.catalog import services as escalation_services
from incidents.models import Incident, IncidentEvent, Status, Urgency
from opsduty.models import Label, Organization, Service, User
from signals.heartbeats import services as heartbeats
from signals.heartbeats.services import CheckinNotFound, StateInput
from signals.models import Heartbeat, HeartbeatCheckIn, HeartbeatState
from tests import factories

pytestmark = pytest.mark.django_db

START = datetime(2027, 3, 26, 12, 0, tzinfo=UTC)  # a Friday; Oslo springs forward on Sunday


@pytest.fixture
def service(org_a: Organization, owner: User, member: User) -> Service:
    team = factories.make_team(organization=org_a, name="Platform")
    factories.add_member(team, owner)
    factories.add_member(team, member)
    return escalation_services.service_create(team=team, by=None, name="API")


@pytest.fixture
def heartbeat(service: Service) -> Heartbeat:
    return heartbeats.heartbeat_create(
        service=service, by=None, name="nightly-backup", incident_urgency=Urgency.LOW
    )


def _interval(seconds: int = 60, timeout: int = 30, **changes: object) -> StateInput:
    data = StateInput(type="interval", interval_seconds=seconds, timeout_seconds=timeout)
    for name, value in changes.items():
        setattr(data, name, value)
    return data


def _cron(expression: str, zone: str = "Europe/Oslo", timeout: int = 0) -> StateInput:
    return StateInput(
        type="cron", cron_expression=expression, cron_timezone=zone, timeout_seconds=timeout
    )


def _state(heartbeat: Heartbeat, environment: str, data: StateInput) -> HeartbeatState:
    with time_machine.travel(START, tick=False):
        return heartbeats.state_create(
            heartbeat=heartbeat, by=None, environment=environment, data=data
        )


def _detect(at: datetime) -> int:
    with time_machine.travel(at, tick=False):
        return heartbeats.misses_detect()


def _checkin(state: HeartbeatState, at: datetime) -> HeartbeatState:
    with time_machine.travel(at, tick=False):
        return heartbeats.checkin(state=state, source_ip="192.0.2.7", user_agent="cron/1.0")


# --- deadlines ------------------------------------------------------------------------------


def test_interval_deadline_counts_from_the_last_checkin(heartbeat: Heartbeat) -> None:
    state = _state(heartbeat, "prod", _interval(60, 30))
    assert state.next_expected_at == START + timedelta(seconds=60)
    assert state.next_deadline == START + timedelta(seconds=90)
    state = _checkin(state, START + timedelta(seconds=50))
    assert state.next_deadline == START + timedelta(seconds=140)
    assert state.last_checkin_at == START + timedelta(seconds=50)


def test_cron_deadline_stays_at_local_time_across_dst(heartbeat: Heartbeat) -> None:
    state = _state(heartbeat, "prod", _cron("0 2 * * *", timeout=1800))
    # Friday 12:00 UTC -> Saturday 02:00 Oslo (CET, UTC+1) = 01:00 UTC.
    assert state.next_expected_at == datetime(2027, 3, 27, 1, 0, tzinfo=UTC)
    assert state.next_deadline == datetime(2027, 3, 27, 1, 30, tzinfo=UTC)
    # Sunday 28 March: 02:00 Oslo does not exist (clocks jump to 03:00), Monday 02:00 CEST is
    # 00:00 UTC: the job stays at 02:00 local time after the change.
    state = _checkin(state, datetime(2027, 3, 28, 1, 5, tzinfo=UTC))
    assert state.next_expected_at == datetime(2027, 3, 29, 0, 0, tzinfo=UTC)
    autumn = _state(heartbeat, "autumn", _cron("30 9 * * *"))
    autumn = _checkin(autumn, datetime(2027, 10, 30, 8, 0, tzinfo=UTC))
    assert autumn.next_expected_at == datetime(2027, 10, 30, 7, 30, tzinfo=UTC) + timedelta(
        days=1, hours=1
    )  # 09:30 CET on 31 October is 08:30 UTC


def test_changing_an_environment_recomputes_its_deadline(heartbeat: Heartbeat) -> None:
    state = _state(heartbeat, "prod", _interval(60, 0))
    state = _checkin(state, START)
    with time_machine.travel(START + timedelta(seconds=10), tick=False):
        state = heartbeats.state_update(state=state, by=None, data=_interval(3600, 60))
    assert state.next_deadline == START + timedelta(seconds=3660)
    with time_machine.travel(START + timedelta(seconds=20), tick=False):
        state = heartbeats.state_update(state=state, by=None, data=_cron("*/5 * * * *", "UTC"))
    assert (state.interval_seconds, state.cron_expression) == (None, "*/5 * * * *")
    assert state.next_expected_at == START + timedelta(minutes=5)


# --- misses ---------------------------------------------------------------------------------


def test_a_miss_opens_one_incident_and_repeated_misses_append(
    heartbeat: Heartbeat, service: Service
) -> None:
    state = _state(heartbeat, "prod", _interval(60, 30))
    assert _detect(START + timedelta(seconds=89)) == 0  # within the timeout
    assert _detect(START + timedelta(seconds=90)) == 1
    incident = Incident.objects.get(service=service)
    assert incident.status == Status.TRIGGERED
    assert incident.urgency == Urgency.LOW  # the heartbeat's urgency
    assert "nightly-backup" in incident.summary and "prod" in incident.summary
    state.refresh_from_db()
    assert state.incident_id == incident.pk and state.missed_at is not None
    assert state.next_deadline == START + timedelta(seconds=150)
    assert _detect(START + timedelta(seconds=120)) == 0  # the next run is not due yet
    assert _detect(START + timedelta(seconds=150)) == 1
    assert Incident.objects.filter(service=service).count() == 1
    assert IncidentEvent.objects.filter(incident=incident).count() == 2


def test_a_detector_that_was_down_reports_one_miss_not_one_per_run(
    heartbeat: Heartbeat, service: Service
) -> None:
    _state(heartbeat, "prod", _interval(60, 0))
    later = START + timedelta(hours=5)
    assert _detect(later) == 1
    assert _detect(later) == 0
    state = HeartbeatState.objects.get()
    assert state.next_deadline is not None and state.next_deadline > later
    assert IncidentEvent.objects.filter(incident__service=service).count() == 1


def test_muted_environments_open_nothing(heartbeat: Heartbeat, service: Service) -> None:
    _state(heartbeat, "prod", _interval(60, 0, muted=True))
    assert _detect(START + timedelta(hours=1)) == 0
    assert not Incident.objects.filter(service=service).exists()


def test_a_checkin_resolves_the_incident_when_asked(heartbeat: Heartbeat, service: Service) -> None:
    resolving = _state(heartbeat, "prod", _interval(60, 0))
    keeping = _state(heartbeat, "staging", _interval(60, 0, resolve_incident=False))
    assert _detect(START + timedelta(seconds=61)) == 2
    resolving = _checkin(resolving, START + timedelta(seconds=70))
    keeping = _checkin(keeping, START + timedelta(seconds=70))
    by_dedup = {i.dedup_id: i for i in Incident.objects.filter(service=service)}
    assert by_dedup[f"heartbeat:{resolving.pk}"].status == Status.RESOLVED
    assert by_dedup[f"heartbeat:{keeping.pk}"].status == Status.TRIGGERED
    assert resolving.missed_at is None and resolving.incident_id is None
    # A miss after the resolve opens a new incident.
    assert _detect(START + timedelta(seconds=131)) == 2
    assert Incident.objects.filter(dedup_id=f"heartbeat:{resolving.pk}").count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_locked_environment_is_skipped_by_a_second_detector(heartbeat: Heartbeat) -> None:
    from django.db import connections

    _state(heartbeat, "prod", _interval(60, 0))
    # Another connection holds the row (a detector in another process, mid-transaction).
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SELECT id FROM signals_heartbeatstate FOR UPDATE")
            assert _detect(START + timedelta(minutes=5)) == 0
            cursor.execute("ROLLBACK")
    finally:
        other.close()


def test_status_follows_the_deadlines(heartbeat: Heartbeat) -> None:
    state = _state(heartbeat, "prod", _interval(60, 30))
    status = heartbeats.state_status
    assert status(state, START) == "waiting"
    state = _checkin(state, START)
    assert status(state, START + timedelta(seconds=59)) == "up"
    assert status(state, START + timedelta(seconds=61)) == "late"
    assert status(state, START + timedelta(seconds=91)) == "down"
    state.muted = True
    assert status(state, START + timedelta(seconds=91)) == "muted"


# --- check-ins ------------------------------------------------------------------------------


def test_checkins_are_recorded_and_pruned(heartbeat: Heartbeat) -> None:
    state = _state(heartbeat, "prod", _interval(60, 0))
    for second in range(105):
        _checkin(state, START + timedelta(seconds=second))
    recorded = HeartbeatCheckIn.objects.filter(state=state)
    assert recorded.count() == 105
    first = recorded.order_by("id").first()
    assert first is not None
    assert (first.source_ip, first.user_agent) == ("192.0.2.7", "cron/1.0")
    assert heartbeats.checkins_prune() == 5
    assert recorded.count() == 100
    assert recorded.order_by("-at").first().at == START + timedelta(seconds=104)  # type: ignore[union-attr]


def test_public_lookup_with_and_without_environment(heartbeat: Heartbeat) -> None:
    key = heartbeat.public_primary_key
    assert key.startswith("HB") and len(key) > 20
    with pytest.raises(CheckinNotFound, match="no environments"):
        heartbeats.checkin_state_public(key, None)
    prod = _state(heartbeat, "prod", _interval())
    assert heartbeats.checkin_state_public(key, None) == prod  # the only environment
    staging = _state(heartbeat, "staging", _interval())
    with pytest.raises(CheckinNotFound, match="several environments"):
        heartbeats.checkin_state_public(key, None)
    assert heartbeats.checkin_state_public(key, "staging") == staging
    with pytest.raises(CheckinNotFound, match="no environment “dev”"):
        heartbeats.checkin_state_public(key, "dev")
    with pytest.raises(CheckinNotFound, match="Unknown heartbeat"):
        heartbeats.checkin_state_public("HBNOPE", "prod")


# --- validation, bulk, permissions ----------------------------------------------------------


def _c(expression: str, zone: str | None = "UTC") -> StateInput:
    return StateInput(type="cron", cron_expression=expression, cron_timezone=zone)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (_c("61 * * * *"), "cron_expression"),
        (_c("* * * *"), "cron_expression"),
        (_c("0 2 * * *", "Mars/Base"), "cron_timezone"),
        (_c("0 2 * * *", None), "cron_timezone"),
        (StateInput(type="interval", interval_seconds=0), "interval_seconds"),
        (StateInput(type="interval"), "interval_seconds"),
        (StateInput(type="interval", interval_seconds=60, timeout_seconds=-1), "timeout_seconds"),
        (StateInput(type="weekly"), "type"),
    ],
)
def test_bad_environments_get_a_clear_message(
    heartbeat: Heartbeat, data: StateInput, field: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        heartbeats.state_create(heartbeat=heartbeat, by=None, environment="prod", data=data)
    assert field in exc.value.message_dict
    assert not HeartbeatState.objects.exists()


def test_environment_names_are_unique_and_required(heartbeat: Heartbeat) -> None:
    _state(heartbeat, "prod", _interval())
    for name, message in (("prod", "already has"), ("  ", "Enter")):
        with pytest.raises(ValidationError, match=message):
            heartbeats.state_create(
                heartbeat=heartbeat, by=None, environment=name, data=_interval()
            )


def test_heartbeat_names_are_unique_per_service(heartbeat: Heartbeat, service: Service) -> None:
    with pytest.raises(ValidationError, match="already has a heartbeat"):
        heartbeats.heartbeat_create(service=service, by=None, name="nightly-backup")
    with pytest.raises(ValidationError) as exc:
        heartbeats.heartbeat_create(service=service, by=None, name="x", link="not a url")
    assert "link" in exc.value.message_dict


def test_update_leaves_absent_fields_alone(heartbeat: Heartbeat) -> None:
    Label.objects.create(organization=heartbeat.organization, name="db")
    heartbeats.heartbeat_update(heartbeat=heartbeat, by=None, labels=["db"])
    updated = heartbeats.heartbeat_update(
        heartbeat=heartbeat, by=None, description="changed", link=None
    )
    assert (updated.description, updated.labels, updated.incident_urgency) == (
        "changed",
        ["db"],
        Urgency.LOW,
    )


def test_bulk_save_is_all_or_nothing_and_copy_config(heartbeat: Heartbeat) -> None:
    prod = _state(heartbeat, "prod", _interval(60, 0))
    with pytest.raises(ValidationError):
        heartbeats.states_bulk_save(
            heartbeat=heartbeat,
            by=None,
            environments={"prod": _interval(120), "dev": StateInput(type="interval")},
        )
    prod.refresh_from_db()
    assert prod.interval_seconds == 60 and not HeartbeatState.objects.filter(environment="dev")
    with time_machine.travel(START, tick=False):
        saved = heartbeats.states_bulk_save(
            heartbeat=heartbeat,
            by=None,
            environments={"prod": _interval(120), "dev": _cron("0 3 * * *", timeout=600)},
        )
    assert [s.environment for s in saved] == ["prod", "dev"]
    prod.refresh_from_db()
    assert prod.interval_seconds == 120
    with time_machine.travel(START, tick=False):
        assert heartbeats.states_copy_config(source=prod, by=None) == 1
    dev = HeartbeatState.objects.get(environment="dev")
    assert (dev.type, dev.interval_seconds, dev.cron_expression) == ("interval", 120, None)


def test_only_the_services_team_may_write(
    heartbeat: Heartbeat, service: Service, org_a: Organization, stakeholder: User
) -> None:
    stranger = factories.make_user(organization=org_a, email="stranger@a.example")
    for user in (stranger, stakeholder):
        with pytest.raises(PermissionDenied):
            heartbeats.heartbeat_create(service=service, by=user, name="other")
        with pytest.raises(PermissionDenied):
            heartbeats.state_create(
                heartbeat=heartbeat, by=user, environment="prod", data=_interval()
            )


def test_deleting_a_heartbeat_takes_its_environments_and_checkins(heartbeat: Heartbeat) -> None:
    state = _state(heartbeat, "prod", _interval())
    _checkin(state, START)
    heartbeats.heartbeat_delete(heartbeat=heartbeat, by=None)
    assert not HeartbeatState.objects.exists() and not HeartbeatCheckIn.objects.exists()
    with pytest.raises(CheckinNotFound):
        heartbeats.checkin_state_public(heartbeat.public_primary_key, "prod")


def test_misses_only_touch_the_heartbeats_own_organization(
    heartbeat: Heartbeat, service: Service, org_b: Organization
) -> None:
    other_service = factories.make_service(
        team=factories.make_team(organization=org_b, name="B"), name="API"
    )
    other = heartbeats.heartbeat_create(service=other_service, by=None, name="nightly-backup")
    _state(heartbeat, "prod", _interval(60, 0))
    _state(other, "prod", _interval(600, 0))
    assert _detect(START + timedelta(seconds=61)) == 1
    assert Incident.objects.filter(service=service).count() == 1
    assert not Incident.objects.filter(service=other_service).exists()
    incident = Incident.objects.get(service=service)
    assert incident.organization_id == heartbeat.organization_id


@pytest.mark.django_db(transaction=True)
def test_the_beat_task_reports_a_miss_through_a_real_worker(
    celery_worker: object, heartbeat: Heartbeat, service: Service
) -> None:
    from opsduty.celery import app
    from signals.heartbeats.tasks import heartbeat_misses_detect
    from tests.waiting import wait_until

    entry = app.conf.beat_schedule["heartbeats-misses-detect"]
    assert entry["task"] == heartbeat_misses_detect.name and entry["schedule"] <= 1.0
    state = heartbeats.state_create(
        heartbeat=heartbeat, by=None, environment="prod", data=_interval(60, 0)
    )
    HeartbeatState.objects.filter(pk=state.pk).update(
        next_deadline=timezone.now() - timedelta(seconds=1)
    )
    heartbeat_misses_detect.delay()
    assert wait_until(lambda: Incident.objects.filter(service=service).exists())
    assert Incident.objects.get(service=service).dedup_id == f"heartbeat:{state.pk}"


def test_resending_the_same_settings_never_postpones_a_deadline(heartbeat: Heartbeat) -> None:
    state = _state(heartbeat, "prod", _interval(60, 0))
    deadline = state.next_deadline
    for minute in (1, 2):  # e.g. a CLI import every minute, of an unchanged file
        with time_machine.travel(START + timedelta(seconds=30 * minute), tick=False):
            state = heartbeats.state_update(state=state, by=None, data=_interval(60, 0))
        assert state.next_deadline == deadline
    assert _detect(START + timedelta(seconds=60)) == 1
    # Muting is not timing: the deadline stays too.
    with time_machine.travel(START + timedelta(seconds=70), tick=False):
        state = heartbeats.state_update(state=state, by=None, data=_interval(60, 0, muted=True))
    assert state.muted and state.next_deadline == START + timedelta(seconds=120)
