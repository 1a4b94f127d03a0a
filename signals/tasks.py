"""Thin tasks: drain pending raw events; the sweeper for events whose drain was lost."""

from __future__ import annotations

from celery import shared_task

from incidents.ingest import drain as services


@shared_task(name="signals.raw_events_drain", acks_late=True)
def raw_events_drain() -> int:
    """Process pending raw events in batches (see incidents/ingest/drain.py)."""
    return services.raw_events_drain()


@shared_task(
    name="signals.raw_event_process",
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=True,
    max_retries=5,
)
def raw_event_process(raw_event_id: int) -> bool:
    """Process one raw event (a no-op when it is not pending any more)."""
    return services.raw_event_process(raw_event_id=raw_event_id)


@shared_task(name="signals.raw_event_sweep")
def raw_event_sweep() -> bool:
    """Queue a drain when an event has waited too long (its task or worker was lost)."""
    if services.raw_events_stale():
        services.drain_kick(force=True)
        return True
    return False


@shared_task(name="heartbeats.misses_detect", expires=5)
def heartbeat_misses_detect() -> int:
    """Report every environment past its deadline (beat, every second; see signals.heartbeats.services).

    On the escalation queue, so a backlog of incoming events never delays a miss; `expires`
    drops runs that queued up while the worker was down (the next one covers them).
    """
    from signals.heartbeats.services import MISS_BATCH, misses_detect

    total = 0
    while (found := misses_detect()) == MISS_BATCH:
        total += found
    return total + found


@shared_task(name="heartbeats.checkins_prune")
def heartbeat_checkins_prune() -> int:
    """Keep the last CHECKINS_KEPT check-ins of each environment."""
    from signals.heartbeats.services import checkins_prune

    return checkins_prune()
