"""Heartbeat pages: list (state of every environment, filter by service), create, edit,
delete; the heartbeat page (check-in URLs, environments, check-in history); the environment
editor (every environment in one form, saved all or nothing), an environment's deletion and
"copy this environment's settings to all others".

Visibility follows the service (owners: all; others: their teams' services); owners and
members of the service's team edit (others get 403, like the schedule pages). Writes go
through `signals.heartbeats.services`; refused input answers 422 with per-field (per-row) errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.db.models import Model
from django.http import HttpResponse, HttpResponseBase, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from opsduty.choices import OPEN_STATUSES
from opsduty.models import Label
from opsduty.paging import page_of
from opsduty.selectors import service_visible_list, timezone_names
from opsduty.services import can_manage_team
from opsduty.views.common import (
    AuthedRequest,
    Deletion,
    add_validation_error,
    delete_with_confirmation,
    is_htmx,
)
from signals.heartbeats import selectors, services
from signals.heartbeats.forms import (
    BaseEnvironmentFormSet,
    EnvironmentFormSet,
    HeartbeatFilterForm,
    HeartbeatForm,
    environment_initial,
)
from signals.heartbeats.models import Heartbeat, HeartbeatState

ACTIVE = "heartbeats"
CHECKIN_PREFIX = "/heartbeats/checkin/"
FORMSET_PREFIX = "env"


def checkin_url(heartbeat: Heartbeat, environment: str | None = None) -> str:
    """The path of the public check-in URL: `/heartbeats/checkin/<key>/[<environment>/]`.

    The format is fixed by the public client; the view that answers it lives in the API
    work, so the path is built here rather than reversed.
    """
    path = f"{CHECKIN_PREFIX}{heartbeat.public_primary_key}/"
    if environment is not None:
        path += f"{quote(environment, safe=':@')}/"
    return path


def _require_manage(request: AuthedRequest, heartbeat: Heartbeat) -> None:
    if not can_manage_team(request.user, heartbeat.service.team):
        raise PermissionDenied("Only owners and members of the service's team can edit it.")


@dataclass(frozen=True)
class EnvironmentRow:
    """An environment as the pages show it."""

    state: HeartbeatState
    status: str
    url: str
    incident: Model | None  # the open incident its misses opened (an incidents.Incident)


def _open_incident(state: HeartbeatState) -> Model | None:
    incident = state.incident if state.incident_id else None
    return incident if incident is not None and incident.status in OPEN_STATUSES else None


def _rows(request: AuthedRequest, heartbeat: Heartbeat, now: datetime) -> list[EnvironmentRow]:
    return [
        EnvironmentRow(
            state,
            services.state_status(state, now),
            request.build_absolute_uri(checkin_url(heartbeat, state.environment)),
            _open_incident(state),
        )
        for state in heartbeat.states.all()
    ]


# --- list -----------------------------------------------------------------------------------


def _service_filter(request: AuthedRequest) -> int | None:
    raw = request.GET.get("service") or ""
    return int(raw) if raw.isdigit() else None


@require_GET
@login_required
def heartbeat_list(request: AuthedRequest) -> HttpResponse:
    """Visible heartbeats with their service and each environment's state (htmx: the table)."""
    now = timezone.now()
    service_id = _service_filter(request)
    heartbeats = page_of(
        selectors.heartbeat_visible_list(user=request.user, service_id=service_id),
        request.GET,
        ordering=("service__name", "name", "id"),
    )
    services = service_visible_list(user=request.user).order_by("name", "id")
    context = {
        "rows": [(hb, _rows(request, hb, now)) for hb in heartbeats],
        "page": heartbeats,
        "filter_form": HeartbeatFilterForm(initial={"service": service_id}, services=services),
        "service_id": service_id,
        "can_create": selectors.heartbeat_manageable_services(user=request.user).exists(),
        "now": now,
        "active": ACTIVE,
    }
    if is_htmx(request):
        return render(request, "signals/_heartbeat_table.html", context)
    return render(request, "signals/heartbeat_list.html", context)


# --- create, edit, delete -------------------------------------------------------------------


def _save_heartbeat(
    request: AuthedRequest, form: HeartbeatForm, heartbeat: Heartbeat | None
) -> Heartbeat | None:
    data = form.cleaned_data
    fields = {
        "name": data["name"],
        "description": data["description"],
        "link": data["link"] or None,
        "incident_urgency": data["incident_urgency"],
        "labels": data["labels"],
    }
    try:
        if heartbeat is None:
            return services.heartbeat_create(service=data["service"], by=request.user, **fields)
        return services.heartbeat_update(
            heartbeat=heartbeat, by=request.user, service=data["service"], **fields
        )
    except ValidationError as error:
        add_validation_error(form, error)
    except IntegrityError:
        form.add_error("name", "This service already has a heartbeat with this name.")
    return None


