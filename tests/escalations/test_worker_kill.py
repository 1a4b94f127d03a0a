"""A real `celery worker` process is SIGKILLed in the middle of an escalation step; the step
still runs exactly once (invariant 4, docs/architecture.md).

How "in the middle" is made deterministic: the policy is "notify Member; wait 1 minute;
notify Member". Step 1 runs inline when the incident opens and makes Member a responder.
Before the worker starts, the test locks that responder row from its own connection. The
worker then takes the step 3 task, locks the run, writes step 3's outbox rows and blocks
on the responder UPDATE (`notify_user` -> `_responder_pending`). The test waits until
PostgreSQL shows that backend blocked by the test's lock, then SIGKILLs the worker and
releases the lock. The dead worker's transaction can never commit: its backend finishes the
UPDATE, finds the client gone and rolls back. The worker runs the solo pool, so the killed
process is the one running the step and no parent survives to requeue the task (the
prefork pool's `reject_on_worker_lost` path is a different case, not covered here).

Afterwards either of the engine's two paths can finish the step:
- redelivery: the killed worker never acknowledged its message (`acks_late`), so Redis
  still holds it in `unacked`; a new worker process with a short visibility timeout
  (`OPSDUTY_VISIBILITY_TIMEOUT=1`, only in these worker processes) puts it back on the
  queue when it starts and runs it. No sweeper runs in this case.
- the sweeper: `escalations.run_sweep` (beat's task, called inline) fires the due run. The
  new worker still gets the redelivered message, and the version guard makes it a no-op.

In production the visibility timeout is 2 hours, so the 2 s sweeper is what finishes the
step on time; redelivery is the backstop.
"""

from __future__ import annotations

import re
import time
from typing import Any, cast

import psycopg
import pytest
import redis
from django.db import connection

from escalations.catalog.services import service_set_policy
from escalations.engine import services as engine
from escalations.engine import tasks
from escalations.engine.models import EscalationRun, RunState
from escalations.notifications.models import Notification
from escalations.policies.models import EscalationPolicy, StepKind
from escalations.policies.services import policy_create, step_add
from incidents.models import IncidentLogEntry, IncidentResponder, LogAction
from opsduty.models import Service, User
from tests import factories
from tests.celery_workers import (
    VISIBILITY_TIMEOUT,
    WORKER_DEADLINE,
    StartWorker,
    WorkerProcess,
)
from tests.waiting import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Only the escalation queue: delivery tasks for step 1 would take the same responder lock and
# block the solo worker on something other than the step under test.
_WORKER_ARGS = ("-Q", "escalation", "--pool", "solo", "--loglevel", "INFO")


@pytest.fixture
def policy(service: Service, member: User) -> EscalationPolicy:
    policy = policy_create(team=service.team, by=None, name="Default")
    service_set_policy(service=service, policy=policy, by=None)
    for kind, fields in (
        (StepKind.NOTIFY, {"users": [member]}),
        (StepKind.WAIT, {"wait_minutes": 1}),
        (StepKind.NOTIFY, {"users": [member]}),
    ):
        step_add(policy=policy, by=None, kind=kind, **fields)
    return policy


def _locker() -> psycopg.Connection[Any]:
    params = connection.get_connection_params()
    return psycopg.connect(
        host=params["host"],
        port=params["port"],
        user=params["user"],
        password=params["password"],
        dbname=params["dbname"],
    )


def _blocked_by(locker_pid: int) -> tuple[int, str] | None:
    """The backend waiting on a lock the locker holds (pid, query), if any.

    Read on the test's own autocommit connection: pg_stat_activity is a per-transaction
    snapshot, so polling it inside the locker's open transaction would never see a change.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, query FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
            [locker_pid],
        )
        row = cursor.fetchone()
    return (int(row[0]), str(row[1])) if row else None


def _backend_gone(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == 0


def _writes_to(pid: int, table: str) -> bool:
    """The backend's open transaction has inserted or updated rows of `table`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE pid = %s AND relation = %s::regclass"
            " AND mode = 'RowExclusiveLock' AND granted",
            [pid, table],
        )
        row = cursor.fetchone()
    return row is not None and row[0] > 0


def _task_outcome(worker: WorkerProcess, task_id: str) -> str | None:
    """What the worker logged the task returned ("True" / "False"), once it finished."""
    found = re.search(
        rf"Task escalations\.run_fire\[{re.escape(task_id)}\] succeeded in \S+: (\w+)",
        worker.log(),
    )
    return found.group(1) if found else None


