"""Escalation policy pages: list, create, edit, delete, and the editor (the detail page):
ordered steps with drag-to-reorder (Move up/down without JavaScript), add/edit/delete step.

Everyone sees the policies of their teams (owners: all); owners and members of the owning
team manage them. Writes go through `escalations.policies.services`; refused input answers 422
with per-field errors.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.http import HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from escalations.models import EscalationPolicy, EscalationStep, StepKind
from escalations.policies import selectors, services
from escalations.policies.forms import PolicyForm, StepForm, step_initial
from escalations.policies.text import step_describe
from opsduty.models import Team
from opsduty.selectors import team_manageable_list
from opsduty.services import can_manage_team
from opsduty.views.common import (
    AuthedRequest,
    Deletion,
    add_validation_error,
    delete_with_confirmation,
)

ACTIVE = "policies"


def _require_manage(request: AuthedRequest, team: Team) -> None:
    if not can_manage_team(request.user, team):
        raise PermissionDenied("Only owners and members of the owning team can manage it.")


@require_GET
@login_required
def policy_list(request: AuthedRequest) -> HttpResponse:
    """Visible policies with their team and numbers of steps and services."""
    context = {
        "policies": selectors.policy_list(user=request.user),
        "can_create": team_manageable_list(user=request.user).exists(),
        "active": ACTIVE,
    }
    return render(request, "escalations/policy_list.html", context)


@require_GET
@login_required
def policy_detail(request: AuthedRequest, policy_id: int) -> HttpResponse:
    """The editor: the ordered steps in plain language, and the services using the policy."""
    policy = selectors.policy_get(user=request.user, policy_id=policy_id)
    steps = list(policy.steps.all())
    context = {
        "policy": policy,
        "steps": [(step, step_describe(step)) for step in steps],
        "services": policy.services.order_by("name"),
        "kinds": StepKind.choices,
        "can_manage": can_manage_team(request.user, policy.team),
        "active": ACTIVE,
    }
    return render(request, "escalations/policy_detail.html", context)


def _save_policy(
    request: AuthedRequest, form: PolicyForm, policy: EscalationPolicy | None
) -> EscalationPolicy | None:
    data = form.cleaned_data
    fields = {"name": data["name"], "team": data["team"], "description": data["description"]}
    try:
        if policy is None:
            return services.policy_create(by=request.user, **fields)
        return services.policy_update(policy=policy, by=request.user, **fields)
    except ValidationError as error:
        add_validation_error(form, error)
    except IntegrityError:
        form.add_error("name", "An escalation policy with this name already exists.")
    return None


def _policy_form_page(request: AuthedRequest, policy: EscalationPolicy | None) -> HttpResponseBase:
    initial = (
        {}
        if policy is None
        else {"name": policy.name, "team": policy.team, "description": policy.description}
    )
    form = PolicyForm(
        request.POST or None,
        initial=initial,
        teams=team_manageable_list(user=request.user),
    )
    if request.method == "POST" and form.is_valid():
        saved = _save_policy(request, form, policy)
        if saved is not None:
            messages.success(request, f"Escalation policy “{saved.name}” saved.")
            return redirect("policy_detail", policy_id=saved.pk)
        if policy is not None:
            policy.refresh_from_db()
    status = 422 if form.is_bound else 200
    context = {"form": form, "policy": policy, "active": ACTIVE}
    return render(request, "escalations/policy_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def policy_create(request: AuthedRequest) -> HttpResponseBase:
    """Create a policy owned by a team the user manages."""
    if not team_manageable_list(user=request.user).exists():
        raise PermissionDenied("You are not a member of a team that could own a policy.")
    return _policy_form_page(request, None)


@require_http_methods(["GET", "POST"])
@login_required
def policy_edit(request: AuthedRequest, policy_id: int) -> HttpResponseBase:
    """Rename, describe, or move a policy to another team."""
    policy = selectors.policy_get(user=request.user, policy_id=policy_id)
    _require_manage(request, policy.team)
    return _policy_form_page(request, policy)


@require_http_methods(["GET", "POST"])
@login_required
def policy_delete(request: AuthedRequest, policy_id: int) -> HttpResponseBase:
    """Confirm (GET) and delete (POST); refused while a service uses the policy."""
    policy = selectors.policy_get(user=request.user, policy_id=policy_id)
    _require_manage(request, policy.team)
    deletion = Deletion(
        object_name=policy.name,
        what="escalation policy",
        consequence="Its steps are deleted too.",
        cancel_url=reverse("policy_detail", kwargs={"policy_id": policy.pk}),
        done_url=reverse("policies"),
        active=ACTIVE,
    )
    return delete_with_confirmation(
        request, deletion, lambda: services.policy_delete(policy=policy, by=request.user)
    )


# --- steps ----------------------------------------------------------------------------------


def _step_form_page(
    request: AuthedRequest, policy: EscalationPolicy, step: EscalationStep | None, kind: str
) -> HttpResponseBase:
    data = request.POST if request.method == "POST" else None
    initial = step_initial(step) if step is not None else {}
    form = StepForm(data, initial=initial, kind=kind, organization=request.organization)
    if data is not None and form.is_valid():
        try:
            if step is None:
                services.step_add(policy=policy, by=request.user, kind=kind, **form.step_fields())
            else:
                services.step_update(step=step, by=request.user, **form.step_fields())
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, "Step saved.")
            return redirect("policy_detail", policy_id=policy.pk)
    context = {
        "form": form,
        "policy": policy,
        "step": step,
        "kind_label": StepKind(kind).label,
        "active": ACTIVE,
    }
    return render(
        request, "escalations/step_form.html", context, status=422 if form.is_bound else 200
    )


@require_http_methods(["GET", "POST"])
@login_required
def step_create(request: AuthedRequest, policy_id: int) -> HttpResponseBase:
    """Add a step (last): without `kind` the page offers the step types, then their fields."""
    policy = selectors.policy_get(user=request.user, policy_id=policy_id)
    _require_manage(request, policy.team)
    kind = request.GET.get("kind") or request.POST.get("kind", "")
    if kind not in StepKind.values:
        context = {"policy": policy, "kinds": StepKind.choices, "active": ACTIVE}
        status = 422 if request.method == "POST" else 200
        return render(request, "escalations/step_kind.html", context, status=status)
    return _step_form_page(request, policy, None, kind)


@require_http_methods(["GET", "POST"])
@login_required
def step_edit(request: AuthedRequest, step_id: int) -> HttpResponseBase:
    """Edit a step's settings (its type stays; delete and add to change it)."""
    step = selectors.step_get(user=request.user, step_id=step_id)
    _require_manage(request, step.policy.team)
    return _step_form_page(request, step.policy, step, step.kind)


