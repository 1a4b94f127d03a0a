"""Thin tasks: drain pending raw events; the sweeper for events whose drain was lost.

Their names still say `signals.`: task names are wire identifiers (queued messages, the beat
schedule, the queue routes), kept when the code moved here from signals/.
"""

from __future__ import annotations

from celery import shared_task

from incidents.ingest import drain
from opsduty.celery import DATABASE_RETRY
from opsduty.health import tick_record
from opsduty.retry import run_retrying_conflicts
from signals.receiver import services as receiver


@shared_task(name="signals.raw_events_drain", acks_late=True, **DATABASE_RETRY)
def raw_events_drain() -> int:
    """Process pending raw events in batches (see incidents/ingest/drain.py)."""
    return drain.raw_events_drain()


@shared_task(
    name="signals.raw_event_process",
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=True,
    max_retries=5,
)
def raw_event_process(raw_event_id: int) -> bool:
    """Process one raw event (a no-op when it is not pending any more)."""
    return run_retrying_conflicts(drain.raw_event_process, raw_event_id=raw_event_id)


@shared_task(name="signals.raw_event_sweep")
def raw_event_sweep() -> bool:
    """Queue a drain when an event has waited too long (its task or worker was lost)."""
    stale = drain.raw_events_stale()
    if stale:
        receiver.drain_kick(force=True)
    tick_record("signals.raw_event_sweep")
    return stale
