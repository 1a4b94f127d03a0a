"""The escalation engine: one `EscalationRun` per incident walks its service's policy.

- Triggered (a new incident, unacknowledge, silence end, reopen) starts the run at step 1;
  acknowledged, silenced and resolved stop it (`on_status_change`, subscribed to the
  incidents hook in `EscalationsConfig.ready`).
- A step runs at the run's `due_at`: a Celery ETA task carries the run's version, and the
  beat sweeper (`runs_due`) fires any due run whose task was lost.
- Exactly once: `run_fire` locks the run's incident (the locking order: incident, run,
  notification rows) and then the run row (`FOR UPDATE SKIP LOCKED`), requires it to be
  active and due (and, for an ETA task, at the version it was scheduled for), and commits
  the step's effects (outbox rows, log lines) together with the advanced state and a new
  version. A second delivery of the task, or the sweeper racing it, finds the row locked or
  no longer due and does nothing.
- Service maintenance (either mode) pauses a run until the window ends.
- A reassigned incident (`escalations.engine.paging.incident_reassign`) keeps its chosen policy on
  the run (`policy_overridden`): every restart walks it instead of the service's policy.
"""

from __future__ import annotations

import contextvars
import logging
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from escalations.engine.models import EscalationRun, RunState
from escalations.engine.targets import NOTIFY_KINDS, step_targets
from escalations.notifications.services import notify_user
from escalations.policies.models import EscalationPolicy, EscalationStep, StepKind
from escalations.policies.selectors import policy_steps_cached
from incidents import hooks
from incidents.log import incident_log_write
from incidents.models import Incident, IncidentEvent, LogAction, Status
from incidents.services import incident_resolve, incident_unacknowledge
from opsduty import rawsql
from opsduty.models import Service
from opsduty.queue import enqueue_or_sweep
from opsduty.selectors import service_escalation_paused

logger = logging.getLogger(__name__)

REPEAT_LIMIT = 5
_PENDING = (RunState.ACTIVE, RunState.ACK_WAIT)  # states with a due time
MAX_STEPS_PER_FIRE = 100  # a policy of only notify steps repeated 5 times stays far below


def _minutes(count: int) -> timedelta:
    """A policy's minutes; `OPSDUTY_ESCALATION_MINUTE_SECONDS` shortens them for benchmarks."""
    return timedelta(seconds=count * settings.ESCALATION_MINUTE_SECONDS)


def _log(incident: Incident, message: str, **data: object) -> None:
    incident_log_write(incident=incident, action=LogAction.ESCALATION, message=message, data=data)


# Set while a person escalates by hand (`run_escalate`): the steps it runs are not timeouts.
_manual_escalation: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "manual_escalation", default=False
)


def _level(run: EscalationRun) -> int:
    """The escalation level of the run's current notify step: 1 for the policy's first notify
    step, 2 for the next..., counting on through repeats (analytics: "reached level 2")."""
    steps = policy_steps_cached(run.policy_id) or [] if run.policy_id else []
    per_pass = sum(1 for step in steps if step.kind in NOTIFY_KINDS)
    before = sum(1 for step in steps[: run.step_index] if step.kind in NOTIFY_KINDS)
    return 1 + before + run.repeat_count * per_pass


def _schedule(run_id: int, version: int, due_at: datetime) -> None:
    enqueue_or_sweep("escalations.run_fire", (run_id, version), eta=due_at)


# The runs a batch of events started that fall due within this of each other are fired by
# one task, at the latest of their due times: one broker message for a batch's next steps
# instead of one per incident (a publish costs the worker about 1 ms of CPU).
SCHEDULE_TOGETHER = timedelta(milliseconds=100)


def _schedule_many(runs: dict[int, tuple[int, datetime]]) -> None:
    """After the batch's commit: its runs' next steps, one task per group of due times."""
    group: list[tuple[int, int]] = []
    first = last = None
    for run_id, (version, due_at) in sorted(runs.items(), key=lambda item: item[1][1]):
        if first is not None and last is not None and due_at - first > SCHEDULE_TOGETHER:
            _schedule_group(group, last)
            group = []
        if not group:
            first = due_at
        group.append((run_id, version))
        last = due_at
    if group and last is not None:
        _schedule_group(group, last)


