"""Writes of routing rules, routes and event orchestrations.

Permission: owners and members of the owning team (the rule's team, the orchestration's
service's team) manage them; every service a rule or route points at must be in the same
organization and manageable by the user. `by=None` is the system (seed, provisioning).
Conditions are validated with `conditions_validate` and stored normalized. Positions are dense
(0..n-1); writes that change them lock the parent row (rule or service) first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from opsduty.audit import audit_record
from opsduty.models import Service, Team, User
from opsduty.routing_keys import routing_key_new
from opsduty.services import can_manage_team
from processing.models import (
    AutoResolve,
    Escalate,
    EventOrchestration,
    OrchestrationUrgency,
    Route,
    RoutingRule,
)
from processing.routing.conditions import conditions_validate
from processing.routing.models import match_all_spec


def _require_team(by: User | None, team: Team, what: str = "its routing rules") -> None:
    if by is not None and not can_manage_team(by, team):
        raise PermissionDenied(f"Only owners and members of the owning team can manage {what}.")


def _require_service(by: User | None, service: Service, organization_id: int, name: str) -> None:
    if service.organization_id != organization_id:
        raise ValidationError({name: "Unknown service."})
    if by is not None and not can_manage_team(by, service.team):
        raise ValidationError({name: "You can only route to services of teams you belong to."})


def _validated_conditions(conditions: Any) -> dict[str, Any]:
    try:
        return conditions_validate(conditions)
    except ValidationError as error:
        raise ValidationError({"conditions": error.messages}) from None


def _renumber(rows: list[Any]) -> None:
    """Make positions 0..n-1 in the given order (deferred unique constraint allows swaps)."""
    changed = []
    for index, row in enumerate(rows):
        if row.position != index:
            # bulk_update sends no model signals: the audit log is written here.
            audit_record(instance=row, action="update", changes={"position": (row.position, index)})
            row.position = index
            changed.append(row)
    if changed:
        type(changed[0]).objects.bulk_update(changed, ["position"])


def _moved(rows: list[Any], row: Any, position: int) -> list[Any]:
    others = [r for r in rows if r.pk != row.pk]
    position = max(0, min(position, len(others)))
    return [*others[:position], row, *others[position:]]


# --- routing rules --------------------------------------------------------------------------


def _clean_rule(rule: RoutingRule) -> None:
    rule.name = rule.name.strip()
    rule.full_clean(exclude=["routing_key", "team", "default_service"])
    clash = RoutingRule.objects.for_org(rule.organization).filter(name=rule.name)
    if clash.exclude(pk=rule.pk).exists():
        raise ValidationError({"name": "A routing rule with this name already exists."})


@transaction.atomic
def routing_rule_create(
    *, team: Team, by: User | None, name: str, default_service: Service
) -> RoutingRule:
    """Create a rule owned by `team`, with a fresh routing key and no routes."""
    _require_team(by, team)
    _require_service(by, default_service, team.organization_id, "default_service")
    rule = RoutingRule(
        organization_id=team.organization_id,
        team=team,
        name=name,
        default_service=default_service,
        routing_key=routing_key_new(),
    )
    _clean_rule(rule)
    rule.save()
    return rule


@transaction.atomic
def routing_rule_update(
    *, rule: RoutingRule, by: User | None, name: str, team: Team, default_service: Service
) -> RoutingRule:
    """Rename, move to another team (needs access to both) or change the default service."""
    _require_team(by, rule.team)
    if team.organization_id != rule.organization_id:
        raise ValidationError({"team": "Unknown team."})
    _require_team(by, team)
    if default_service.pk != rule.default_service_id:
        _require_service(by, default_service, rule.organization_id, "default_service")
    rule.name, rule.team, rule.default_service = name, team, default_service
    _clean_rule(rule)
    rule.save()
    return rule


@transaction.atomic
def routing_rule_regenerate_key(*, rule: RoutingRule, by: User | None) -> RoutingRule:
    """Replace the routing key; senders using the old one are refused from then on."""
    _require_team(by, rule.team)
    rule.routing_key = routing_key_new()
    rule.save(update_fields=["routing_key"])
    return rule


@transaction.atomic
def routing_rule_delete(*, rule: RoutingRule, by: User | None) -> None:
    """Delete a rule and its routes; refused while orchestrations are limited to it."""
    _require_team(by, rule.team)
    limited = list(rule.orchestrations.select_related("service")[:5])
    if limited:
        names = ", ".join(f"“{o.name}” ({o.service.name})" for o in limited)
        raise ValidationError(
            f"Event orchestrations are limited to this rule: {names}. Change or delete them first."
        )
    rule.delete()


# --- routes ---------------------------------------------------------------------------------


def _locked_routes(rule: RoutingRule) -> list[Route]:
    RoutingRule.objects.select_for_update().filter(pk=rule.pk).first()
    return list(Route.objects.filter(routing_rule=rule).order_by("position", "id"))


def _clean_route(route: Route) -> None:
    route.name = route.name.strip()
    route.full_clean(exclude=["routing_rule", "service", "position", "conditions"])


@transaction.atomic
def route_create(
    *,
    rule: RoutingRule,
    by: User | None,
    service: Service,
    conditions: Any = None,
    name: str = "",
    description: str = "",
    enabled: bool = True,
) -> Route:
    """Append a route to the rule (last position); `conditions=None` matches every event."""
    _require_team(by, rule.team)
    _require_service(by, service, rule.organization_id, "service")
    spec = _validated_conditions(match_all_spec() if conditions is None else conditions)
    routes = _locked_routes(rule)
    route = Route(
        organization_id=rule.organization_id,
        routing_rule=rule,
        position=len(routes),
        service=service,
        conditions=spec,
        name=name,
        description=description,
        enabled=enabled,
    )
    _clean_route(route)
    _renumber(routes)
    route.save()
    return route


@transaction.atomic
def route_update(
    *,
    route: Route,
    by: User | None,
    service: Service,
    conditions: Any,
    name: str,
    description: str,
    enabled: bool,
) -> Route:
    """Change a route's service, conditions, name, description or enabled flag."""
    _require_team(by, route.routing_rule.team)
    if service.pk != route.service_id:
        _require_service(by, service, route.organization_id, "service")
    route.conditions = _validated_conditions(conditions)
    route.service, route.name, route.description, route.enabled = (
        service,
        name,
        description,
        enabled,
    )
    _clean_route(route)
    # Never write `position` from a possibly stale object: moves own it.
    route.save(update_fields=["service", "conditions", "name", "description", "enabled"])
    return route


