"""Housekeeping tasks of the core (thin: each calls one service)."""

from __future__ import annotations

from celery import shared_task

from opsduty import services


@shared_task(name="opsduty.tasks.sessions_clear_expired")
def sessions_clear_expired() -> int:
    """Delete expired sessions and stale login-failure records."""
    return services.sessions_clear_expired()


@shared_task(name="opsduty.tasks.organization_purge")
def organization_purge(organization_id: int) -> bool:
    """Delete a closed organization and its data."""
    return services.organization_purge(organization_id)


@shared_task(name="opsduty.tasks.organizations_purge")
def organizations_purge() -> int:
    """Purge every closed organization still there (a purge task lost with the broker)."""
    return services.organizations_purge_closed()