def _schedule_group(group: list[tuple[int, int]], due_at: datetime) -> None:
    if len(group) == 1:
        _schedule(group[0][0], group[0][1], due_at)
    else:
        enqueue_or_sweep("escalations.runs_fire", ([list(run) for run in group],), eta=due_at)


def _after_commit(run: EscalationRun) -> None:
    if run.state == RunState.ACTIVE and run.due_at is not None:
        run_id, version, due_at = run.pk, run.version, run.due_at
        batch = hooks.batch_scratch("run schedules", _schedules_after_commit)
        if batch is not None:
            batch[run_id] = (version, due_at)
        else:
            transaction.on_commit(lambda: _schedule(run_id, version, due_at))


def _schedules_after_commit(runs: dict[int, tuple[int, datetime]]) -> None:
    transaction.on_commit(partial(_schedule_many, runs))


# --- start and stop ---------------------------------------------------------------------------


def _escalates(incident: Incident) -> bool:
    """Maintenance incidents and attached incidents never page anyone on their own."""
    return not incident.is_maintenance and incident.parent_id is None


def _policy_for(incident: Incident) -> EscalationPolicy | None:
    """The policy the incident was reassigned to, else its service's current policy."""
    runs_written()
    overridden = (
        EscalationRun.objects.filter(incident=incident, policy_overridden=True)
        .select_related("policy")
        .first()
    )
    if overridden is not None and overridden.policy is not None:
        return overridden.policy
    service = Service.objects.select_related("escalation_policy").get(pk=incident.service_id)
    return service.escalation_policy


def _service_fresh(service_id: int) -> Service:
    return hooks.batch_memo(
        "engine services",
        service_id,
        lambda: Service.objects.select_related("escalation_policy").get(pk=service_id),
    )


def run_start(
    *,
    incident: Incident,
    now: datetime | None = None,
    new: bool = False,
    policy_override: EscalationPolicy | None = None,
    ack_timeout_minutes: int | None = None,
    hold: bool = False,
) -> EscalationRun | None:
    """(Re)start the incident's escalation at step 1; the caller holds the transaction.

    The policy is the reassigned one if someone chose it (`incident_reassign`), else the
    service's. A service without a policy pages nobody; a new incident's log says so once.
    `new`: the incident was created in the caller's transaction (by the caller, so nobody
    else can have changed it or given it a run): its service and policy are read once and
    the run is inserted, not looked up. Only with `new`, the opening event's directives
    (`escalations/engine/opening.py`, checked there): `policy_override` replaces the service's
    policy for this and every later restart, `ack_timeout_minutes` goes on the run, and
    `hold` (the incident is silenced, acknowledged or resolved as it opens, or escalation is
    bypassed) starts nothing: a stopped run only remembers the override and the timeout.
    """
    now = now or timezone.now()
    if new:
        # Fresh from the database (the caller's Service may be a cached copy): the policy,
        # and the maintenance window that `_advance` checks; once per batch of events
        # ingested together (`incidents.hooks.batch`: one transaction, one instant).
        service = _service_fresh(incident.service_id)
        incident.service = service
        policy = policy_override or service.escalation_policy
    else:
        policy = _policy_for(incident)
    starts = policy is not None and _escalates(incident) and not hold
    if new and not starts:
        if policy is None and not hold:
            _log(incident, "No escalation policy on the service: nobody is paged.")
        if policy_override is not None or ack_timeout_minutes:
            # Remembered for a later trigger (silence end, unacknowledge, ack timeout).
            EscalationRun.objects.create(
                organization_id=incident.organization_id,
                incident=incident,
                policy=policy,
                policy_overridden=policy_override is not None,
                ack_timeout_minutes=ack_timeout_minutes,
                state=RunState.STOPPED,
                due_at=None,
                started_at=now,
            )
        return None
    if policy is None or not starts:
        return None
    fields = {
        "policy": policy,
        "state": RunState.ACTIVE,
        "step_index": 0,
        "repeat_count": 0,
        "due_at": now,
        "started_at": now,
    }
    if new:
        # Its id first (the outbox keys carry it); inserted once its first steps have run,
        # in their state (`_advance`): one statement instead of an insert and an update.
        run = EscalationRun(
            pk=_run_id_next(),
            organization_id=incident.organization_id,
            incident=incident,
            policy_overridden=policy_override is not None,
            ack_timeout_minutes=ack_timeout_minutes,
            **fields,
        )
    else:
        run, _ = EscalationRun.objects.select_for_update().get_or_create(
            incident=incident, defaults={"organization_id": incident.organization_id}
        )
        for name, value in fields.items():
            setattr(run, name, value)
    _log(incident, f"Escalation policy “{policy.name}” started.")
    # Step 1 runs right here, in the transaction that triggered the incident: the first
    # notification is written with the incident, not after a trip through the task queue.
    _advance(run, now, incident if new else None, insert=new)
    return run


