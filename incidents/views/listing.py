"""The incident list: filters, pagination, the htmx polling fragment and bulk actions."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from incidents import services
from incidents.forms import BulkForm, IncidentFilterForm
from incidents.models import Incident
from incidents.selectors import incident_list as select_incidents
from opsduty.models import Role, Team
from opsduty.paging import Page, count_capped, page_of
from opsduty.retry import run_retrying_conflicts
from opsduty.selectors import service_visible_list
from opsduty.services import can_manage_team
from opsduty.tenancy import scoped
from opsduty.views.common import AuthedRequest

PAGE_SIZE = 50
# The list says how many incidents match up to this many ("10,000+" beyond): counting every
# row of a large organization's history cost more than the page itself.
COUNT_CAP = 10_000
PAGING = {"after", "before"}
# The bulk form names at most this many incidents (one page plus slack).
BULK_LIMIT = 200


def _visible_teams(request: AuthedRequest) -> QuerySet[Team]:
    teams = scoped(Team, request.organization).order_by("name")
    if request.user.is_owner:
        return teams
    return teams.filter(memberships__user=request.user)


def _filter_form(request: AuthedRequest) -> IncidentFilterForm:
    return IncidentFilterForm(
        request.GET or None,
        services=service_visible_list(user=request.user).order_by("name"),
        teams=_visible_teams(request),
    )


def _page(request: AuthedRequest, form: IncidentFilterForm) -> tuple[Page[Incident], Any]:
    """The page the query string asks for (`after` / `before` cursors, newest first) and the
    filtered list it is a page of."""
    incidents = select_incidents(user=request.user, filters=form.to_filters())
    page = page_of(
        incidents.prefetch_related("labels"), request.GET, ordering=("-id",), size=PAGE_SIZE
    )
    return page, incidents


def _rows_context(request: AuthedRequest, form: IncidentFilterForm) -> dict[str, Any]:
    page, _ = _page(request, form)
    return {
        "page": page,
        "incidents": page.items,
        "can_bulk": request.user.role != Role.STAKEHOLDER,
    }


@require_GET
@login_required
def incident_list(request: AuthedRequest) -> HttpResponse:
    """Visible, unarchived incidents, newest first, filtered and paginated (50 a page)."""
    form = _filter_form(request)
    page, incidents = _page(request, form)
    count, more = count_capped(incidents, COUNT_CAP)
    context = {
        "page": page,
        "incidents": page.items,
        "can_bulk": request.user.role != Role.STAKEHOLDER,
        "count_text": _count_text(count, more, filtered=bool(set(request.GET) - PAGING)),
        "form": form,
        "active": "incidents",
    }
    return render(request, "incidents/incident_list.html", context)


def _count_text(count: int, more: bool, *, filtered: bool) -> str:
    one = count == 1 and not more
    text = f"{count:,}{'+' if more else ''} incident{'' if one else 's'}"
    if filtered:
        text += f" match{'es' if one else ''} these filters"
    return text + "."


@require_GET
@login_required
def incident_rows(request: AuthedRequest) -> HttpResponse:
    """The table rows only, for htmx polling; the query string carries the list's filters."""
    form = _filter_form(request)
    return render(request, "incidents/_incident_rows.html", _rows_context(request, form))


def _back_to_list(request: AuthedRequest, next_url: str) -> HttpResponseBase:
    if next_url and url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(next_url)
    return redirect("incident_list")


@require_POST
@login_required
def incident_bulk(request: AuthedRequest) -> HttpResponseBase:
    """Acknowledge or resolve the selected incidents; report the refused ones with reasons."""
    form = BulkForm(request.POST)
    next_url = request.POST.get("next", "")
    ids = [int(v) for v in request.POST.getlist("incident") if v.isdigit()][:BULK_LIMIT]
    if not form.is_valid():
        messages.error(request, "Choose acknowledge or resolve.")
        return _back_to_list(request, next_url)
    if not ids:
        messages.error(request, "Select at least one incident.")
        return _back_to_list(request, next_url)
    # Only incidents the user can see; a foreign or hidden id is simply not there.
    chosen = list(
        select_incidents(user=request.user)
        .filter(pk__in=ids)
        .order_by("id")
        .select_related("service__team")
    )
    allowed = [i for i in chosen if can_manage_team(request.user, i.service.team)]
    result = run_retrying_conflicts(  # a lost lock race runs again (opsduty/retry.py)
        services.incidents_bulk,
        incidents=allowed,
        by=request.user,
        action=form.cleaned_data["action"],
    )
    refused = [
        *result.refused,
        *((i, "You cannot act on this incident.") for i in chosen if i not in allowed),
    ]
    _report(request, form.cleaned_data["action"], len(result.changed), refused)
    return _back_to_list(request, next_url)


def _report(
    request: AuthedRequest, action: str, changed: int, refused: list[tuple[Incident, str]]
) -> None:
    done = "Acknowledged" if action == "acknowledge" else "Resolved"
    if changed:
        messages.success(request, f"{done} {changed} incident{'s' if changed != 1 else ''}.")
    for incident, reason in refused:
        messages.error(request, f"#{incident.number} not changed: {reason}")
    if not changed and not refused:
        messages.error(request, "None of the selected incidents could be found.")
