"""Tasks of status pages: scheduled updates and planned maintenance that move at their time
(an ETA task, and a periodic sweeper of what is due)."""

from __future__ import annotations

from celery import shared_task

from opsduty.celery import DATABASE_RETRY
from opsduty.retry import run_retrying_conflicts
from statuspages import services


@shared_task(name="statuspages.update_apply", acks_late=True, **DATABASE_RETRY)
def notice_update_apply(update_id: int) -> bool:
    """Show one scheduled update whose time has come (a no-op otherwise: exactly once)."""
    return run_retrying_conflicts(services.notice_update_apply, update_id=update_id)


@shared_task(name="statuspages.notice_advance", acks_late=True, **DATABASE_RETRY)
def notice_advance(notice_id: int) -> bool:
    """Move one planned maintenance whose start or end has come (a no-op otherwise)."""
    return run_retrying_conflicts(services.notice_advance, notice_id=notice_id)


@shared_task(name="statuspages.sweep")
def sweep() -> int:
    """Everything due whose ETA task was lost (worker died, broker lost it)."""
    applied = sum(
        run_retrying_conflicts(services.notice_update_apply, update_id=update_id)
        for update_id in services.notice_updates_due()
    )
    return applied + sum(
        run_retrying_conflicts(services.notice_advance, notice_id=notice_id)
        for notice_id in services.notices_due()
    )