_RUN_STOP_SQL = (
    f"UPDATE {EscalationRun._meta.db_table} SET state = %(stopped)s,"  # noqa: S608 - our table
    " due_at = NULL, version = version + 1, updated_at = %(now)s"
    " WHERE incident_id = ANY(%(incidents)s) AND state = ANY(%(pending)s) RETURNING incident_id"
)


def run_stop(*, incident: Incident, reason: str) -> bool:
    """Stop the incident's running escalation (no-op when none runs)."""
    return bool(_runs_stop({incident.pk: (incident, reason)}))


def _runs_stop(incidents: dict[int, tuple[Incident, str]]) -> set[int]:
    """Stop these incidents' running escalations (a line each, with its reason); the ids of
    the incidents whose run stopped."""
    hooks.batch_flush(RUN_ROWS)
    with connection.cursor() as cursor:
        cursor.execute(
            _RUN_STOP_SQL,
            {
                "stopped": RunState.STOPPED,
                "now": timezone.now(),
                "incidents": list(incidents),
                "pending": list(_PENDING),
            },
        )
        stopped = {int(row[0]) for row in cursor.fetchall()}
    for incident_id, (incident, reason) in incidents.items():
        if incident_id in stopped:
            _log(incident, f"Escalation stopped: {reason}.")
    return stopped


# A batch's acknowledges and stops (`on_status_change` in `incidents.hooks.batch`), set-based
# at its end: incident id -> (incident, [(kind, reason), ...] in the order they came).
RUN_CHANGES = "run stops"


def on_status_change(change: hooks.StatusChange) -> None:
    """The incidents hook, for incidents that exist already: triggered (again) starts
    escalation, every other state stops it. A new incident starts under its opening event's
    directives in `escalations/engine/opening.py`.

    Acknowledged with an acknowledge timeout (from an event orchestration) waits instead:
    when the timeout passes and the incident is still acknowledged, it is triggered again.
    In a batch of events, the acknowledges and stops are one statement each at its end
    (`_run_changes`); what reads runs before then applies them first (`runs_written`).
    """
    if change.old_status is None:
        return
    if change.new_status == Status.TRIGGERED:
        run_start(incident=change.incident)
        return
    kind = "ack" if change.new_status == Status.ACKNOWLEDGED else "stop"
    reason = f"incident {change.new_status}"
    batch = hooks.batch_scratch(RUN_CHANGES, _run_changes)
    if batch is not None:
        batch.setdefault(change.incident.pk, (change.incident, []))[1].append((kind, reason))
    else:
        _run_changes({change.incident.pk: (change.incident, [(kind, reason)])})


def _run_changes(batch: dict[int, tuple[Incident, list[tuple[str, str]]]]) -> None:
    """Apply gathered acknowledges and stops: each incident's in the order they came, all
    incidents' n-th change together (one statement per kind)."""
    for n in range(max(len(changes) for _, changes in batch.values())):
        acks: dict[int, Incident] = {}
        stops: dict[int, tuple[Incident, str]] = {}
        for incident_id, (incident, changes) in batch.items():
            if len(changes) > n:
                kind, reason = changes[n]
                if kind == "ack":
                    acks[incident_id] = incident
                else:
                    stops[incident_id] = (incident, reason)
        if acks:
            _acks_stop(acks)
        if stops:
            _runs_stop(stops)


