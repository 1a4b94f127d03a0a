"""Routing: pick the service for an event that came in through a routing rule's key.

Routing never changes data: it only decides. First enabled route (by position) whose
conditions match wins; no match goes to the rule's default service. The pipeline calls this
for every event (target 500 events/s), so it takes preloaded routes
(`processing.routing.selectors.routing_rule_for_key` loads a rule with them in two queries).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opsduty.models import Service
from processing.models import Route, RoutingRule
from processing.routing.conditions import conditions_evaluate


@dataclass
class RouteDecision:
    """Where an event goes, which route sent it there, and what failed while deciding."""

    service: Service
    route_id: int | None
    matched: str
    errors: list[str] = field(default_factory=list)


def routing_rule_route(
    *,
    rule: RoutingRule,
    routes: list[Route] | None = None,
    payload: Any,
    event: dict[str, Any],
    now: datetime,
) -> RouteDecision:
    """Decide the service of one event; `routes` defaults to `rule.routes.all()` (prefetched)."""
    candidates = list(rule.routes.all()) if routes is None else routes
    errors: list[str] = []
    for route in sorted(candidates, key=lambda r: (r.position, r.pk or 0)):
        if not route.enabled:
            continue
        evaluation = conditions_evaluate(route.conditions, payload=payload, event=event, now=now)
        label = _route_label(route)
        errors.extend(f"{label}: {error}" for error in evaluation.errors)
        if evaluation.matched:
            return RouteDecision(
                service=route.service, route_id=route.pk, matched=label, errors=errors
            )
    return RouteDecision(
        service=rule.default_service,
        route_id=None,
        matched="default service (no route matched)",
        errors=errors,
    )


def _route_label(route: Route) -> str:
    name = f" “{route.name}”" if route.name else ""
    return f"route {route.position + 1}{name}"
