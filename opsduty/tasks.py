"""Housekeeping tasks of the core (thin: each calls one service)."""

from __future__ import annotations

from celery import shared_task

from opsduty import services


@shared_task(name="opsduty.tasks.sessions_clear_expired")
def sessions_clear_expired() -> int:
    """Delete expired sessions and stale login-failure records."""
    return services.sessions_clear_expired()
