"""Labels: the list (everyone), create, edit, delete (owners: all; members: their teams'),
promote a team label to an organization label (owners)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from opsduty import selectors, services
from opsduty.forms import LabelForm
from opsduty.models import Label
from opsduty.views.common import (
    AuthedRequest,
    Deletion,
    action_reported,
    add_validation_error,
    delete_with_confirmation,
)


def _create_form(request: AuthedRequest, data: object = None) -> LabelForm | None:
    """The creation form, if the person may create a label anywhere."""
    teams = selectors.team_manageable_list(user=request.user)
    if not request.user.is_owner and not teams.exists():
        return None
    return LabelForm(data, teams=teams, owner=request.user.is_owner)


def _list_page(request: AuthedRequest, form: LabelForm | None, status: int = 200) -> HttpResponse:
    labels = list(selectors.label_list(organization=request.organization))
    # One read of the teams the person manages (services.can_manage_label's rule, per row).
    owner = request.user.is_owner
    teams = (
        set()
        if owner
        else set(selectors.team_manageable_list(user=request.user).values_list("pk", flat=True))
    )
    groups: dict[str, list[Label]] = {}
    for label in labels:
        label.can_manage = owner or label.team_id in teams  # type: ignore[attr-defined]
        groups.setdefault(label.group, []).append(label)
    context = {
        "groups": sorted(groups.items(), key=lambda item: (item[0] == "", item[0].casefold())),
        "group_names": sorted({label.group for label in labels if label.group}, key=str.casefold),
        "form": form,
        "active": "labels",
    }
    return render(request, "opsduty/labels.html", context, status=status)


@require_GET
@login_required
def label_list(request: AuthedRequest) -> HttpResponse:
    """Every label of the organization by group, with its colour and scope."""
    return _list_page(request, _create_form(request))


@require_POST
@login_required
def label_create(request: AuthedRequest) -> HttpResponseBase:
    form = _create_form(request, request.POST)
    if form is None:
        raise PermissionDenied("Only owners and team members create labels.")
    if form.is_valid():
        data = form.cleaned_data
        try:
            label = services.label_create(
                organization=request.organization,
                by=request.user,
                name=data["name"],
                color=data["color"],
                group=data["group"],
                team=data.get("team"),
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, f"Label “{label.name}” created.")
            return redirect("labels")
    return _list_page(request, form, status=422)


def _manageable(request: AuthedRequest, label_id: int) -> Label:
    label = selectors.label_get_or_404(organization=request.organization, label_id=label_id)
    if not services.can_manage_label(request.user, label):
        raise PermissionDenied("You cannot change this label.")
    return label


@require_http_methods(["GET", "POST"])
@login_required
def label_edit(request: AuthedRequest, label_id: int) -> HttpResponseBase:
    """Rename, recolour or regroup a label; everything carrying it keeps it."""
    label = _manageable(request, label_id)
    initial = {"name": label.name, "color": label.color, "group": label.group}
    form = LabelForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.label_update(
                label=label,
                by=request.user,
                name=data["name"],
                color=data["color"],
                group=data["group"],
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, f"Label “{label.name}” saved.")
            return redirect("labels")
        label.refresh_from_db()
    context = {
        "form": form,
        "label": label,
        "group_names": selectors.label_group_names(organization=request.organization),
        "active": "labels",
    }
    return render(request, "opsduty/label_form.html", context, status=422 if form.is_bound else 200)


@require_http_methods(["GET", "POST"])
@login_required
def label_delete(request: AuthedRequest, label_id: int) -> HttpResponseBase:
    """Confirm (GET, with how many incidents and services carry it) and delete (POST)."""
    label = _manageable(request, label_id)
    incidents = label.incidents.count()
    carried = label.services.count()
    deletion = Deletion(
        object_name=label.name,
        what="label",
        consequence=(
            f"It comes off {incidents} incident{'s' if incidents != 1 else ''}, {carried} "
            f"service{'s' if carried != 1 else ''} and every heartbeat carrying it. Alerts that "
            "name it later create it again as an organization label."
        ),
        cancel_url=reverse("labels"),
        done_url=reverse("labels"),
        active="labels",
    )
    return delete_with_confirmation(
        request, deletion, lambda: services.label_delete(label=label, by=request.user)
    )


@require_POST
@login_required
def label_promote(request: AuthedRequest, label_id: int) -> HttpResponse:
    """Make a team label an organization label (owners)."""
    label = selectors.label_get_or_404(organization=request.organization, label_id=label_id)
    return action_reported(
        request,
        lambda: services.label_promote(label=label, by=request.user),
        f"“{label.name}” is now an organization label: every team can use it.",
        "labels",
    )
