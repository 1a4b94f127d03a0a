"""Reads of heartbeats for the pages: visibility follows the service (owners: all; others:
their teams' services), and a heartbeat or environment the user cannot see answers 404, the
same as one of another organization."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from opsduty.models import Service, User
from opsduty.selectors import service_visible_list, team_manageable_list
from opsduty.tenancy import get_for_org_or_404, scoped
from signals.heartbeats.models import Heartbeat, HeartbeatCheckIn, HeartbeatState

HISTORY_SHOWN = 50


def heartbeat_visible_list(*, user: User, service_id: int | None = None) -> QuerySet[Heartbeat]:
    """Heartbeats on the services the user can see (optionally one service), by name, with
    their service, team and environments."""
    heartbeats = scoped(Heartbeat, user.organization).filter(
        service__in=service_visible_list(user=user)
    )
    if service_id is not None:
        heartbeats = heartbeats.filter(service_id=service_id)
    states = HeartbeatState.objects.select_related("incident").order_by("environment", "id")
    return (
        heartbeats.select_related("service", "service__team")
        .prefetch_related(Prefetch("states", queryset=states))
        .order_by("service__name", "name", "id")
    )


def heartbeat_get(*, user: User, heartbeat_id: int) -> Heartbeat:
    """One heartbeat the user can see, with its environments, or 404."""
    return get_for_org_or_404(heartbeat_visible_list(user=user), user.organization, pk=heartbeat_id)


def heartbeat_state_get(*, user: User, state_id: int) -> HeartbeatState:
    """One environment of a heartbeat the user can see, or 404."""
    states = HeartbeatState.objects.filter(
        heartbeat__service__in=service_visible_list(user=user)
    ).select_related("heartbeat", "heartbeat__service", "heartbeat__service__team")
    return get_for_org_or_404(states, user.organization, pk=state_id)


def heartbeat_manageable_services(*, user: User) -> QuerySet[Service]:
    """Services the user may put heartbeats on: those of the teams they manage."""
    teams = team_manageable_list(user=user)
    return (
        scoped(Service, user.organization)
        .filter(team__in=teams)
        .select_related("team")
        .order_by("name", "id")
    )


def checkin_history(*, heartbeat: Heartbeat, limit: int = HISTORY_SHOWN) -> list[HeartbeatCheckIn]:
    """The latest check-ins across the heartbeat's environments, newest first."""
    return list(
        HeartbeatCheckIn.objects.filter(
            organization_id=heartbeat.organization_id, state__heartbeat=heartbeat
        )
        .select_related("state")
        .order_by("-at", "-id")[:limit]
    )
