"""Service timers: a maintenance end fires by Celery ETA; the sweeper catches lost tasks."""

from __future__ import annotations

from celery import shared_task

from escalations.catalog import services
from opsduty.celery import DATABASE_RETRY
from opsduty.retry import run_retrying_conflicts


@shared_task(name="escalations.maintenance_expire", acks_late=True, **DATABASE_RETRY)
def service_maintenance_expire(service_id: int) -> bool:
    """End one service's maintenance if it is due (a no-op otherwise: exactly once)."""
    return run_retrying_conflicts(services.service_maintenance_expire, service_id=service_id)


@shared_task(name="escalations.maintenance_sweep")
def service_maintenance_sweep() -> int:
    """End every due maintenance whose ETA task was lost (worker died, broker lost it)."""
    return sum(
        run_retrying_conflicts(services.service_maintenance_expire, service_id=service_id)
        for service_id in services.service_maintenances_due()
    )
