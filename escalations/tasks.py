"""Service timers: a maintenance end fires by Celery ETA; the sweeper catches lost tasks."""

from __future__ import annotations

from celery import shared_task

from escalations.catalog import services


@shared_task(name="escalations.maintenance_expire", acks_late=True)
def service_maintenance_expire(service_id: int) -> bool:
    """End one service's maintenance if it is due (a no-op otherwise: exactly once)."""
    return services.service_maintenance_expire(service_id=service_id)


@shared_task(name="escalations.maintenance_sweep")
def service_maintenance_sweep() -> int:
    """End every due maintenance whose ETA task was lost (worker died, broker lost it)."""
    return sum(
        services.service_maintenance_expire(service_id=service_id)
        for service_id in services.service_maintenances_due()
    )


@shared_task(name="notifications.deliver", acks_late=True)
def notification_deliver(notification_id: int) -> str | None:
    """Send one due notification (a no-op when it is not pending, not due, or held)."""
    from escalations.notifications.services import notification_deliver as deliver

    return deliver(notification_id=notification_id)


@shared_task(name="notifications.deliver_many", acks_late=True)
def notifications_deliver(notification_ids: list[int]) -> list[str | None]:
    """Send several notifications due at the same time (each exactly as `deliver` would)."""
    from escalations.notifications.services import notification_deliver as deliver

    return [deliver(notification_id=notification_id) for notification_id in notification_ids]


@shared_task(name="notifications.sweep")
def notification_sweep() -> int:
    """Queue delivery of due notifications whose task was lost; how many were queued.

    A row it queued already is queued again only after SWEEP_REQUEUE_SECONDS.
    """
    from escalations.notifications.services import notifications_to_sweep

    due = notifications_to_sweep()
    for notification_id in due:
        notification_deliver.apply_async(args=(notification_id,))
    return len(due)


@shared_task(name="escalations.run_fire", acks_late=True)
def escalation_run_fire(run_id: int, version: int | None = None) -> bool:
    """Run an escalation run's due step (a no-op unless it is due at this version); its
    notifications due now are delivered right after, by this task."""
    from escalations.engine import services as engine
    from escalations.notifications.services import delivering_inline

    with delivering_inline():
        return engine.run_fire(run_id=run_id, version=version)


@shared_task(name="escalations.run_sweep")
def escalation_run_sweep() -> int:
    """Fire every due run whose ETA task was lost (worker died, broker lost it)."""
    from escalations.engine import services as engine
    from escalations.notifications.services import delivering_inline

    with delivering_inline():
        return sum(engine.run_fire(run_id=run_id) for run_id in engine.runs_due())
