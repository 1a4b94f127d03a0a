"""Reads of services."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Q, QuerySet

from escalations.models import Service
from opsduty.models import User
from opsduty.tenancy import get_for_org_or_404, scoped

OPEN = ("triggered", "acknowledged", "silenced")


def service_visible_list(*, user: User) -> QuerySet[Service]:
    """Services the user can see: all of the organization for owners, else their teams'."""
    services = scoped(Service, user.organization)
    if user.is_owner:
        return services
    return services.filter(team__in=user.teams.all())


def service_list(*, user: User) -> QuerySet[Service]:
    """Visible services with their team and open-incident count, oldest first."""
    return (
        service_visible_list(user=user)
        .select_related("team")
        .annotate(
            open_incidents=Count(
                "incidents", filter=Q(incidents__status__in=OPEN, incidents__archived_at=None)
            )
        )
        .order_by("id")
    )


def service_get(*, user: User, service_id: int) -> Service:
    """One service the user may see, or 404 (also for other organizations' ids)."""
    return get_for_org_or_404(
        service_visible_list(user=user).select_related("team", "escalation_policy"),
        user.organization,
        pk=service_id,
    )


def service_maintenance_active(service: Service, now: datetime) -> bool:
    """In maintenance at `now`: a mode is set and its window has not ended (expiry on read)."""
    end = service.maintenance_window_end
    return bool(service.maintenance_mode) and end is not None and end > now


def service_escalation_paused(service: Service, now: datetime) -> bool:
    """Whether the escalation engine must page nobody for `service` at `now`.

    True during either mode: `debug` pauses escalation outright, and under `maintenance` the
    incidents are attached to the maintenance incident, which never escalates.
    """
    return service_maintenance_active(service, now)
