"""Slack's housekeeping (beat, opsduty/celery.py): spent one-time rows pruned."""

from __future__ import annotations

from celery import shared_task

from integrations.slack.setup import services

__all__ = ["prune"]


@shared_task(name="slack.prune")
def prune() -> int:
    """Delete expired install states and link requests, and day-old event receipts."""
    return services.slack_rows_prune()
