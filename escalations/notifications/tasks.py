"""Notification delivery: one task per due time, and the sweeper for lost tasks."""

from __future__ import annotations

from celery import shared_task

from escalations.notifications import services
from opsduty.celery import DATABASE_RETRY


@shared_task(name="notifications.deliver", acks_late=True, **DATABASE_RETRY)
def notification_deliver(notification_id: int) -> str | None:
    """Send one due notification (a no-op when it is not pending, not due, or held)."""
    return services.notification_deliver(notification_id=notification_id)


@shared_task(name="notifications.deliver_many", acks_late=True, **DATABASE_RETRY)
def notifications_deliver(notification_ids: list[int]) -> list[str | None]:
    """Send several notifications due at the same time (each exactly as `deliver` would)."""
    return services.notifications_deliver(notification_ids=notification_ids)


@shared_task(name="notifications.sweep")
def notification_sweep() -> int:
    """Queue delivery of due notifications whose task was lost; how many were queued.

    A row it queued already is queued again only after SWEEP_REQUEUE_SECONDS.
    """
    due = services.notifications_to_sweep()
    for notification_id in due:
        notification_deliver.apply_async(args=(notification_id,))
    return len(due)