def _unacked_delivered_before(broker: redis.Redis, moment: float) -> bool:
    """Every unacknowledged message was delivered before `moment` (kombu's index scores)."""
    entries = cast(
        list[tuple[bytes, float]], broker.zrange("unacked_index", 0, -1, withscores=True)
    )
    return bool(entries) and all(score < moment for _tag, score in entries)


@pytest.mark.parametrize("finisher", ["redelivery", "sweeper"])
def test_a_worker_killed_mid_step_fires_the_step_exactly_once(
    finisher: str,
    start_worker: StartWorker,
    policy: EscalationPolicy,
    service: Service,
    member: User,
    settings: Any,
) -> None:
    settings.ESCALATION_MINUTE_SECONDS = 1  # step 3's ETA task is due a second after opening
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    incident = factories.make_incident(service=service)  # step 1 inline; step 3 task queued
    run = EscalationRun.objects.get(incident=incident)
    assert (run.state, run.step_index) == (RunState.ACTIVE, 2)
    version = run.version
    step_one = Notification.objects.filter(incident=incident).count()
    assert step_one > 0
    responder = IncidentResponder.objects.get(incident=incident, user=member)

    first = start_worker("first", *_WORKER_ARGS)
    second = start_worker("second", *_WORKER_ARGS)  # importing, not consuming
    locker = _locker()
    try:
        locker.execute(
            "SELECT id FROM incidents_incidentresponder WHERE id = %s FOR UPDATE", [responder.pk]
        )
        locker_pid = locker.info.backend_pid
        first.go()
        blocked: list[tuple[int, str]] = []

        def worker_blocked() -> bool:
            blocked.extend(filter(None, [_blocked_by(locker_pid)]))
            return bool(blocked)

        assert wait_until(worker_blocked, deadline_seconds=WORKER_DEADLINE), first.log()
        worker_pid, query = blocked[0]
        # Mid-step: past the outbox INSERT, waiting in the responder write (an upsert) that
        # follows it, with the run row locked (a sweep now skips it).
        assert "incidents_incidentresponder" in query.split("(")[0], query
        assert _writes_to(worker_pid, Notification._meta.db_table)
        assert engine.run_fire(run_id=run.pk) is False
        received = re.search(r"Task escalations\.run_fire\[([0-9a-f-]+)\] received", first.log())
        assert received, first.log()
        task_id = received.group(1)
        first.kill()
        locker.rollback()  # the lock is released; the dead worker's transaction cannot commit
    finally:
        locker.close()
    # PostgreSQL ends the dead worker's session (rolling it back) when it finds the client gone.
    assert wait_until(lambda: _backend_gone(worker_pid))
    assert Notification.objects.filter(incident=incident).count() == step_one  # nothing kept
    assert broker.hlen("unacked") == 1  # acks_late: the killed worker never acknowledged it

    if finisher == "sweeper":
        assert tasks.escalation_run_sweep() == 1  # beat's sweeper task, run inline
    # Kombu restores unacknowledged messages older than the visibility timeout when a worker
    # starts; waiting until ours is that old makes the redelivery certain, not a race.
    assert wait_until(lambda: _unacked_delivered_before(broker, time.time() - VISIBILITY_TIMEOUT))
    second.go()  # a new worker process consumes (in production: the supervisor's restart)
    assert wait_until(
        lambda: _task_outcome(second, task_id) is not None, deadline_seconds=WORKER_DEADLINE
    ), second.log()
    # Redelivered: the same message runs again. It fires the step only if nothing else did.
    assert _task_outcome(second, task_id) == ("True" if finisher == "redelivery" else "False")
    assert wait_until(lambda: broker.hlen("unacked") == 0)  # and now it is acknowledged

    run.refresh_from_db()
    assert (run.state, run.step_index, run.version) == (RunState.FINISHED, 3, version + 1)
    assert engine.runs_due() == []
    keys = list(Notification.objects.filter(incident=incident).values_list("idempotency_key"))
    step_three = [key for (key,) in keys if key.split(":")[3] == "2"]
    assert len(step_three) == step_one  # one row per rule, as step 1 wrote
    assert all(key.startswith(f"esc:{run.pk}:{version}:2:0:{member.pk}:") for key in step_three)
    log = IncidentLogEntry.objects.filter(incident=incident, action=LogAction.ESCALATION)
    assert log.filter(message__startswith="Step 3: notifying").count() == 1
    assert log.filter(message__endswith="finished.").count() == 1
