"""The escalation engine with injected time: steps, stops, restarts, exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
import time_machine

from escalations.catalog.services import service_set_policy
from escalations.engine import services as engine
from escalations.engine.models import EscalationRun, RunState
from escalations.notifications.models import Notification
from escalations.policies.models import EscalationPolicy, StepKind
from escalations.policies.services import policy_create, step_add
from incidents import services as incident_services
from incidents.models import Incident, Status
from opsduty.models import Organization, Role, Service, Team, User
from tests import factories

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def team(org_a: Organization, owner: User, member: User) -> Team:
    team = factories.make_team(organization=org_a, name="Platform")
    factories.add_member(team, owner)
    factories.add_member(team, member)
    return team


@pytest.fixture
def service(team: Team) -> Service:
    return factories.make_service(team=team, name="API")


@pytest.fixture
def policy(team: Team, service: Service) -> EscalationPolicy:
    policy = policy_create(team=team, by=None, name="Default")
    service_set_policy(service=service, policy=policy, by=None)
    return policy


def _steps(policy: EscalationPolicy, *steps: tuple[str, dict[str, Any]]) -> None:
    for kind, fields in steps:
        step_add(policy=policy, by=None, kind=kind, **fields)


def _open(service: Service, **event: Any) -> Incident:
    with time_machine.travel(START, tick=False):
        return factories.make_incident(service=service, **event)


def _run(incident: Incident) -> EscalationRun:
    return EscalationRun.objects.get(incident=incident)


def _fire(incident: Incident, at: datetime) -> bool:
    with time_machine.travel(at, tick=False):
        return engine.run_fire(run_id=_run(incident).pk)


def _notified(incident: Incident) -> list[str]:
    return sorted(
        {
            n.user.email
            for n in Notification.objects.filter(incident=incident).select_related("user")
        }
    )


def test_triggered_starts_and_notify_then_wait(
    policy: EscalationPolicy, service: Service, member: User, owner: User
) -> None:
    _steps(
        policy,
        (StepKind.NOTIFY, {"users": [member]}),
        (StepKind.WAIT, {"wait_minutes": 7}),
        (StepKind.NOTIFY, {"users": [owner]}),
    )
    incident = _open(service)
    # Step 1 ran in the transaction that opened the incident; the wait is scheduled.
    assert _notified(incident) == [member.email]
    run = _run(incident)
    assert (run.state, run.step_index) == (RunState.ACTIVE, 2)
    assert run.due_at == START + timedelta(minutes=7)
    assert not _fire(incident, START + timedelta(minutes=6))  # not due yet
    assert _fire(incident, START + timedelta(minutes=7))
    assert _notified(incident) == sorted([member.email, owner.email])
    assert _run(incident).state == RunState.FINISHED


def test_a_step_runs_once_when_the_task_is_delivered_twice(
    policy: EscalationPolicy, service: Service, member: User
) -> None:
    _steps(policy, (StepKind.WAIT, {"wait_minutes": 5}), (StepKind.NOTIFY, {"users": [member]}))
    incident = _open(service)
    version = _run(incident).version
    with time_machine.travel(START + timedelta(minutes=5), tick=False):
        assert engine.run_fire(run_id=_run(incident).pk, version=version)
        written = Notification.objects.filter(incident=incident).count()
        assert not engine.run_fire(run_id=_run(incident).pk, version=version)  # redelivered
        assert not engine.run_fire(run_id=_run(incident).pk)  # the sweeper: not due any more
    assert written > 0
    assert Notification.objects.filter(incident=incident).count() == written
    assert _run(incident).state == RunState.FINISHED


def test_the_sweeper_fires_a_run_whose_task_was_lost(
    policy: EscalationPolicy, service: Service, member: User
) -> None:
    _steps(policy, (StepKind.WAIT, {"wait_minutes": 1}), (StepKind.NOTIFY, {"users": [member]}))
    incident = _open(service)
    assert engine.runs_due(now=START) == []
    with time_machine.travel(START + timedelta(minutes=1, seconds=5), tick=False):
        assert engine.runs_due() == [_run(incident).pk]
        assert sum(engine.run_fire(run_id=run_id) for run_id in engine.runs_due()) == 1
        assert engine.runs_due() == []
    assert _notified(incident) == [member.email]


@pytest.mark.parametrize("action", ["acknowledge", "resolve", "silence"])
def test_acknowledge_resolve_and_silence_stop_the_run(
    policy: EscalationPolicy, service: Service, member: User, action: str
) -> None:
    _steps(policy, (StepKind.WAIT, {"wait_minutes": 5}), (StepKind.NOTIFY, {"users": [member]}))
    incident = _open(service)
    with time_machine.travel(START + timedelta(minutes=1), tick=False):
        if action == "silence":
            incident_services.incident_silence(incident=incident, by=member, minutes=30)
        else:
            getattr(incident_services, f"incident_{action}")(incident=incident, by=member)
    assert _run(incident).state == RunState.STOPPED
    assert not _fire(incident, START + timedelta(minutes=5))
    assert _notified(incident) == []


def test_silence_expiry_restarts_from_step_one(
    policy: EscalationPolicy, service: Service, member: User
) -> None:
    _steps(policy, (StepKind.NOTIFY, {"users": [member]}), (StepKind.WAIT, {"wait_minutes": 60}))
    incident = _open(service)
    first = Notification.objects.filter(incident=incident, user=member).count()
    with time_machine.travel(START + timedelta(minutes=1), tick=False):
        incident_services.incident_silence(incident=incident, by=member, minutes=10)
    later = START + timedelta(minutes=11)
    with time_machine.travel(later, tick=False):
        assert incident_services.incident_silence_expire(incident_id=incident.pk)
    run = _run(incident)
    # Restarted at step 1, which notified again; now waiting from the restart.
    assert (run.state, run.step_index) == (RunState.ACTIVE, 2)
    assert run.due_at == later + timedelta(minutes=60)
    assert Notification.objects.filter(incident=incident, user=member).count() == 2 * first


def test_repeat_goes_back_at_most_the_configured_times(
    policy: EscalationPolicy, service: Service, member: User
) -> None:
    _steps(
        policy,
        (StepKind.NOTIFY, {"users": [member]}),
        (StepKind.WAIT, {"wait_minutes": 1}),
        (StepKind.REPEAT, {"repeat_times": 2}),
    )
    incident = _open(service)
    moment = START
    fired = 0
    while _run(incident).state == RunState.ACTIVE and fired < 20:
        moment = max(moment, _run(incident).due_at or moment)
        assert _fire(incident, moment)
        fired += 1
    prefixes = {
        n.idempotency_key.split(":")[4] for n in Notification.objects.filter(incident=incident)
    }
    assert prefixes == {"0", "1", "2"}  # the first pass and two repeats
    assert _run(incident).state == RunState.FINISHED


def test_resolve_step_resolves_the_incident(policy: EscalationPolicy, service: Service) -> None:
    _steps(policy, (StepKind.RESOLVE, {}))
    incident = _open(service)
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_notify_if_events_needs_enough_events(
    policy: EscalationPolicy, service: Service, member: User
) -> None:
    _steps(
        policy,
        (StepKind.WAIT, {"wait_minutes": 1}),
        (StepKind.NOTIFY_IF_EVENTS, {"users": [member], "events_count": 3, "window_minutes": 10}),
    )
    incident = _open(service, dedup_id="same")
    second = _open(service, dedup_id="other")
    with time_machine.travel(START, tick=False):
        for _ in range(2):
            factories.make_incident(service=service, dedup_id="other")
    assert _fire(incident, START + timedelta(minutes=1))
    assert _notified(incident) == []  # one event only
    assert _fire(second, START + timedelta(minutes=1))
    assert _notified(second) == [member.email]


def test_notify_if_time_pauses_until_the_window_opens(
    policy: EscalationPolicy, service: Service, member: User
) -> None:
    _steps(
        policy,
        (
            StepKind.NOTIFY_IF_TIME,
            {
                "users": [member],
                "time_from": time(12, 0),
                "time_to": time(18, 0),
                "timezone": "UTC",
            },
        ),
    )
    incident = _open(service)  # 10:00: before the window
    assert _notified(incident) == []
    assert _run(incident).due_at == START.replace(hour=12)
    assert _fire(incident, START.replace(hour=12))
    assert _notified(incident) == [member.email]


def test_stakeholders_are_never_notified(
    policy: EscalationPolicy, service: Service, team: Team, org_a: Organization, member: User
) -> None:
    watcher = factories.make_user(
        organization=org_a, email="watcher@a.example", role=Role.STAKEHOLDER
    )
    factories.add_member(team, watcher)
    _steps(policy, (StepKind.NOTIFY, {"teams": [team]}))
    incident = _open(service)
    assert watcher.email not in _notified(incident)
    assert member.email in _notified(incident)


def test_maintenance_pauses_the_run(
    policy: EscalationPolicy, service: Service, member: User, owner: User
) -> None:
    from escalations.catalog.services import service_maintenance_start

    _steps(policy, (StepKind.NOTIFY, {"users": [member]}))
    with time_machine.travel(START, tick=False):
        service_maintenance_start(service=service, by=owner, mode="debug", duration_minutes=30)
    incident = _open(service)
    assert _notified(incident) == []
    assert _run(incident).due_at == START + timedelta(minutes=30)
    assert _fire(incident, START + timedelta(minutes=30))
    assert _notified(incident) == [member.email]


def test_no_policy_means_no_run(service: Service) -> None:
    incident = _open(service)
    assert not EscalationRun.objects.filter(incident=incident).exists()
    assert incident.log.filter(message__startswith="No escalation policy").exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_fires_the_step_after_a_wait_from_the_eta_task(
    celery_worker: object,
    policy: EscalationPolicy,
    service: Service,
    member: User,
    settings: Any,
) -> None:
    from tests.waiting import wait_until

    settings.ESCALATION_MINUTE_SECONDS = 1  # the wait below lasts one real second
    _steps(
        policy,
        (StepKind.NOTIFY, {"users": [member]}),
        (StepKind.WAIT, {"wait_minutes": 1}),
        (StepKind.NOTIFY, {"users": [member]}),
    )
    incident = factories.make_incident(service=service)
    assert _run(incident).step_index == 2  # step 1 ran with the incident
    assert wait_until(lambda: _run(incident).state == RunState.FINISHED)  # the ETA task
    keys = Notification.objects.filter(incident=incident).values_list("idempotency_key", flat=True)
    assert {key.split(":")[3] for key in keys} == {"0", "2"}


def test_acknowledge_timeout_triggers_the_incident_again(
    policy: EscalationPolicy, service: Service, member: User
) -> None:
    _steps(policy, (StepKind.NOTIFY, {"users": [member]}), (StepKind.WAIT, {"wait_minutes": 60}))
    incident = _open(service)
    EscalationRun.objects.filter(incident=incident).update(ack_timeout_minutes=10)
    first = Notification.objects.filter(incident=incident).count()
    with time_machine.travel(START + timedelta(minutes=1), tick=False):
        incident_services.incident_acknowledge(incident=incident, by=member)
    run = _run(incident)
    assert (run.state, run.due_at) == (RunState.ACK_WAIT, START + timedelta(minutes=11))
    assert not _fire(incident, START + timedelta(minutes=10))  # not yet
    assert _fire(incident, START + timedelta(minutes=11))
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED
    run = _run(incident)
    assert (run.state, run.step_index) == (RunState.ACTIVE, 2)  # restarted: step 1 again
    assert Notification.objects.filter(incident=incident).count() == 2 * first


def test_resolving_during_the_acknowledge_timeout_ends_it(
    policy: EscalationPolicy, service: Service, member: User
) -> None:
    _steps(policy, (StepKind.NOTIFY, {"users": [member]}))
    incident = _open(service)
    EscalationRun.objects.filter(incident=incident).update(ack_timeout_minutes=10)
    with time_machine.travel(START + timedelta(minutes=1), tick=False):
        incident_services.incident_acknowledge(incident=incident, by=member)
        incident_services.incident_resolve(incident=incident, by=member)
    assert _run(incident).state == RunState.STOPPED
    assert not _fire(incident, START + timedelta(minutes=11))
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_a_step_channel_override_sends_one_notification_on_that_channel(
    policy: EscalationPolicy, service: Service, member: User
) -> None:
    _steps(policy, (StepKind.NOTIFY, {"users": [member], "channel": "sms"}))
    incident = _open(service)
    rows = list(Notification.objects.filter(incident=incident))
    assert [(row.user_id, row.channel, row.rule_id) for row in rows] == [(member.pk, "sms", None)]
    assert rows[0].due_at == START  # at once, whatever the person's rules say


@pytest.mark.django_db(transaction=True)
def test_a_worker_dying_mid_step_leaves_the_step_to_run_once_later(
    policy: EscalationPolicy, service: Service, member: User
) -> None:
    """A worker that dies holds the run's row lock in an uncommitted transaction; the
    sweeper skips the locked run, and once the dead connection's transaction is gone the
    step runs exactly once."""
    import psycopg
    from django.db import connection

    _steps(policy, (StepKind.WAIT, {"wait_minutes": 1}), (StepKind.NOTIFY, {"users": [member]}))
    incident = _open(service)
    run_id = _run(incident).pk
    params = connection.get_connection_params()
    dying = psycopg.connect(
        host=params["host"],
        port=params["port"],
        user=params["user"],
        password=params["password"],
        dbname=params["dbname"],
    )
    # The "worker": it has locked the due run and started the step, then dies.
    dying.execute("SELECT id FROM escalations_escalationrun WHERE id = %s FOR UPDATE", [run_id])
    due = START + timedelta(minutes=1)
    with time_machine.travel(due, tick=False):
        assert engine.run_fire(run_id=run_id) is False  # the sweeper skips the locked row
    dying.close()  # the process is gone: PostgreSQL rolls its transaction back
    with time_machine.travel(due + timedelta(seconds=2), tick=False):
        assert engine.runs_due() == [run_id]
        assert engine.run_fire(run_id=run_id) is True
        assert engine.run_fire(run_id=run_id) is False
    assert _notified(incident) == [member.email]
    keys = set(
        Notification.objects.filter(incident=incident).values_list("idempotency_key", flat=True)
    )
    assert len(keys) == Notification.objects.filter(incident=incident).count()
    assert _run(incident).state == RunState.FINISHED


def test_every_new_incident_under_one_policy_pages_through_its_own_run(
    policy: EscalationPolicy, service: Service, member: User
) -> None:
    _steps(policy, (StepKind.NOTIFY, {"users": [member]}))
    incidents = [_open(service) for _ in range(3)]
    for incident in incidents:
        assert _notified(incident) == [member.email]
        run = _run(incident)
        keys = Notification.objects.filter(incident=incident).values_list(
            "idempotency_key", flat=True
        )
        assert {key.split(":")[1] for key in keys} == {str(run.pk)}
        assert (run.state, run.version) == (RunState.FINISHED, 1)


def test_a_new_incident_escalates_by_the_services_stored_policy_and_maintenance(
    team: Team, service: Service, member: User, owner: User
) -> None:
    from escalations.catalog.services import service_maintenance_start

    stale = Service.objects.get(pk=service.pk)  # a cached copy: no policy, no maintenance
    policy = policy_create(team=team, by=None, name="Later")
    _steps(policy, (StepKind.NOTIFY, {"users": [member]}))
    service_set_policy(service=service, policy=policy, by=None)
    first = _open(stale)
    assert _notified(first) == [member.email]
    with time_machine.travel(START, tick=False):
        service_maintenance_start(service=service, by=owner, mode="debug", duration_minutes=30)
    second = _open(stale)
    assert _notified(second) == []
    assert _run(second).due_at == START + timedelta(minutes=30)


@pytest.mark.django_db(transaction=True)
def test_the_escalator_delivers_a_steps_rows_due_now_itself(
    service: Service, policy: EscalationPolicy, member: User, settings: Any
) -> None:
    """A step fired by the escalator's task sends its due-now rows right after its commit (no
    delivery task); rows due later still get their ETA task; event processing queues."""
    import json

    import redis
    from django.core import mail

    from escalations.engine import tasks

    _steps(
        policy,
        (StepKind.NOTIFY, {"users": [member]}),
        (StepKind.WAIT, {"wait_minutes": 1}),
        (StepKind.NOTIFY, {"users": [member]}),
    )
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.flushdb()
    incident = _open(service)  # step 1, written while processing an event: queued
    queued = [json.loads(raw)["headers"]["task"] for raw in broker.lrange("notify", 0, -1)]
    assert queued.count("notifications.deliver_many") == 1  # email and SMS now
    assert mail.outbox == []
    broker.flushdb()
    run = _run(incident)
    with time_machine.travel(START + timedelta(minutes=1, seconds=1), tick=False):
        assert tasks.escalation_run_fire(run.pk, run.version) is True
    step_three = Notification.objects.filter(incident=incident, reason="escalation step 3")
    assert sorted(step_three.values_list("channel", "status")) == [
        ("email", "sent"),  # delivered by the task that fired the step
        ("sms", "not_configured"),
        ("voice", "pending"),  # due in 5 minutes
    ]
    assert [m.to for m in mail.outbox] == [[member.email]]
    queued = [json.loads(raw)["headers"] for raw in broker.lrange("notify", 0, -1)]
    assert [(h["task"], h["eta"] is not None) for h in queued] == [
        ("notifications.deliver", True)  # only the voice row, at its due time
    ]
    broker.flushdb()