@require_http_methods(["GET", "POST"])
@login_required
def step_delete(request: AuthedRequest, step_id: int) -> HttpResponseBase:
    """Confirm (GET) and delete (POST) a step."""
    step = selectors.step_get(user=request.user, step_id=step_id)
    policy = step.policy
    _require_manage(request, policy.team)
    if request.method == "POST":
        services.step_delete(step=step, by=request.user)
        messages.success(request, f"{step} deleted.")
        return redirect("policy_detail", policy_id=policy.pk)
    context = {
        "object_name": f"{step}: {step_describe(step)}",
        "what": "step",
        "consequence": "The steps after it move up.",
        "cancel_url": reverse("policy_detail", kwargs={"policy_id": policy.pk}),
        "active": ACTIVE,
    }
    return render(request, "processing/confirm_delete.html", context)


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


@require_POST
@login_required
def step_move(request: AuthedRequest, step_id: int) -> HttpResponseBase:
    """Move a step up or down (`direction`) or to `position` (0-based): the no-JS reorder."""
    step = selectors.step_get(user=request.user, step_id=step_id)
    _require_manage(request, step.policy.team)
    services.step_move(step=step, position=_position(request, step.position), by=request.user)
    return redirect("policy_detail", policy_id=step.policy_id)


def _step_ids(values: list[str]) -> list[int] | None:
    try:
        return [int(value) for value in values]
    except ValueError:
        return None


@require_POST
@login_required
def step_reorder(request: AuthedRequest, policy_id: int) -> HttpResponseBase:
    """The editor's drop: `step` repeated, every step id of the policy in the new order.

    Answers JSON: `{"order": [...]}` or 422 `{"errors": {"order": [...]}}`.
    """
    policy = selectors.policy_get(user=request.user, policy_id=policy_id)
    _require_manage(request, policy.team)
    step_ids = _step_ids(request.POST.getlist("step"))
    try:
        if step_ids is None:
            raise ValidationError({"order": "Step ids must be whole numbers."})
        ordered = services.step_reorder(policy=policy, step_ids=step_ids, by=request.user)
    except ValidationError as error:
        errors: dict[str, Any] = error.message_dict
        return JsonResponse({"errors": errors}, status=422)
    return JsonResponse({"order": [step.pk for step in ordered]})