def _heartbeat_form_page(request: AuthedRequest, heartbeat: Heartbeat | None) -> HttpResponseBase:
    manageable = selectors.heartbeat_manageable_services(user=request.user)
    initial: dict[str, Any] = {}
    if heartbeat is not None:
        initial = {
            "service": heartbeat.service,
            "name": heartbeat.name,
            "description": heartbeat.description,
            "link": heartbeat.link or "",
            "incident_urgency": heartbeat.incident_urgency,
            "labels": list(
                Label.objects.filter(organization=heartbeat.organization, name__in=heartbeat.labels)
            ),
        }
    elif (service_id := _service_filter(request)) is not None:
        initial["service"] = manageable.filter(pk=service_id).first()
    form = HeartbeatForm(request.POST or None, initial=initial, services=manageable)
    if request.method == "POST" and form.is_valid():
        saved = _save_heartbeat(request, form, heartbeat)
        if saved is not None:
            messages.success(request, f"Heartbeat “{saved.name}” saved.")
            return redirect("heartbeat_detail", heartbeat_id=saved.pk)
        if heartbeat is not None:
            heartbeat.refresh_from_db()
    context = {"form": form, "heartbeat": heartbeat, "active": ACTIVE}
    status = 422 if form.is_bound else 200
    return render(request, "signals/heartbeat_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def heartbeat_create(request: AuthedRequest) -> HttpResponseBase:
    """Create a heartbeat on a service the user manages."""
    if not selectors.heartbeat_manageable_services(user=request.user).exists():
        raise PermissionDenied("You manage no service that could have a heartbeat.")
    return _heartbeat_form_page(request, None)


@require_http_methods(["GET", "POST"])
@login_required
def heartbeat_edit(request: AuthedRequest, heartbeat_id: int) -> HttpResponseBase:
    """Change the name, description, link, urgency, labels or service of a heartbeat."""
    heartbeat = selectors.heartbeat_get(user=request.user, heartbeat_id=heartbeat_id)
    _require_manage(request, heartbeat)
    return _heartbeat_form_page(request, heartbeat)


@require_http_methods(["GET", "POST"])
@login_required
def heartbeat_delete(request: AuthedRequest, heartbeat_id: int) -> HttpResponseBase:
    """Confirm (GET) and delete (POST) a heartbeat with its environments and check-ins."""
    heartbeat = selectors.heartbeat_get(user=request.user, heartbeat_id=heartbeat_id)
    _require_manage(request, heartbeat)
    deletion = Deletion(
        object_name=heartbeat.name,
        what="heartbeat",
        consequence=(
            "Its environments and check-in history are deleted; check-ins to its URLs are "
            "refused from then on. Incidents it opened stay."
        ),
        cancel_url=reverse("heartbeat_detail", kwargs={"heartbeat_id": heartbeat.pk}),
        done_url=reverse("heartbeats"),
        active=ACTIVE,
    )
    return delete_with_confirmation(
        request, deletion, lambda: services.heartbeat_delete(heartbeat=heartbeat, by=request.user)
    )


# --- the heartbeat page ---------------------------------------------------------------------


@require_GET
@login_required
def heartbeat_detail(request: AuthedRequest, heartbeat_id: int) -> HttpResponse:
    """The heartbeat: check-in URLs, each environment's state and the check-in history."""
    heartbeat = selectors.heartbeat_get(user=request.user, heartbeat_id=heartbeat_id)
    now = timezone.now()
    rows = _rows(request, heartbeat, now)
    context = {
        "heartbeat": heartbeat,
        "can_manage": can_manage_team(request.user, heartbeat.service.team),
        "rows": rows,
        "single_url": (
            request.build_absolute_uri(checkin_url(heartbeat)) if len(rows) == 1 else None
        ),
        "history": selectors.checkin_history(heartbeat=heartbeat),
        "history_size": selectors.HISTORY_SHOWN,
        "now": now,
        "active": ACTIVE,
    }
    return render(request, "signals/heartbeat_detail.html", context)


# --- the environment editor -----------------------------------------------------------------


def _with_spare_row(data: QueryDict) -> QueryDict:
    """The posted editor with one more blank row (the "Add a row" button)."""
    data = data.copy()
    total_key = f"{FORMSET_PREFIX}-TOTAL_FORMS"
    try:
        total = int(data.get(total_key) or 0)
    except ValueError:
        total = 0
    data[total_key] = str(total + 1)
    row = f"{FORMSET_PREFIX}-{total}-"
    data.update({f"{row}type": "interval", f"{row}cron_timezone": "UTC"})
    data.update({f"{row}timeout_seconds": "0", f"{row}resolve_incident": "on"})
    return data


def _row_errors(formset: BaseEnvironmentFormSet, error: ValidationError) -> list[str]:
    """Put states_bulk_save's "<environment>: <field>" errors on the row they are about; the
    messages of no row are returned."""
    forms_by_name = {
        form.cleaned_data.get("environment"): form
        for form in formset.forms
        if getattr(form, "cleaned_data", None)
    }
    leftovers: list[str] = []
    for key, problems in getattr(error, "error_dict", {"": error.error_list}).items():
        name, _, field = key.rpartition(": ")
        form = forms_by_name.get(name)
        if form is None:
            leftovers.extend(message for problem in problems for message in problem.messages)
        else:
            form.add_error(field if field in form.fields else None, problems)
    return leftovers


def _save_environments(
    request: AuthedRequest, heartbeat: Heartbeat, formset: BaseEnvironmentFormSet
) -> list[str] | None:
    """Save the new and changed rows at once; None, or the errors of no particular row."""
    rows = formset.changed_rows()
    environments = {form.cleaned_data["environment"]: form.state_input() for form in rows}
    try:
        services.states_bulk_save(heartbeat=heartbeat, by=request.user, environments=environments)
    except ValidationError as error:
        return _row_errors(formset, error)
    except IntegrityError:  # another editor added the same name between our check and write
        return ["Another change to these environments came first: reload and try again."]
    if environments:
        messages.success(request, f"Environments of “{heartbeat.name}” saved.")
    else:
        messages.info(request, "Nothing changed.")
    return None


@require_http_methods(["GET", "POST"])
@login_required
def heartbeat_environments(request: AuthedRequest, heartbeat_id: int) -> HttpResponseBase:
    """Edit every environment at once and add new ones; saved all or nothing."""
    heartbeat = selectors.heartbeat_get(user=request.user, heartbeat_id=heartbeat_id)
    _require_manage(request, heartbeat)
    states = list(heartbeat.states.all())
    initial = [environment_initial(state) for state in states]
    adding = request.method == "POST" and "add_row" in request.POST
    data = _with_spare_row(request.POST) if adding else request.POST or None
    formset = EnvironmentFormSet(data, initial=initial, prefix=FORMSET_PREFIX)
    save_errors: list[str] = []
    if request.method == "POST" and not adding and formset.is_valid():
        problems = _save_environments(request, heartbeat, formset)
        if problems is None:
            return redirect(reverse("heartbeat_detail", args=[heartbeat.pk]) + "#environments")
        save_errors = problems
    existing = {state.environment: state for state in states}
    context = {
        "heartbeat": heartbeat,
        "formset": formset,
        "save_errors": save_errors,
        "rows": [(form, existing.get(form.initial.get("environment", ""))) for form in formset],
        "timezones": sorted(timezone_names()),
        "interval_max": services.INTERVAL_MAX,
        "timeout_max": services.TIMEOUT_MAX,
        "active": ACTIVE,
    }
    status = 422 if formset.is_bound and not adding else 200
    return render(request, "signals/heartbeat_environments.html", context, status=status)


def _state(request: AuthedRequest, state_id: int) -> HeartbeatState:
    state = selectors.heartbeat_state_get(user=request.user, state_id=state_id)
    _require_manage(request, state.heartbeat)
    return state


@require_http_methods(["GET", "POST"])
@login_required
def heartbeat_state_delete(request: AuthedRequest, heartbeat_state_id: int) -> HttpResponseBase:
    """Confirm (GET) and delete (POST) one environment and its check-ins."""
    state = _state(request, heartbeat_state_id)
    heartbeat = state.heartbeat
    editor = reverse("heartbeat_environments", kwargs={"heartbeat_id": heartbeat.pk})
    deletion = Deletion(
        object_name=state.environment,
        what="environment",
        consequence=(
            f"“{heartbeat.name}” stops watching it; its check-in history is deleted and "
            "check-ins to its URL are refused. Incidents it opened stay."
        ),
        cancel_url=editor,
        done_url=editor,
        active=ACTIVE,
    )
    return delete_with_confirmation(
        request, deletion, lambda: services.state_delete(state=state, by=request.user)
    )


@require_http_methods(["GET", "POST"])
@login_required
def heartbeat_state_copy(request: AuthedRequest, heartbeat_state_id: int) -> HttpResponseBase:
    """Confirm (GET) and copy (POST) one environment's schedule and alerting settings to
    every other environment of its heartbeat."""
    state = _state(request, heartbeat_state_id)
    heartbeat = state.heartbeat
    if request.method == "POST":
        count = services.states_copy_config(source=state, by=request.user)
        messages.success(
            request,
            f"Settings of “{state.environment}” copied to {count} other "
            f"environment{'s' if count != 1 else ''}.",
        )
        return redirect("heartbeat_environments", heartbeat_id=heartbeat.pk)
    others = HeartbeatState.objects.filter(heartbeat=heartbeat).exclude(pk=state.pk)
    context = {
        "state": state,
        "heartbeat": heartbeat,
        "others": others.order_by("environment", "id"),
        "active": ACTIVE,
    }
    return render(request, "signals/heartbeat_copy_confirm.html", context)