@transaction.atomic
def route_set_enabled(*, route: Route, by: User | None, enabled: bool) -> Route:
    """Enable or disable a route (a disabled route is skipped by routing)."""
    _require_team(by, route.routing_rule.team)
    route.enabled = enabled
    route.save(update_fields=["enabled"])
    return route


@transaction.atomic
def route_move(*, route: Route, position: int, by: User | None = None) -> Route:
    """Move a route to `position` (0-based, clamped); the others keep their order."""
    _require_team(by, route.routing_rule.team)
    routes = _locked_routes(route.routing_rule)
    current = next((r for r in routes if r.pk == route.pk), None)
    if current is None:
        raise ValidationError("This route no longer exists.")
    _renumber(_moved(routes, current, position))
    route.position = current.position
    return route


@transaction.atomic
def route_delete(*, route: Route, by: User | None) -> None:
    """Delete a route; the routes after it move up."""
    _require_team(by, route.routing_rule.team)
    routes = _locked_routes(route.routing_rule)
    Route.objects.filter(pk=route.pk).delete()
    _renumber([r for r in routes if r.pk != route.pk])


# --- event orchestrations -------------------------------------------------------------------


@dataclass
class OrchestrationFields:
    """Everything a user sets on an orchestration; the defaults change nothing."""

    name: str
    conditions: Any = field(default_factory=match_all_spec)
    routing_rule: RoutingRule | None = None
    enabled: bool = True
    escalate: str = Escalate.UNCHANGED
    escalation_policy_override_id: int | None = None
    notify_user_ids: list[int] = field(default_factory=list)
    silence_minutes: int | None = None
    urgency: str = OrchestrationUrgency.UNCHANGED
    ack_timeout_minutes: int | None = None
    note: str = ""
    acknowledge: bool = False
    resolve: bool = False
    auto_resolve: str = AutoResolve.UNCHANGED