# Acknowledges, in one statement: a run with an acknowledge timeout (whatever its state)
# waits it out; else a pending run stops.
_ACK_SQL = (
    f"UPDATE {EscalationRun._meta.db_table} SET"  # noqa: S608 - our table
    " state = CASE WHEN COALESCE(ack_timeout_minutes, 0) > 0 THEN %(wait)s ELSE %(stopped)s END,"
    " due_at = CASE WHEN COALESCE(ack_timeout_minutes, 0) > 0"
    " THEN %(now)s + ack_timeout_minutes * %(minute)s ELSE NULL END,"
    " version = version + 1, updated_at = %(now)s"
    " WHERE incident_id = ANY(%(incidents)s)"
    " AND (COALESCE(ack_timeout_minutes, 0) > 0 OR state = ANY(%(pending)s))"
    " RETURNING incident_id, id, state, due_at, version"
)


def _acks_stop(incidents: dict[int, Incident]) -> None:
    hooks.batch_flush(RUN_ROWS)
    params: dict[str, Any] = {
        "wait": RunState.ACK_WAIT,
        "stopped": RunState.STOPPED,
        "now": timezone.now(),
        "minute": _minutes(1),
        "incidents": list(incidents),
        "pending": list(_PENDING),
    }
    with connection.cursor() as cursor:
        cursor.execute(_ACK_SQL, params)
        changed = {int(row[0]): row[1:] for row in cursor.fetchall()}
    for incident_id, incident in incidents.items():
        if incident_id not in changed:
            continue
        run_id, state, due_at, version = changed[incident_id]
        if state == RunState.STOPPED:
            _log(incident, "Escalation stopped: incident acknowledged.")
            continue
        _log(
            incident,
            f"Escalation paused: back to triggered if still acknowledged at {due_at:%H:%M} UTC.",
        )
        _after_commit(EscalationRun(pk=run_id, state=state, due_at=due_at, version=version))


# --- firing -----------------------------------------------------------------------------------


