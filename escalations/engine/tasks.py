"""Escalation timers: a run's due step fires by Celery ETA; the sweeper catches lost tasks."""

from __future__ import annotations

from celery import shared_task

from escalations.engine import services as engine
from escalations.notifications.services import delivering_inline
from opsduty.celery import DATABASE_RETRY
from opsduty.health import tick_record
from opsduty.retry import run_retrying_conflicts


@shared_task(name="escalations.run_fire", acks_late=True, **DATABASE_RETRY)
def escalation_run_fire(run_id: int, version: int | None = None) -> bool:
    """Run an escalation run's due step (a no-op unless it is due at this version); its
    notifications due now are delivered right after, by this task."""
    with delivering_inline():
        return run_retrying_conflicts(engine.run_fire, run_id=run_id, version=version)


@shared_task(name="escalations.runs_fire", acks_late=True, **DATABASE_RETRY)
def escalation_runs_fire(runs: list[list[int]]) -> int:
    """`run_fire` for the runs a batch started that fall due together ([run id, version]
    pairs), each in its own transaction; how many fired."""
    with delivering_inline():
        return sum(
            run_retrying_conflicts(engine.run_fire, run_id=run_id, version=version)
            for run_id, version in runs
        )


@shared_task(name="escalations.run_sweep")
def escalation_run_sweep() -> int:
    """Fire every due run whose ETA task was lost (worker died, broker lost it)."""
    with delivering_inline():
        fired = sum(
            run_retrying_conflicts(engine.run_fire, run_id=run_id) for run_id in engine.runs_due()
        )
    tick_record("escalations.run_sweep")
    return fired