def _notify_user_ids(organization_id: int, ids: Any) -> list[int]:
    if not isinstance(ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in ids
    ):
        raise ValidationError({"notify_user_ids": "Users to notify must be a list of user ids."})
    unique = list(dict.fromkeys(ids))
    known = set(
        User.objects.filter(
            organization_id=organization_id, is_active=True, pk__in=unique
        ).values_list("pk", flat=True)
    )
    if len(known) != len(unique):
        raise ValidationError({"notify_user_ids": "Unknown user."})
    return unique


ORCHESTRATION_FIELDS = (
    "name",
    "routing_rule",
    "enabled",
    "escalate",
    "escalation_policy_override_id",
    "silence_minutes",
    "urgency",
    "ack_timeout_minutes",
    "note",
    "acknowledge",
    "resolve",
    "auto_resolve",
)


def _assign(orchestration: EventOrchestration, fields: OrchestrationFields) -> None:
    rule = fields.routing_rule
    if rule is not None and rule.organization_id != orchestration.organization_id:
        raise ValidationError({"routing_rule": "Unknown routing rule."})
    orchestration.conditions = _validated_conditions(fields.conditions)
    orchestration.notify_user_ids = _notify_user_ids(
        orchestration.organization_id, fields.notify_user_ids
    )
    for name in ORCHESTRATION_FIELDS:
        setattr(orchestration, name, getattr(fields, name))
    orchestration.name = orchestration.name.strip()
    orchestration.full_clean(
        exclude=["service", "routing_rule", "position", "conditions", "notify_user_ids"]
    )


def _locked_orchestrations(service: Service) -> list[EventOrchestration]:
    Service.objects.select_for_update().filter(pk=service.pk).first()
    return list(EventOrchestration.objects.filter(service=service).order_by("position", "id"))


@transaction.atomic
def orchestration_create(
    *, service: Service, by: User | None, fields: OrchestrationFields
) -> EventOrchestration:
    """Append an orchestration to the service (evaluated last)."""
    _require_team(by, service.team, "its event orchestrations")
    orchestrations = _locked_orchestrations(service)
    orchestration = EventOrchestration(
        organization_id=service.organization_id, service=service, position=len(orchestrations)
    )
    _assign(orchestration, fields)
    _renumber(orchestrations)
    orchestration.save()
    return orchestration


@transaction.atomic
def orchestration_update(
    *, orchestration: EventOrchestration, by: User | None, fields: OrchestrationFields
) -> EventOrchestration:
    """Replace an orchestration's settings (conditions and every transformation)."""
    _require_team(by, orchestration.service.team, "its event orchestrations")
    _assign(orchestration, fields)
    # Never write `position` from a possibly stale object: moves own it.
    orchestration.save(update_fields=[*ORCHESTRATION_FIELDS, "conditions", "notify_user_ids"])
    return orchestration


@transaction.atomic
def orchestration_set_enabled(
    *, orchestration: EventOrchestration, by: User | None, enabled: bool
) -> EventOrchestration:
    """Enable or disable an orchestration."""
    _require_team(by, orchestration.service.team, "its event orchestrations")
    orchestration.enabled = enabled
    orchestration.save(update_fields=["enabled"])
    return orchestration


@transaction.atomic
def orchestration_move(
    *, orchestration: EventOrchestration, position: int, by: User | None = None
) -> EventOrchestration:
    """Move an orchestration to `position` (0-based, clamped)."""
    _require_team(by, orchestration.service.team, "its event orchestrations")
    rows = _locked_orchestrations(orchestration.service)
    current = next((o for o in rows if o.pk == orchestration.pk), None)
    if current is None:
        raise ValidationError("This orchestration no longer exists.")
    _renumber(_moved(rows, current, position))
    orchestration.position = current.position
    return orchestration


@transaction.atomic
def orchestration_delete(*, orchestration: EventOrchestration, by: User | None) -> None:
    """Delete an orchestration; the ones after it move up."""
    _require_team(by, orchestration.service.team, "its event orchestrations")
    rows = _locked_orchestrations(orchestration.service)
    EventOrchestration.objects.filter(pk=orchestration.pk).delete()
    _renumber([o for o in rows if o.pk != orchestration.pk])
