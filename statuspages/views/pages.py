"""The organization's status pages: the list, creating and editing a page, rotating a
`custom_backend` page's secret, and a page's own screen (its groups and components in order,
its notices). Everyone in the organization reads them; owners and members of the page's team
change them (statuspages/services.py)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from opsduty.selectors import team_manageable_list
from opsduty.views.common import AuthedRequest, add_validation_error
from statuspages import selectors, services
from statuspages.forms import ComponentStatusForm, StatusPageForm
from statuspages.models import AccessMode, ComponentStatus, StatusPage
from statuspages.views.common import ACTIVE, render_form, require_manage

NOTICES_SHOWN = 50


@require_GET
@login_required
def status_page_list(request: AuthedRequest) -> HttpResponse:
    """Every page of the organization: team, who can see it, headline status, open notices."""
    pages = list(selectors.status_page_list(user=request.user))
    ids = [page.pk for page in pages]
    headlines = selectors.page_headlines(page_ids=ids)
    open_counts = selectors.page_open_notice_counts(page_ids=ids)
    rows = [
        {
            "page": page,
            "headline": ComponentStatus(headlines[page.pk]),
            "open_notices": open_counts.get(page.pk, 0),
        }
        for page in pages
    ]
    context = {
        "rows": rows,
        "can_create": team_manageable_list(user=request.user).exists(),
        "active": ACTIVE,
    }
    return render(request, "statuspages/page_list.html", context)


def _fields(form: StatusPageForm) -> dict[str, Any]:
    data = form.cleaned_data
    return {
        "name": data["name"],
        "slug": data["slug"],
        "domain": data["domain"],
        "description": data["description"],
        "access_mode": data["access_mode"],
        "calculate_uptime": data["calculate_uptime"],
        "enabled": data["enabled"],
    }


def _save(
    request: AuthedRequest, form: StatusPageForm, page: StatusPage | None
) -> StatusPage | None:
    """Create or update through the services; their errors land on the form's fields."""
    try:
        if page is None:
            return services.status_page_create(
                organization=request.user.organization,
                team=form.cleaned_data["team"],
                by=request.user,
                **_fields(form),
            )
        return services.status_page_update(
            page=page, by=request.user, team=form.cleaned_data["team"], **_fields(form)
        )
    except ValidationError as error:
        add_validation_error(form, error)
    except IntegrityError:
        # Another page took the slug or domain between the check and the write.
        form.add_error("slug", "A status page with this slug or domain already exists.")
    return None


@require_http_methods(["GET", "POST"])
@login_required
def status_page_create(request: AuthedRequest) -> HttpResponseBase:
    """A new page owned by one of the teams the person manages."""
    teams = team_manageable_list(user=request.user)
    if not teams.exists():
        raise PermissionDenied("You are not a member of a team that could own a status page.")
    initial = {"enabled": True, "calculate_uptime": True, "access_mode": AccessMode.PUBLIC}
    form = StatusPageForm(request.POST or None, teams=teams, initial=initial)
    if request.method == "POST" and form.is_valid():
        page = _save(request, form, None)
        if page is not None:
            messages.success(request, f"Status page “{page.name}” created.")
            return redirect("status_page_detail", status_page_id=page.pk)
    return render_form(request, "statuspages/page_form.html", form, page=None)


@require_http_methods(["GET", "POST"])
@login_required
def status_page_edit(request: AuthedRequest, status_page_id: int) -> HttpResponseBase:
    """Change a page's settings (and its team, to another team the person manages)."""
    page = selectors.status_page_get(user=request.user, page_id=status_page_id)
    require_manage(request, page)
    initial = {
        "team": page.team,
        "name": page.name,
        "slug": page.slug,
        "domain": page.domain,
        "description": page.description,
        "enabled": page.enabled,
        "calculate_uptime": page.calculate_uptime,
        "access_mode": page.access_mode,
    }
    teams = team_manageable_list(user=request.user)
    form = StatusPageForm(request.POST or None, teams=teams, initial=initial)
    if request.method == "POST" and form.is_valid():
        if _save(request, form, page) is not None:
            messages.success(request, f"Status page “{form.cleaned_data['name']}” saved.")
            return redirect("status_page_detail", status_page_id=page.pk)
        page.refresh_from_db()
    return render_form(request, "statuspages/page_form.html", form, page=page)


@never_cache
@require_POST
@login_required
def status_page_secret_rotate(request: AuthedRequest, status_page_id: int) -> HttpResponseBase:
    """A new secret for the page's signed visitor tokens, shown in this answer only (never
    cached: no-store); the old one stops working."""
    page = selectors.status_page_get(user=request.user, page_id=status_page_id)
    require_manage(request, page)
    try:
        secret = services.status_page_secret_rotate(page=page, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("status_page_edit", status_page_id=page.pk)
    context = {"page": page, "secret": secret, "active": ACTIVE}
    response = render(request, "statuspages/page_secret.html", context)
    response["Cache-Control"] = "no-store"
    return response


def detail_context(request: AuthedRequest, page: StatusPage) -> dict[str, Any]:
    """A page's screen: groups with their components in order, its latest notices."""
    groups = list(selectors.component_group_tree(page=page))
    notices = list(selectors.notice_list(page=page)[:NOTICES_SHOWN])
    return {
        "page": page,
        "groups": groups,
        "notices": notices,
        "headline": ComponentStatus(selectors.page_headlines(page_ids=[page.pk])[page.pk]),
        "can_manage": selectors.can_manage_page(request.user, page),
        "status_choices": ComponentStatus.choices,
        "active": ACTIVE,
    }


def render_detail(request: AuthedRequest, page: StatusPage, status: int = 200) -> HttpResponse:
    return render(
        request, "statuspages/page_detail.html", detail_context(request, page), status=status
    )


@require_GET
@login_required
def status_page_detail(request: AuthedRequest, status_page_id: int) -> HttpResponse:
    """One page: its structure and notices; managers also get the controls."""
    page = selectors.status_page_get(user=request.user, page_id=status_page_id)
    return render_detail(request, page)


@require_POST
@login_required
def component_status_set(request: AuthedRequest, component_id: int) -> HttpResponseBase:
    """Set what a component does now (an open synced notice still wins until it closes)."""
    component = selectors.component_get(user=request.user, component_id=component_id)
    page = component.status_page
    require_manage(request, page)
    form = ComponentStatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"{component.name}: choose one of the statuses offered.")
        return render_detail(request, page, status=422)
    component = services.component_status_set(
        component=component, by=request.user, status=form.cleaned_data["status"]
    )
    shown = ComponentStatus(component.shown_status).label
    messages.success(request, f"{component.name}: {shown}.")
    return redirect("status_page_detail", status_page_id=page.pk)
