"""Service pages: list, detail (routing key, open incidents, new incident, maintenance), create,
edit, delete.

Everyone sees the services of their teams (owners: all); owners and members of the owning
team manage them, others get the read-only page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from escalations.catalog import services
from escalations.catalog.forms import MaintenanceForm, RegenerateKeyForm, ServiceForm, TriggerForm
from escalations.engine.targets import service_oncall, service_oncall_next_change
from incidents.ingest import services as ingest
from incidents.models import OPEN_STATUSES
from incidents.selectors import IncidentFilters, incident_list
from opsduty import selectors
from opsduty.models import Service
from opsduty.paging import page_of
from opsduty.selectors import team_manageable_list
from opsduty.services import can_manage_team
from opsduty.views.common import AuthedRequest, add_validation_error

OPEN_INCIDENTS_SHOWN = 50


def _require_manage(request: AuthedRequest, service: Service) -> None:
    if not can_manage_team(request.user, service.team):
        raise PermissionDenied("Only owners and members of the owning team can manage it.")


@require_GET
@login_required
def service_list(request: AuthedRequest) -> HttpResponse:
    """Visible services with their type, team and number of open incidents, 50 a page."""
    page = page_of(selectors.service_list(user=request.user), request.GET, ordering=("id",))
    counts = selectors.service_open_counts(service_ids=[service.pk for service in page])
    for service in page:
        service.open_incidents = counts.get(service.pk, 0)
    context = {
        "services": page,
        "can_create": team_manageable_list(user=request.user).exists(),
        "now": timezone.now(),
        "active": "services",
    }
    return render(request, "escalations/service_list.html", context)


def _detail_context(
    request: AuthedRequest,
    service: Service,
    trigger_form: TriggerForm | None = None,
    key_form: RegenerateKeyForm | None = None,
    maintenance_form: MaintenanceForm | None = None,
) -> dict[str, Any]:
    filters = IncidentFilters(status=list(OPEN_STATUSES), service_id=service.pk)
    open_incidents = incident_list(user=request.user, filters=filters)
    in_maintenance = selectors.service_maintenance_active(service, timezone.now())
    return {
        "in_maintenance": in_maintenance,
        "maintenance_incident": open_incidents.filter(is_maintenance=True).first()
        if in_maintenance
        else None,
        "maintenance_form": maintenance_form or MaintenanceForm(),
        "service": service,
        **_oncall_context(service),
        "can_manage": can_manage_team(request.user, service.team),
        "open_incidents": open_incidents[:OPEN_INCIDENTS_SHOWN],
        "open_count": open_incidents.count(),
        "trigger_form": trigger_form or TriggerForm(),
        "key_form": key_form or RegenerateKeyForm(),
        "active": "services",
    }


def _oncall_context(service: Service) -> dict[str, Any]:
    now = timezone.now()
    return {
        "service": service,
        "oncall_now": service_oncall(service, now),
        "oncall_until": service_oncall_next_change(service, now),
    }


@require_GET
@login_required
def service_detail(request: AuthedRequest, service_id: int) -> HttpResponse:
    """One service; managers also see its routing key and the edit controls.

    `?part=oncall` answers only who is on call (the page's live refresh)."""
    service = selectors.service_get(user=request.user, service_id=service_id)
    if request.GET.get("part") == "oncall":
        return render(request, "escalations/_service_oncall.html", _oncall_context(service))
    return render(request, "escalations/service_detail.html", _detail_context(request, service))


def _save(request: AuthedRequest, form: ServiceForm, service: Service | None) -> Service | None:
    """Create or update through the service module; errors land on the form."""
    data = form.cleaned_data
    fields = {
        "name": data["name"],
        "service_type": data["service_type"],
        "description": data["description"],
        "slack_channel": data["slack_channel"],
        "team": data["team"],
        "labels": list(data["labels"]),
    }
    try:
        if service is None:
            return services.service_create(by=request.user, **fields)
        policy = data.get("escalation_policy")
        return services.service_update(
            service=service, by=request.user, escalation_policy=policy, **fields
        )
    except ValidationError as error:
        add_validation_error(form, error)
    except IntegrityError:
        # Someone took the name between our check and the write.
        form.add_error("name", "A service with this name already exists.")
    return None


@require_http_methods(["GET", "POST"])
@login_required
def service_create(request: AuthedRequest) -> HttpResponseBase:
    """Create a service owned by one of the teams the user manages."""
    teams = team_manageable_list(user=request.user)
    if not teams.exists():
        raise PermissionDenied("You are not a member of a team that could own a service.")
    form = ServiceForm(request.POST or None, teams=teams, organization=request.organization)
    if request.method == "POST" and form.is_valid():
        service = _save(request, form, None)
        if service is not None:
            messages.success(request, f"Service “{service.name}” created.")
            return redirect("service_detail", service_id=service.pk)
    status = 422 if form.is_bound else 200
    context = {"form": form, "service": None, "active": "services"}
    return render(request, "escalations/service_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def service_edit(request: AuthedRequest, service_id: int) -> HttpResponseBase:
    """Edit a service (owners, members of its team); moving it needs the target team too."""
    service = selectors.service_get(user=request.user, service_id=service_id)
    _require_manage(request, service)
    initial = {
        "name": service.name,
        "service_type": service.service_type,
        "team": service.team,
        "slack_channel": service.slack_channel,
        "description": service.description,
        "escalation_policy": service.escalation_policy,
        "labels": list(service.labels.all()),
    }
    form = ServiceForm(
        request.POST or None,
        initial=initial,
        teams=team_manageable_list(user=request.user),
        organization=request.organization,
        service=service,
    )
    if request.method == "POST" and form.is_valid():
        if _save(request, form, service) is not None:
            messages.success(request, f"Service “{service.name}” saved.")
            return redirect("service_detail", service_id=service.pk)
        service.refresh_from_db()
    status = 422 if form.is_bound else 200
    context = {"form": form, "service": service, "active": "services"}
    return render(request, "escalations/service_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def service_delete(request: AuthedRequest, service_id: int) -> HttpResponseBase:
    """Confirm (GET) and delete (POST); refused while the service has incidents."""
    service = selectors.service_get(user=request.user, service_id=service_id)
    _require_manage(request, service)
    if request.method == "POST":
        name = service.name
        try:
            services.service_delete(service=service, by=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("service_detail", service_id=service.pk)
        messages.success(request, f"Service “{name}” deleted.")
        return redirect("services")
    context = {
        "service": service,
        "incident_count": service.incidents.count(),
        "active": "services",
    }
    return render(request, "escalations/service_confirm_delete.html", context)


@require_POST
@login_required
def service_regenerate_key(request: AuthedRequest, service_id: int) -> HttpResponseBase:
    """Replace the routing key after the confirmation box is ticked."""
    service = selectors.service_get(user=request.user, service_id=service_id)
    _require_manage(request, service)
    form = RegenerateKeyForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Tick the box to confirm replacing the routing key.")
        context = _detail_context(request, service, key_form=form)
        return render(request, "escalations/service_detail.html", context, status=422)
    services.service_regenerate_routing_key(service=service, by=request.user)
    messages.success(request, "New routing key generated; update every sender that uses it.")
    return redirect("service_detail", service_id=service.pk)


@require_POST
@login_required
def service_trigger_incident(request: AuthedRequest, service_id: int) -> HttpResponseBase:
    """Open an incident on the service by hand (owners, members of its team)."""
    service = selectors.service_get(user=request.user, service_id=service_id)
    _require_manage(request, service)
    form = TriggerForm(request.POST)
    if form.is_valid():
        try:
            incident = ingest.incident_trigger(
                service=service, by=request.user, **form.cleaned_data
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, f"Incident #{incident.number} triggered.")
            return redirect("incident_detail", incident_id=incident.pk)
    context = _detail_context(request, service, trigger_form=form)
    return render(request, "escalations/service_detail.html", context, status=422)


@require_POST
@login_required
def service_maintenance_start(request: AuthedRequest, service_id: int) -> HttpResponseBase:
    """Start maintenance (owners, members of its team); refused input answers 422."""
    service = selectors.service_get(user=request.user, service_id=service_id)
    _require_manage(request, service)
    form = MaintenanceForm(request.POST)
    if form.is_valid():
        try:
            services.service_maintenance_start(
                service=service, by=request.user, **form.cleaned_data
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, "Maintenance started.")
            return redirect("service_detail", service_id=service.pk)
    service.refresh_from_db()
    context = _detail_context(request, service, maintenance_form=form)
    return render(request, "escalations/service_detail.html", context, status=422)


@require_POST
@login_required
def service_maintenance_stop(request: AuthedRequest, service_id: int) -> HttpResponseBase:
    """End maintenance now (owners, members of its team); a no-op outside maintenance."""
    service = selectors.service_get(user=request.user, service_id=service_id)
    _require_manage(request, service)
    services.service_maintenance_stop(service=service, by=request.user)
    messages.success(request, "Maintenance stopped.")
    return redirect("service_detail", service_id=service.pk)
