"""Heartbeat timers: the miss detector (beat, every second) and check-in pruning."""

from __future__ import annotations

from celery import shared_task

from signals.heartbeats import services


@shared_task(name="heartbeats.misses_detect", expires=5)
def heartbeat_misses_detect() -> int:
    """Report every environment past its deadline (beat, every second).

    On the escalation queue, so a backlog of incoming events never delays a miss; `expires`
    drops runs that queued up while the worker was down (the next one covers them).
    """
    total = 0
    while (found := services.misses_detect()) == services.MISS_BATCH:
        total += found
    return total + found


@shared_task(name="heartbeats.checkins_prune")
def heartbeat_checkins_prune() -> int:
    """Keep the last CHECKINS_KEPT check-ins of each environment."""
    return services.checkins_prune()
