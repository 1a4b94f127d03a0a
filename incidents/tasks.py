"""Incident timers: silence ends fire by Celery ETA, and the sweeper catches lost tasks."""

from __future__ import annotations

from celery import shared_task

from incidents import services
from opsduty.celery import DATABASE_RETRY
from opsduty.retry import run_retrying_conflicts


@shared_task(name="incidents.silence_expire", acks_late=True, **DATABASE_RETRY)
def incident_silence_expire(incident_id: int) -> bool:
    """End one incident's silence if it is due (a no-op otherwise: exactly once)."""
    return run_retrying_conflicts(services.incident_silence_expire, incident_id=incident_id)


@shared_task(name="incidents.silence_sweep")
def incident_silence_sweep() -> int:
    """End every due silence whose ETA task was lost (worker died, broker lost it)."""
    return sum(
        run_retrying_conflicts(services.incident_silence_expire, incident_id=incident_id)
        for incident_id in services.incident_silences_due()
    )