def runs_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Ids of active runs whose step is due (for the sweeper)."""
    now = now or timezone.now()
    return list(
        EscalationRun.objects.filter(state__in=_PENDING, due_at__lte=now)
        .order_by("due_at")
        .values_list("id", flat=True)[:limit]
    )


# The exactly-once guard, as plain SQL (it runs for every step; building the ORM query cost
# more than its round trip): the run locked if nobody holds it, still pending, due and, for
# an ETA task, at the version the task was scheduled for.
_RUN_DUE_SQL = (
    f"SELECT {', '.join(rawsql.columns(EscalationRun))}"  # noqa: S608 - our table
    f" FROM {EscalationRun._meta.db_table}"
    " WHERE id = %(id)s AND state = ANY(%(states)s) AND due_at <= %(now)s"
    " AND (%(version)s::integer IS NULL OR version = %(version)s::integer)"
    " FOR UPDATE SKIP LOCKED"
)


# Every field a step, a restart or a pause may change (all but the keys): `_advance` writes
# them with plain SQL once per step, where the ORM's save cost more than the round trip.
_RUN_MUTABLE = [
    field
    for field in EscalationRun._meta.concrete_fields
    if field.attname not in ("id", "organization_id", "incident_id")
]
_RUN_SAVE_SQL = (
    f"UPDATE {EscalationRun._meta.db_table} SET "  # noqa: S608 - our table and columns
    + ", ".join(f"{field.column} = %s" for field in _RUN_MUTABLE)
    + " WHERE id = %s"
)


_RUN_INSERT_SQL = (
    f"INSERT INTO {EscalationRun._meta.db_table}"  # noqa: S608 - our table and columns
    f" ({', '.join(str(field.column) for field in EscalationRun._meta.concrete_fields)})"
    f" VALUES ({', '.join(['%s'] * len(EscalationRun._meta.concrete_fields))})"
)
# Run ids taken ahead, a batch's worth in one statement (an unused one is only a gap).
_RUN_IDS_SQL = (
    f"SELECT nextval(pg_get_serial_sequence('{EscalationRun._meta.db_table}', 'id'))"  # noqa: S608
    " FROM generate_series(1, %s)"
)
RUN_IDS_AHEAD = 50


def _run_id_next() -> int:
    """An id for a new run; inside a batch (`incidents.hooks.batch`) taken RUN_IDS_AHEAD at a
    time."""
    scratch = hooks.batch_scratch("run ids")
    free: list[int] = [] if scratch is None else scratch.setdefault("free", [])
    if not free:
        with connection.cursor() as cursor:
            cursor.execute(_RUN_IDS_SQL, [1 if scratch is None else RUN_IDS_AHEAD])
            free.extend(int(row[0]) for row in cursor.fetchall())
    return free.pop(0)


# A batch's new runs (`incidents.hooks.batch`), inserted together before the batch's other
# work reads them; code that reads runs in a batch calls `runs_written()` first.
RUN_ROWS = "escalation runs"
_RUN_COLUMNS = ", ".join(str(field.column) for field in EscalationRun._meta.concrete_fields)


def _run_insert(run: EscalationRun) -> None:
    values = [
        field.get_db_prep_save(getattr(run, field.attname), connection)
        for field in EscalationRun._meta.concrete_fields
    ]
    batch = hooks.batch_scratch(RUN_ROWS, _runs_insert, rows=True)
    if batch is not None:
        batch[run.pk] = values
    else:
        with connection.cursor() as cursor:
            cursor.execute(_RUN_INSERT_SQL, values)
    rawsql.stored(run)


def _runs_insert(rows: dict[int, list[Any]]) -> None:
    values, params = rawsql.values_rows(list(rows.values()))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {EscalationRun._meta.db_table} ({_RUN_COLUMNS}) {values}",  # noqa: S608
            params,
        )


def runs_written() -> None:
    """The batch's new runs in the database, and its gathered stops applied (before a
    statement that reads runs)."""
    hooks.batch_flush(RUN_ROWS)
    hooks.batch_flush(RUN_CHANGES)


def _run_save(run: EscalationRun) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            _RUN_SAVE_SQL,
            [
                field.get_db_prep_save(getattr(run, field.attname), connection)
                for field in _RUN_MUTABLE
            ]
            + [run.pk],
        )


# Before the run, its incident: every change to an incident locks the incident row first,
# then its run, then its notification rows (docs/architecture.md, "Locking order"). A
# responder acknowledging holds the incident and then stops the run; had the step locked the
# run first, each would wait for the other. Only when the run looks due (else nothing is
# locked), and `FOR NO KEY UPDATE` as in `incidents/services.py` `_lock`.
_INCIDENT_OF_DUE_RUN_SQL = (
    f"SELECT i.id FROM {Incident._meta.db_table} i"  # noqa: S608 - our tables
    f" JOIN {EscalationRun._meta.db_table} r ON r.incident_id = i.id"
    " WHERE r.id = %(id)s AND r.state = ANY(%(states)s) AND r.due_at <= %(now)s"
    " AND (%(version)s::integer IS NULL OR r.version = %(version)s::integer)"
    " FOR NO KEY UPDATE OF i"
)
# The sweeper (no version) passes over an incident somebody holds, as over a held run: one
# long transaction must not hold up every other due run, and the next sweep comes soon. The
# step's own task waits: responders' transactions are short.
_INCIDENT_OF_DUE_RUN_SKIP_SQL = _INCIDENT_OF_DUE_RUN_SQL + " SKIP LOCKED"


def _run_due_locked(run_id: int, version: int | None, now: datetime) -> EscalationRun | None:
    """The run, locked after its incident, if it is (still) due at `version`."""
    params: dict[str, Any] = {
        "id": run_id,
        "states": list(_PENDING),
        "now": now,
        "version": version,
    }
    with connection.cursor() as cursor:
        sql = _INCIDENT_OF_DUE_RUN_SKIP_SQL if version is None else _INCIDENT_OF_DUE_RUN_SQL
        cursor.execute(sql, params)
        if cursor.fetchone() is None:
            return None
    # A fresh snapshot: a step that ran while we waited for the incident shows here.
    return rawsql.fetch_one(EscalationRun, _RUN_DUE_SQL, params)


@transaction.atomic
def run_fire(*, run_id: int, version: int | None = None, now: datetime | None = None) -> bool:
    """Run the due step(s) of one run, exactly once; False when there was nothing to do."""
    now = now or timezone.now()
    run = _run_due_locked(run_id, version, now)
    if run is None:
        return False
    if run.state == RunState.ACK_WAIT:
        _ack_timeout(run, now)
    else:
        _advance(run, now)
    return True


NOTHING_TO_ESCALATE = (
    "Nothing to escalate to: the escalation policy has no step left for this incident. "
    "Page someone directly or reassign it to another policy."
)


def run_escalate(*, incident: Incident, expected_step: int | None = None) -> int:
    """Run the incident's next escalation step now, skipping what is left of the wait.

    The caller holds the transaction and has locked the triggered incident. `expected_step`
    (1-based, the step the person saw as next) makes a double click or two responders
    escalating at once move on one step, not two. Returns the number of the step that was
    next.
    """
    runs_written()
    run = EscalationRun.objects.select_for_update().filter(incident=incident).first()
    if run is None or run.state != RunState.ACTIVE or run.policy_id is None:
        raise ValidationError(NOTHING_TO_ESCALATE, code="nothing_to_escalate")
    steps = policy_steps_cached(run.policy_id) or []
    if run.step_index >= len(steps):
        raise ValidationError(NOTHING_TO_ESCALATE, code="nothing_to_escalate")
    number = run.step_index + 1
    if expected_step is not None and expected_step != number:
        raise ValidationError(
            f"Escalation has moved on already (step {number} is next now, not step "
            f"{expected_step}); look at the timeline before escalating again.",
            code="escalation_moved_on",
        )
    while run.step_index < len(steps) - 1 and steps[run.step_index].kind == StepKind.WAIT:
        run.step_index += 1  # escalating now skips the wait
    manual = _manual_escalation.set(True)
    try:
        _advance(
            run, timezone.now(), Incident.objects.select_related("service").get(pk=incident.pk)
        )
    finally:
        _manual_escalation.reset(manual)
    return number


def _ack_timeout(run: EscalationRun, now: datetime) -> None:
    """Acknowledged too long: trigger the incident again (which restarts escalation)."""
    incident = Incident.objects.get(pk=run.incident_id)
    run.state, run.due_at = RunState.STOPPED, None
    run.version += 1
    run.updated_at = now
    run.save()
    if incident.status == Status.ACKNOWLEDGED and incident.parent_id is None:
        _log(incident, f"Acknowledged for {run.ack_timeout_minutes} minutes: triggered again.")
        incident_unacknowledge(incident=incident, by=None)  # the hook restarts escalation


def _advance(
    run: EscalationRun, now: datetime, incident: Incident | None = None, *, insert: bool = False
) -> None:
    """Run what is due of a locked run, then save it with a new version and schedule it.

    `incident`: the run's incident with a fresh service, when the caller has it; else read.
    `insert`: the run is new (`run_start`), not in the database yet.
    """
    if incident is None:
        incident = Incident.objects.select_related("service").get(pk=run.incident_id)
    if incident.status != Status.TRIGGERED or not _escalates(incident) or run.policy_id is None:
        run.state, run.due_at = RunState.STOPPED, None
    elif service_escalation_paused(incident.service, now):
        end = incident.service.maintenance_window_end or now
        run.due_at = max(end, now + timedelta(seconds=30))
        _log(incident, "Escalation paused: the service is in maintenance.")
    else:
        _walk(run, incident, now)
    run.version += 1
    run.updated_at = now
    if insert:
        _run_insert(run)
    else:
        _run_save(run)
    _after_commit(run)


def _walk(run: EscalationRun, incident: Incident, now: datetime) -> None:
    """Run steps from `run.step_index` until one sets a later due time or the policy ends."""
    assert run.policy_id is not None  # run_fire stops runs without a policy
    steps = policy_steps_cached(run.policy_id) or []
    for _ in range(MAX_STEPS_PER_FIRE):
        if run.step_index >= len(steps):
            run.state, run.due_at = RunState.FINISHED, None
            name = run.policy.name if run.policy is not None else "?"
            _log(incident, f"Escalation policy “{name}” finished.")
            return
        step = steps[run.step_index]
        later = _step(step, run, incident, now)
        if run.state != RunState.ACTIVE:
            return
        if later is not None:
            run.due_at = later
            return
    run.due_at = now + timedelta(minutes=1)  # a runaway policy: come back later, never loop


def _step(
    step: EscalationStep, run: EscalationRun, incident: Incident, now: datetime
) -> datetime | None:
    """Run one step and advance the run; the next due time, or None to go straight on."""
    number = run.step_index + 1
    if step.kind == StepKind.WAIT:
        run.step_index += 1
        return now + _minutes(step.wait_minutes or 0)
    if step.kind == StepKind.NOTIFY:
        _notify(step, run, incident, f"step {number}", now)
    elif step.kind == StepKind.NOTIFY_IF_EVENTS:
        _notify_if_events(step, run, incident, now, number)
    elif step.kind == StepKind.NOTIFY_IF_TIME:
        opens = _window_opens(step, now)
        if opens is not None:
            _log(
                incident,
                f"Step {number}: outside its time window; paused until {opens:%Y-%m-%d %H:%M} UTC.",
            )
            return opens
        _notify(step, run, incident, f"step {number}", now)
    elif step.kind == StepKind.REPEAT:
        times = min(step.repeat_times or 1, REPEAT_LIMIT)
        if run.repeat_count < times:
            run.repeat_count += 1
            run.step_index = 0
            _log(incident, f"Step {number}: repeating from step 1 ({run.repeat_count} of {times}).")
            return None
        _log(incident, f"Step {number}: repeated {times} times already; going on.")
    elif step.kind == StepKind.RESOLVE:
        run.step_index += 1
        run.state, run.due_at = RunState.FINISHED, None
        _resolve(incident, number)
        return None
    run.step_index += 1
    return None


def _resolve(incident: Incident, number: int) -> None:
    _log(incident, f"Step {number}: resolving the incident.")
    incident_resolve(incident=incident, by=None)


def _notify(
    step: EscalationStep, run: EscalationRun, incident: Incident, label: str, now: datetime
) -> None:
    found = step_targets(step, now)
    targets = found.users
    if step.schedule_id is not None:
        if found.schedule is None:
            _log(incident, f"{label.capitalize()}: its schedule no longer exists.")
        elif not found.schedule_user_ids:
            _log(
                incident,
                f"{label.capitalize()}: nobody is on call in schedule “{found.schedule.name}”.",
            )
    if not targets:
        _log(incident, f"{label.capitalize()}: nobody to notify.")
        return
    prefix = f"esc:{run.pk}:{run.version}:{run.step_index}:{run.repeat_count}"
    for user in targets:
        notify_user(
            incident=incident,
            user=user,
            reason=f"escalation {label}",
            key_prefix=f"{prefix}:{user.pk}",
            channel=step.channel,
            later=True,  # in a batch of events, written with the batch's other rows
        )
    names = ", ".join(user.get_full_name() or user.email for user in targets)
    _log(
        incident,
        f"{label.capitalize()}: notifying {names}.",
        level=_level(run),
        manual=_manual_escalation.get(),
    )


def _notify_if_events(
    step: EscalationStep, run: EscalationRun, incident: Incident, now: datetime, number: int
) -> None:
    window = _minutes(step.window_minutes or 0)
    hooks.batch_flush(hooks.EVENTS)  # the batch's events so far count
    count = IncidentEvent.objects.filter(incident=incident, received_at__gte=now - window).count()
    if count >= (step.events_count or 1):
        _notify(step, run, incident, f"step {number}", now)
    else:
        _log(
            incident,
            f"Step {number}: {count} event(s) in the last {step.window_minutes} minutes, "
            f"fewer than {step.events_count}; nobody notified.",
        )


def _window_opens(step: EscalationStep, now: datetime) -> datetime | None:
    """None when `now` is inside the step's daily window, else when the window next opens."""
    if step.time_from is None or step.time_to is None:
        return None
    zone = ZoneInfo(step.timezone or "UTC")
    local = now.astimezone(zone)
    start, end, clock = step.time_from, step.time_to, local.time()
    inside = start <= clock < end if start < end else (clock >= start or clock < end)
    if inside:
        return None
    opening = local.replace(hour=start.hour, minute=start.minute, second=0, microsecond=0)
    if opening <= local:
        opening += timedelta(days=1)
    # Rebuild in the zone so a DST change between now and the opening is respected.
    opening = datetime.combine(opening.date(), start, tzinfo=zone)
    return opening.astimezone(ZoneInfo("UTC"))


# Run for every event, change or step; safe as generic plans (opsduty/rawsql.py).
rawsql.prepared(
    _RUN_STOP_SQL,
    _ACK_SQL,
    _RUN_DUE_SQL,
    _RUN_SAVE_SQL,
    _RUN_INSERT_SQL,
    _RUN_IDS_SQL,
    _INCIDENT_OF_DUE_RUN_SQL,
    _INCIDENT_OF_DUE_RUN_SKIP_SQL,
)
