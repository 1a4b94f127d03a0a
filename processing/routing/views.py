"""Routing rule pages (list, detail with routing key and ordered routes, create, edit,
delete), route pages (create, edit, delete, move, enable/disable) and event orchestration
pages (a section of the service page; create, edit, delete, move, enable/disable).

Everyone sees the rules of their teams (owners: all); owners and members of the owning team
manage them. Writes go through `processing.routing.services`; bad input answers 422 with the
form and per-row condition errors.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from opsduty.models import Team
from opsduty.selectors import service_get, team_manageable_list
from opsduty.services import can_manage_team
from opsduty.views.common import (
    AuthedRequest,
    Deletion,
    add_validation_error,
    delete_with_confirmation,
)
from processing.models import EventOrchestration, Route, RoutingRule
from processing.routing import selectors, services
from processing.routing.forms import (
    ConditionEditor,
    OrchestrationForm,
    RegenerateKeyForm,
    RouteForm,
    RoutingRuleForm,
)


def _require_manage(request: AuthedRequest, team: Team) -> None:
    if not can_manage_team(request.user, team):
        raise PermissionDenied("Only owners and members of the owning team can manage it.")


def _saved(form: Any, editor: ConditionEditor | None, error: ValidationError) -> None:
    """Put a service's ValidationError on the form, conditions errors on the editor."""
    if editor is not None and hasattr(error, "error_dict") and "conditions" in error.error_dict:
        editor.errors = ValidationError(error.error_dict.pop("conditions")).messages
    if not hasattr(error, "error_dict") or error.error_dict:
        add_validation_error(form, error)


def _position(request: AuthedRequest, current: int) -> int:
    direction = request.POST.get("direction")
    if direction == "up":
        return max(current - 1, 0)
    if direction == "down":
        return current + 1
    try:
        return max(int(request.POST.get("position", "")), 0)
    except ValueError:
        return current


# --- routing rules --------------------------------------------------------------------------


@require_GET
@login_required
def routing_rule_list(request: AuthedRequest) -> HttpResponse:
    """Visible routing rules with their team, default service and number of routes."""
    context = {
        "rules": selectors.routing_rule_list(user=request.user),
        "can_create": team_manageable_list(user=request.user).exists(),
        "active": "routing",
    }
    return render(request, "processing/routing_rule_list.html", context)


def _rule_context(
    request: AuthedRequest, rule: RoutingRule, key_form: RegenerateKeyForm | None = None
) -> dict[str, Any]:
    return {
        "rule": rule,
        "routes": list(rule.routes.all()),
        "can_manage": can_manage_team(request.user, rule.team),
        "key_form": key_form or RegenerateKeyForm(),
        "active": "routing",
    }


@require_GET
@login_required
def routing_rule_detail(request: AuthedRequest, routing_rule_id: int) -> HttpResponse:
    """One rule: routing key (managers), default service, ordered routes."""
    rule = selectors.routing_rule_get(user=request.user, routing_rule_id=routing_rule_id)
    return render(request, "processing/routing_rule_detail.html", _rule_context(request, rule))


def _save_rule(
    request: AuthedRequest, form: RoutingRuleForm, rule: RoutingRule | None
) -> RoutingRule | None:
    data = form.cleaned_data
    fields = {
        "name": data["name"],
        "team": data["team"],
        "default_service": data["default_service"],
    }
    try:
        if rule is None:
            return services.routing_rule_create(by=request.user, **fields)
        return services.routing_rule_update(rule=rule, by=request.user, **fields)
    except ValidationError as error:
        add_validation_error(form, error)
    except IntegrityError:
        form.add_error("name", "A routing rule with this name already exists.")
    return None


