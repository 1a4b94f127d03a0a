"""Inbound work handled once: an Events API `event_id`, a modal submission's view id. Slack
retries (`X-Slack-Retry-Num`) and duplicate task deliveries find their key recorded."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from integrations.slack.models import SlackReceipt

__all__ = ["receipt_first"]


def receipt_first(key: str) -> bool:
    """Record `key` in the caller's transaction; False when it was recorded before."""
    try:
        with transaction.atomic():
            SlackReceipt.objects.create(key=key[:128])
    except IntegrityError:
        return False
    return True
