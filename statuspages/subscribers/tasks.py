"""Delivery of subscribers' mails: one task per batch of due rows, and the sweeper for rows
whose task was lost (invariants 4 and 5)."""

from __future__ import annotations

from celery import shared_task

from opsduty.celery import DATABASE_RETRY
from statuspages.subscribers import services


@shared_task(name="statuspages.subscriber_mails_deliver", acks_late=True, **DATABASE_RETRY)
def subscriber_mails_deliver(mail_ids: list[int]) -> list[str | None]:
    """Send these outbox rows (each a no-op unless pending, due and not held)."""
    return [services.mail_deliver(mail_id=mail_id) for mail_id in mail_ids]


@shared_task(name="statuspages.subscriber_mail_sweep")
def subscriber_mail_sweep() -> int:
    """Queue the due rows whose task was lost; how many."""
    due = services.mails_to_sweep()
    if due:
        subscriber_mails_deliver.apply_async(args=(due,))
    return len(due)