@require_http_methods(["GET", "POST"])
@login_required
def routing_rule_create(request: AuthedRequest) -> HttpResponseBase:
    """Create a rule owned by a team the user manages."""
    if not team_manageable_list(user=request.user).exists():
        raise PermissionDenied("You are not a member of a team that could own a routing rule.")
    form = RoutingRuleForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        rule = _save_rule(request, form, None)
        if rule is not None:
            messages.success(request, f"Routing rule “{rule.name}” created.")
            return redirect("routing_rule_detail", routing_rule_id=rule.pk)
    context = {"form": form, "rule": None, "active": "routing"}
    status = 422 if form.is_bound else 200
    return render(request, "processing/routing_rule_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def routing_rule_edit(request: AuthedRequest, routing_rule_id: int) -> HttpResponseBase:
    """Rename a rule, move it to another team, change its default service."""
    rule = selectors.routing_rule_get(user=request.user, routing_rule_id=routing_rule_id)
    _require_manage(request, rule.team)
    initial = {"name": rule.name, "team": rule.team, "default_service": rule.default_service}
    form = RoutingRuleForm(request.POST or None, initial=initial, user=request.user)
    if request.method == "POST" and form.is_valid():
        if _save_rule(request, form, rule) is not None:
            messages.success(request, f"Routing rule “{rule.name}” saved.")
            return redirect("routing_rule_detail", routing_rule_id=rule.pk)
        rule.refresh_from_db()
    context = {"form": form, "rule": rule, "active": "routing"}
    status = 422 if form.is_bound else 200
    return render(request, "processing/routing_rule_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def routing_rule_delete(request: AuthedRequest, routing_rule_id: int) -> HttpResponseBase:
    """Confirm (GET) and delete (POST) a rule with its routes."""
    rule = selectors.routing_rule_get(user=request.user, routing_rule_id=routing_rule_id)
    _require_manage(request, rule.team)
    deletion = Deletion(
        object_name=rule.name,
        what="routing rule",
        consequence="Its routes are deleted too; senders using its routing key are refused.",
        cancel_url=rule_url(rule),
        done_url=reverse("routing_rules"),
        active="routing",
    )
    return delete_with_confirmation(
        request, deletion, lambda: services.routing_rule_delete(rule=rule, by=request.user)
    )


def rule_url(rule: RoutingRule) -> str:
    return f"/routing-rules/{rule.pk}/"


@require_POST
@login_required
def routing_rule_regenerate_key(request: AuthedRequest, routing_rule_id: int) -> HttpResponseBase:
    """Replace the routing key after the confirmation box is ticked."""
    rule = selectors.routing_rule_get(user=request.user, routing_rule_id=routing_rule_id)
    _require_manage(request, rule.team)
    form = RegenerateKeyForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Tick the box to confirm replacing the routing key.")
        context = _rule_context(request, rule, key_form=form)
        return render(request, "processing/routing_rule_detail.html", context, status=422)
    services.routing_rule_regenerate_key(rule=rule, by=request.user)
    messages.success(request, "New routing key generated; update every sender that uses it.")
    return redirect("routing_rule_detail", routing_rule_id=rule.pk)


# --- routes ---------------------------------------------------------------------------------


def _route_form_page(
    request: AuthedRequest, rule: RoutingRule, route: Route | None
) -> HttpResponseBase:
    initial = (
        {"enabled": True}
        if route is None
        else {
            "name": route.name,
            "service": route.service,
            "enabled": route.enabled,
            "description": route.description,
        }
    )
    data = request.POST if request.method == "POST" else None
    form = RouteForm(data, initial=initial, user=request.user)
    editor = ConditionEditor(data, spec=route.conditions if route else None)
    saving = data is not None and "add_condition" not in data
    if saving and _valid(form, editor):
        fields = {**form.cleaned_data, "conditions": editor.spec}
        try:
            if route is None:
                services.route_create(rule=rule, by=request.user, **fields)
            else:
                services.route_update(route=route, by=request.user, **fields)
        except ValidationError as error:
            _saved(form, editor, error)
        else:
            messages.success(request, "Route saved.")
            return redirect("routing_rule_detail", routing_rule_id=rule.pk)
    context = {"form": form, "editor": editor, "rule": rule, "route": route, "active": "routing"}
    status = 422 if saving else 200
    return render(request, "processing/route_form.html", context, status=status)


def _valid(form: Any, editor: ConditionEditor) -> bool:
    form_ok = form.is_valid()
    return editor.is_valid() and form_ok


@require_http_methods(["GET", "POST"])
@login_required
def route_create(request: AuthedRequest, routing_rule_id: int) -> HttpResponseBase:
    """Add a route (last position) with its conditions."""
    rule = selectors.routing_rule_get(user=request.user, routing_rule_id=routing_rule_id)
    _require_manage(request, rule.team)
    return _route_form_page(request, rule, None)


@require_http_methods(["GET", "POST"])
@login_required
def route_edit(request: AuthedRequest, route_id: int) -> HttpResponseBase:
    """Edit a route's service, conditions, name, description, enabled flag."""
    route = selectors.route_get(user=request.user, route_id=route_id)
    _require_manage(request, route.routing_rule.team)
    return _route_form_page(request, route.routing_rule, route)


@require_http_methods(["GET", "POST"])
@login_required
def route_delete(request: AuthedRequest, route_id: int) -> HttpResponseBase:
    """Confirm (GET) and delete (POST) a route."""
    route = selectors.route_get(user=request.user, route_id=route_id)
    rule = route.routing_rule
    _require_manage(request, rule.team)
    if request.method == "POST":
        services.route_delete(route=route, by=request.user)
        messages.success(request, "Route deleted.")
        return redirect("routing_rule_detail", routing_rule_id=rule.pk)
    context = {
        "object_name": str(route),
        "what": "route",
        "consequence": "Events it matched go to the next matching route or the default service.",
        "cancel_url": rule_url(rule),
        "active": "routing",
    }
    return render(request, "processing/confirm_delete.html", context)


@require_POST
@login_required
def route_move(request: AuthedRequest, route_id: int) -> HttpResponseBase:
    """Move a route up or down (`direction`) or to `position` (0-based)."""
    route = selectors.route_get(user=request.user, route_id=route_id)
    _require_manage(request, route.routing_rule.team)
    services.route_move(route=route, position=_position(request, route.position), by=request.user)
    return redirect("routing_rule_detail", routing_rule_id=route.routing_rule_id)


@require_POST
@login_required
def route_toggle(request: AuthedRequest, route_id: int) -> HttpResponseBase:
    """Enable (`enabled=1`) or disable (`enabled=0`) a route."""
    route = selectors.route_get(user=request.user, route_id=route_id)
    _require_manage(request, route.routing_rule.team)
    enabled = request.POST.get("enabled") == "1"
    services.route_set_enabled(route=route, by=request.user, enabled=enabled)
    messages.success(request, f"{route} {'enabled' if enabled else 'disabled'}.")
    return redirect("routing_rule_detail", routing_rule_id=route.routing_rule_id)


# --- event orchestrations -------------------------------------------------------------------


def _orchestration_initial(orchestration: EventOrchestration | None) -> dict[str, Any]:
    if orchestration is None:
        return {"enabled": True}
    initial = {name: getattr(orchestration, name) for name in services.ORCHESTRATION_FIELDS}
    initial["notify_users"] = orchestration.notify_user_ids
    return initial


def _orchestration_fields(
    data: dict[str, Any], spec: dict[str, Any]
) -> services.OrchestrationFields:
    values = dict(data)
    values["notify_user_ids"] = [user.pk for user in values.pop("notify_users", [])]
    for name in ("urgency", "auto_resolve", "escalate"):
        values[name] = values.get(name) or ""
    return services.OrchestrationFields(conditions=spec, **values)


def _orchestration_form_page(
    request: AuthedRequest, service: Any, orchestration: EventOrchestration | None
) -> HttpResponseBase:
    data = request.POST if request.method == "POST" else None
    initial = _orchestration_initial(orchestration)
    form = OrchestrationForm(data, initial=initial, user=request.user)
    editor = ConditionEditor(data, spec=orchestration.conditions if orchestration else None)
    saving = data is not None and "add_condition" not in data
    if saving and _valid(form, editor):
        fields = _orchestration_fields(form.cleaned_data, editor.spec)
        try:
            if orchestration is None:
                services.orchestration_create(service=service, by=request.user, fields=fields)
            else:
                services.orchestration_update(
                    orchestration=orchestration, by=request.user, fields=fields
                )
        except ValidationError as error:
            _saved(form, editor, error)
        else:
            messages.success(request, f"Event orchestration “{fields.name}” saved.")
            return redirect("service_detail", service_id=service.pk)
    context = {
        "form": form,
        "editor": editor,
        "service": service,
        "orchestration": orchestration,
        "active": "services",
    }
    status = 422 if saving else 200
    return render(request, "processing/orchestration_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def orchestration_create(request: AuthedRequest, service_id: int) -> HttpResponseBase:
    """Add an event orchestration to a service (evaluated last)."""
    service = service_get(user=request.user, service_id=service_id)
    _require_manage(request, service.team)
    return _orchestration_form_page(request, service, None)


@require_http_methods(["GET", "POST"])
@login_required
def orchestration_edit(request: AuthedRequest, orchestration_id: int) -> HttpResponseBase:
    """Edit an orchestration's conditions and transformations."""
    orchestration = selectors.orchestration_get(
        user=request.user, orchestration_id=orchestration_id
    )
    _require_manage(request, orchestration.service.team)
    return _orchestration_form_page(request, orchestration.service, orchestration)


@require_http_methods(["GET", "POST"])
@login_required
def orchestration_delete(request: AuthedRequest, orchestration_id: int) -> HttpResponseBase:
    """Confirm (GET) and delete (POST) an orchestration."""
    orchestration = selectors.orchestration_get(
        user=request.user, orchestration_id=orchestration_id
    )
    service = orchestration.service
    _require_manage(request, service.team)
    if request.method == "POST":
        services.orchestration_delete(orchestration=orchestration, by=request.user)
        messages.success(request, f"Event orchestration “{orchestration.name}” deleted.")
        return redirect("service_detail", service_id=service.pk)
    context = {
        "object_name": orchestration.name,
        "what": "event orchestration",
        "consequence": f"Events of {service.name} are no longer changed by it.",
        "cancel_url": f"/services/{service.pk}/",
        "active": "services",
    }
    return render(request, "processing/confirm_delete.html", context)


@require_POST
@login_required
def orchestration_move(request: AuthedRequest, orchestration_id: int) -> HttpResponseBase:
    """Move an orchestration up or down (`direction`) or to `position` (0-based)."""
    orchestration = selectors.orchestration_get(
        user=request.user, orchestration_id=orchestration_id
    )
    _require_manage(request, orchestration.service.team)
    position = _position(request, orchestration.position)
    services.orchestration_move(orchestration=orchestration, position=position, by=request.user)
    return redirect("service_detail", service_id=orchestration.service_id)


@require_POST
@login_required
def orchestration_toggle(request: AuthedRequest, orchestration_id: int) -> HttpResponseBase:
    """Enable (`enabled=1`) or disable (`enabled=0`) an orchestration."""
    orchestration = selectors.orchestration_get(
        user=request.user, orchestration_id=orchestration_id
    )
    _require_manage(request, orchestration.service.team)
    enabled = request.POST.get("enabled") == "1"
    services.orchestration_set_enabled(
        orchestration=orchestration, by=request.user, enabled=enabled
    )
    return redirect("service_detail", service_id=orchestration.service_id)
