"""Reads of routing rules, routes and event orchestrations.

Visibility follows services: owners see every rule of the organization, everyone else the
rules of their teams; orchestrations are seen through their service.
"""

from __future__ import annotations

from django.db.models import Count, Prefetch, QuerySet

from opsduty.models import Organization, Service, User
from opsduty.selectors import service_visible_list
from opsduty.tenancy import get_for_org_or_404, scoped
from processing.models import EventOrchestration, Route, RoutingRule


def routing_rule_visible_list(*, user: User) -> QuerySet[RoutingRule]:
    """Rules the user can see: all of the organization for owners, else their teams'."""
    rules = scoped(RoutingRule, user.organization)
    if user.is_owner:
        return rules
    return rules.filter(team__in=user.teams.all())


def routing_rule_list(*, user: User) -> QuerySet[RoutingRule]:
    """Visible rules with team, default service and number of routes, by name."""
    return (
        routing_rule_visible_list(user=user)
        .select_related("team", "default_service")
        .annotate(route_count=Count("routes"))
        .order_by("name", "id")
    )


def routing_rule_get(*, user: User, routing_rule_id: int) -> RoutingRule:
    """One visible rule with its routes (and their services) prefetched, or 404."""
    routes = Route.objects.select_related("service").order_by("position", "id")
    rules = routing_rule_visible_list(user=user).select_related("team", "default_service")
    return get_for_org_or_404(
        rules.prefetch_related(Prefetch("routes", queryset=routes)),
        user.organization,
        pk=routing_rule_id,
    )


def routing_rule_for_key(*, organization: Organization, routing_key: str) -> RoutingRule | None:
    """The rule with this routing key, its default service and routes (two queries), or None.

    For the pipeline: `rule.routes.all()` is then the prefetched, position-ordered routes
    with their services, ready for `processing.routing.routes.routing_rule_route`.
    """
    routes = Route.objects.select_related("service").order_by("position", "id")
    return (
        scoped(RoutingRule, organization)
        .select_related("default_service")
        .prefetch_related(Prefetch("routes", queryset=routes))
        .filter(routing_key=routing_key)
        .first()
    )


def route_get(*, user: User, route_id: int) -> Route:
    """One route of a visible rule, or 404."""
    routes = Route.objects.filter(routing_rule__in=routing_rule_visible_list(user=user))
    return get_for_org_or_404(
        routes.select_related("routing_rule", "routing_rule__team", "service"),
        user.organization,
        pk=route_id,
    )


def orchestration_list_for_service(*, service: Service) -> list[EventOrchestration]:
    """The service's enabled orchestrations in position order (one query), for the pipeline."""
    return list(
        EventOrchestration.objects.filter(
            organization_id=service.organization_id, service=service, enabled=True
        ).order_by("position", "id")
    )


def orchestration_list(*, service: Service) -> QuerySet[EventOrchestration]:
    """All orchestrations of a service (also disabled ones) with their rule, for the UI."""
    return (
        EventOrchestration.objects.filter(organization_id=service.organization_id, service=service)
        .select_related("routing_rule")
        .order_by("position", "id")
    )


def orchestration_get(*, user: User, orchestration_id: int) -> EventOrchestration:
    """One orchestration of a service the user can see, or 404."""
    orchestrations = EventOrchestration.objects.filter(
        service__in=service_visible_list(user=user)
    ).select_related("service", "service__team", "routing_rule")
    return get_for_org_or_404(orchestrations, user.organization, pk=orchestration_id)
