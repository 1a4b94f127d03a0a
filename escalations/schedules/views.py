"""Schedule pages: list, create, edit, delete; the schedule page (layers, timeline, overrides,
calendar feed); the layer editor with its rotation preview; feed link rotation.

Everyone sees the schedules of their teams (owners: all); owners and members of the owning
team edit them (others get 403, like the policy pages). Writes go through
`escalations.schedules.services`; refused input answers 422 with per-field errors.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.http import Http404, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from escalations.models import Schedule, ScheduleLayer, ScheduleOverride
from escalations.schedules import display, selectors, services
from escalations.schedules.forms import LayerForm, OverrideForm, ScheduleForm, layer_initial
from opsduty.selectors import team_manageable_list
from opsduty.services import can_manage_team
from opsduty.tenancy import get_for_org_or_404, scoped
from opsduty.views.common import (
    AuthedRequest,
    Deletion,
    add_validation_error,
    delete_with_confirmation,
    is_htmx,
)
from opsduty.views.profile import ProfileSection, profile_context

ACTIVE = "schedules"
# The profile's section of ours (registered in EscalationsConfig.ready).
PROFILE_SECTION = ProfileSection(label="Calendar feeds", url_name="profile_calendars")


def _require_manage(request: AuthedRequest, schedule: Schedule) -> None:
    if not can_manage_team(request.user, schedule.team):
        raise PermissionDenied("Only owners and members of the owning team can edit it.")


def _schedule(request: AuthedRequest, schedule_id: int) -> Schedule:
    return selectors.schedule_get(user=request.user, schedule_id=schedule_id)


def _layer(request: AuthedRequest, layer_id: int) -> ScheduleLayer:
    """The current version of a layer of a visible schedule (any version's id), or 404."""
    schedule_id = (
        scoped(ScheduleLayer, request.organization)
        .filter(pk=layer_id)
        .values_list("schedule_id", flat=True)
        .first()
    )
    if schedule_id is None:
        raise Http404("Not found.")
    schedule = _schedule(request, schedule_id)
    return selectors.layer_get(schedule=schedule, layer_id=layer_id)


def _override(request: AuthedRequest, override_id: int) -> ScheduleOverride:
    visible = selectors.schedule_visible_list(user=request.user)
    overrides = ScheduleOverride.objects.filter(schedule__in=visible).select_related(
        "schedule", "schedule__team", "user"
    )
    return get_for_org_or_404(overrides, request.organization, pk=override_id)


# --- schedules ------------------------------------------------------------------------------


@require_GET
@login_required
def schedule_list(request: AuthedRequest) -> HttpResponse:
    """Visible schedules with their team, zone and who is on call right now."""
    now = timezone.now()
    schedules = list(
        selectors.schedule_visible_list(user=request.user)
        .select_related("team")
        .order_by("name", "id")
    )
    # One user query for the whole page, not one per schedule.
    ids = selectors.oncall_user_ids_many(schedules, now)
    users = {user.pk: user for user in selectors.responders(pk for v in ids.values() for pk in v)}
    rows = [
        (schedule, [users[pk] for pk in ids[schedule.pk] if pk in users]) for schedule in schedules
    ]
    context = {
        "rows": rows,
        "can_create": team_manageable_list(user=request.user).exists(),
        "active": ACTIVE,
    }
    return render(request, "escalations/schedule_list.html", context)


def _save_schedule(
    request: AuthedRequest, form: ScheduleForm, schedule: Schedule | None
) -> Schedule | None:
    data = form.cleaned_data
    fields = {"name": data["name"], "description": data["description"]}
    try:
        if schedule is None:
            return services.schedule_create(
                team=data["team"], by=request.user, timezone_name=data["timezone"], **fields
            )
        return services.schedule_update(
            schedule=schedule, by=request.user, timezone_name=data["timezone"], **fields
        )
    except ValidationError as error:
        add_validation_error(form, error)
    except IntegrityError:
        form.add_error("name", "A schedule with this name already exists.")
    return None


def _schedule_form_page(request: AuthedRequest, schedule: Schedule | None) -> HttpResponseBase:
    initial: dict[str, Any] = {"timezone": "UTC"}
    if schedule is not None:
        initial = {
            "name": schedule.name,
            "description": schedule.description,
            "timezone": schedule.timezone,
        }
    teams = team_manageable_list(user=request.user) if schedule is None else None
    form = ScheduleForm(request.POST or None, initial=initial, teams=teams)
    if request.method == "POST" and form.is_valid():
        saved = _save_schedule(request, form, schedule)
        if saved is not None:
            messages.success(request, f"Schedule “{saved.name}” saved.")
            return redirect("schedule_detail", schedule_id=saved.pk)
        if schedule is not None:
            schedule.refresh_from_db()
    context = {"form": form, "schedule": schedule, "active": ACTIVE}
    status = 422 if form.is_bound else 200
    return render(request, "escalations/schedule_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def schedule_create(request: AuthedRequest) -> HttpResponseBase:
    """Create a schedule owned by a team the user manages."""
    if not team_manageable_list(user=request.user).exists():
        raise PermissionDenied("You are not a member of a team that could own a schedule.")
    return _schedule_form_page(request, None)


@require_http_methods(["GET", "POST"])
@login_required
def schedule_edit(request: AuthedRequest, schedule_id: int) -> HttpResponseBase:
    """Rename, describe, or change the zone (layers follow the new zone from now on)."""
    schedule = _schedule(request, schedule_id)
    _require_manage(request, schedule)
    return _schedule_form_page(request, schedule)


@require_http_methods(["GET", "POST"])
@login_required
def schedule_delete(request: AuthedRequest, schedule_id: int) -> HttpResponseBase:
    """Confirm (GET) and delete (POST); refused while an escalation policy notifies it."""
    schedule = _schedule(request, schedule_id)
    _require_manage(request, schedule)
    deletion = Deletion(
        object_name=schedule.name,
        what="schedule",
        consequence="Its layers, overrides and calendar feeds are deleted too.",
        cancel_url=reverse("schedule_detail", kwargs={"schedule_id": schedule.pk}),
        done_url=reverse("schedules"),
        active=ACTIVE,
    )
    return delete_with_confirmation(
        request, deletion, lambda: services.schedule_delete(schedule=schedule, by=request.user)
    )


def _override_form(request: AuthedRequest, schedule: Schedule) -> OverrideForm:
    initial = {
        "start": request.GET.get("override_start", ""),
        "end": request.GET.get("override_end", ""),
    }
    return OverrideForm(initial=initial, schedule=schedule)


def _detail_context(
    request: AuthedRequest, schedule: Schedule, override_form: OverrideForm | None = None
) -> dict[str, Any]:
    now = timezone.now()
    zone = schedule.timezone
    window = display.window_for(now, zone, request.GET.get("start"))
    timeline = selectors.schedule_timeline(schedule, window.start, window.end)
    layers = selectors.current_layers(schedule)
    ids = display.shift_user_ids(timeline) | {pk for la in layers for g in la.groups for pk in g}
    users = display.users_by_id(ids)
    layer_rows, override_row, final_row = display.timeline_rows(timeline, window, zone, users)
    return {
        "schedule": schedule,
        "can_manage": can_manage_team(request.user, schedule.team),
        **_oncall_context(schedule, now),
        "layers": [(layer, display.layer_summary(layer, users)) for layer in layers],
        "window": window,
        "now_position": f"{window.position(now):.4f}",
        "ticks": display.month_ticks(window, zone),
        "layer_rows": layer_rows,
        "override_row": override_row,
        "final_row": final_row,
        "final_table": display.final_table(timeline.final, zone, users, now),
        "gaps": [(display.to_local(s, zone), display.to_local(e, zone)) for s, e in timeline.gaps],
        "overrides": [
            (o, display.to_local(o.start, zone), display.to_local(o.end, zone), o.end > now)
            for o in selectors.override_list(schedule=schedule, since=window.start)
        ],
        "override_form": override_form or _override_form(request, schedule),
        "feed": services.feed_get_or_create(user=request.user, schedule=schedule),
        "active": ACTIVE,
    }


def _oncall_context(schedule: Schedule, now: datetime) -> dict[str, Any]:
    return {
        "schedule": schedule,
        "oncall": selectors.oncall_users(schedule, now),
        "oncall_until": selectors.oncall_next_change(schedule, now),
    }


@require_GET
@login_required
def schedule_detail(request: AuthedRequest, schedule_id: int) -> HttpResponse:
    """The schedule: who is on call, layers, timeline, overrides and the calendar feed.

    `?part=oncall` answers only who is on call (the page's live refresh)."""
    schedule = _schedule(request, schedule_id)
    if request.GET.get("part") == "oncall":
        context = _oncall_context(schedule, timezone.now())
        return render(request, "escalations/_schedule_oncall.html", context)
    return render(request, "escalations/schedule_detail.html", _detail_context(request, schedule))


# --- layers ---------------------------------------------------------------------------------


def _layer_form(
    request: AuthedRequest, schedule: Schedule, layer: ScheduleLayer | None
) -> LayerForm:
    if request.method != "POST":
        initial = layer_initial(layer) if layer is not None else {"interval": 1}
        return LayerForm(initial=initial, team=schedule.team)
    count = None
    if "add_group" in request.POST:
        try:
            count = int(request.POST.get("group_count") or 1) + 1
        except ValueError:
            count = 2
    return LayerForm(request.POST, team=schedule.team, group_count=count)


def _layer_form_page(
    request: AuthedRequest,
    schedule: Schedule,
    layer: ScheduleLayer | None,
    form: LayerForm,
    *,
    preview: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "form": form,
        "schedule": schedule,
        "layer": layer,
        "preview": preview,
        "active": ACTIVE,
    }
    return render(request, "escalations/schedule_layer_form.html", context, status=status)


def _save_layer(
    request: AuthedRequest, schedule: Schedule, layer: ScheduleLayer | None
) -> HttpResponseBase:
    form = _layer_form(request, schedule, layer)
    if request.method == "POST" and "add_group" not in request.POST and form.is_valid():
        try:
            if layer is None:
                services.layer_create(schedule=schedule, by=request.user, data=form.layer_input())
            else:
                services.layer_update(layer=layer, by=request.user, data=form.layer_input())
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, f"Layer “{form.cleaned_data['name']}” saved.")
            return redirect("schedule_detail", schedule_id=schedule.pk)
    status = 422 if form.is_bound and form.errors else 200
    return _layer_form_page(request, schedule, layer, form, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def layer_create(request: AuthedRequest, schedule_id: int) -> HttpResponseBase:
    """Add a layer on top of the others (it must start in the future)."""
    schedule = _schedule(request, schedule_id)
    _require_manage(request, schedule)
    return _save_layer(request, schedule, None)


@require_http_methods(["GET", "POST"])
@login_required
def layer_edit(request: AuthedRequest, layer_id: int) -> HttpResponseBase:
    """Change a layer from now on (shifts that already started stay)."""
    layer = _layer(request, layer_id)
    _require_manage(request, layer.schedule)
    return _save_layer(request, layer.schedule, layer)


def _preview(
    request: AuthedRequest, schedule: Schedule, layer: ScheduleLayer | None
) -> HttpResponse:
    form = LayerForm(request.POST, team=schedule.team)
    preview: dict[str, Any] = {"shifts": [], "errors": []}
    if form.is_valid():
        data = form.layer_input()
        moved = layer is None or (data.start_date, data.handoff_time) != (
            layer.start_date,
            layer.handoff_time,
        )
        try:
            rows = services.layer_preview(
                schedule=schedule, data=data, now=timezone.now(), start_must_be_future=moved
            )
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            preview["shifts"] = display.preview_rows(rows, schedule.timezone)
    preview["errors"] = [
        (form.fields[name].label if name in form.fields else "", message)
        for name, errors in form.errors.items()
        for message in errors
    ]
    if is_htmx(request):
        context = {"preview": preview, "schedule": schedule}
        return render(request, "escalations/schedule_layer_preview.html", context)
    status = 422 if form.errors else 200
    return _layer_form_page(request, schedule, layer, form, preview=preview, status=status)


@require_POST
@login_required
def layer_preview_new(request: AuthedRequest, schedule_id: int) -> HttpResponse:
    """The next shifts of the layer being added, without saving (htmx fragment)."""
    schedule = _schedule(request, schedule_id)
    _require_manage(request, schedule)
    return _preview(request, schedule, None)


@require_POST
@login_required
def layer_preview_edit(request: AuthedRequest, layer_id: int) -> HttpResponse:
    """The next shifts of the layer being edited, without saving (htmx fragment)."""
    layer = _layer(request, layer_id)
    _require_manage(request, layer.schedule)
    return _preview(request, layer.schedule, layer)


@require_http_methods(["GET", "POST"])
@login_required
def layer_delete(request: AuthedRequest, layer_id: int) -> HttpResponseBase:
    """Confirm (GET) and delete (POST): the layer ends now; its past shifts stay."""
    layer = _layer(request, layer_id)
    schedule = layer.schedule
    _require_manage(request, schedule)
    deletion = Deletion(
        object_name=layer.name,
        what="layer",
        consequence="It ends now; the shifts it already had stay in the schedule's history.",
        cancel_url=reverse("schedule_detail", kwargs={"schedule_id": schedule.pk}),
        done_url=reverse("schedule_detail", kwargs={"schedule_id": schedule.pk}),
        active=ACTIVE,
    )
    return delete_with_confirmation(
        request, deletion, lambda: services.layer_delete(layer=layer, by=request.user)
    )


@require_POST
@login_required
def layer_move(request: AuthedRequest, layer_id: int) -> HttpResponseBase:
    """Raise (`direction=up`) or lower a layer's priority by one place, from now on."""
    layer = _layer(request, layer_id)
    _require_manage(request, layer.schedule)
    services.layer_move(layer=layer, by=request.user, up=request.POST.get("direction") == "up")
    return redirect("schedule_detail", schedule_id=layer.schedule_id)


# --- overrides ------------------------------------------------------------------------------


@require_POST
@login_required
def override_create(request: AuthedRequest, schedule_id: int) -> HttpResponseBase:
    """Put a responder on call over every layer (local times of the schedule's zone)."""
    schedule = _schedule(request, schedule_id)
    _require_manage(request, schedule)
    form = OverrideForm(request.POST, schedule=schedule)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.override_create(
                schedule=schedule,
                by=request.user,
                user=data["user"],
                start=services.localize(data["start"], schedule.timezone),
                end=services.localize(data["end"], schedule.timezone),
            )
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, f"Override for {data['user'].get_full_name()} added.")
            return redirect(reverse("schedule_detail", args=[schedule.pk]) + "#overrides")
    context = _detail_context(request, schedule, override_form=form)
    return render(request, "escalations/schedule_detail.html", context, status=422)


@require_POST
@login_required
def override_delete(request: AuthedRequest, override_id: int) -> HttpResponseBase:
    """A future override goes, a running one ends now; a past one cannot change."""
    override = _override(request, override_id)
    schedule = override.schedule
    _require_manage(request, schedule)
    try:
        services.override_delete(override=override, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Override for {override.user.get_full_name()} removed.")
    return redirect(reverse("schedule_detail", args=[schedule.pk]) + "#overrides")


# --- calendar feeds -------------------------------------------------------------------------


@require_POST
@login_required
def schedule_feed_rotate(request: AuthedRequest, schedule_id: int) -> HttpResponseBase:
    """A new link for the user's feed of this schedule; the old one stops working."""
    schedule = _schedule(request, schedule_id)
    services.feed_rotate(user=request.user, schedule=schedule)
    messages.success(request, "New calendar link created; the old link no longer works.")
    return redirect(reverse("schedule_detail", args=[schedule.pk]) + "#subscribe")


@require_POST
@login_required
def my_feed_rotate(request: AuthedRequest) -> HttpResponseBase:
    """A new link for the user's "my shifts" feed; the old one stops working."""
    services.feed_rotate(user=request.user, schedule=None)
    messages.success(request, "New calendar link created; the old link no longer works.")
    return redirect(reverse(PROFILE_SECTION.url_name) + "#my-feed")


@require_GET
@login_required
def profile_calendars(request: AuthedRequest) -> HttpResponse:
    """The profile's "Calendar feeds" section: my shifts for 30 days and their webcal feed."""
    context = profile_context(PROFILE_SECTION.url_name, **display.my_shifts_context(request.user))
    return render(request, "escalations/profile_calendars.html", context)
