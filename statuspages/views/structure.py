"""A page's structure: component groups and their components (add, edit, delete, move).
Every change goes through statuspages/services.py; the orders stay 0..n-1 there."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from opsduty.models import Service
from opsduty.tenancy import scoped
from opsduty.views.common import (
    AuthedRequest,
    Deletion,
    add_validation_error,
    delete_with_confirmation,
)
from statuspages import selectors, services
from statuspages.forms import ComponentForm, ComponentGroupForm, MoveForm
from statuspages.models import Component, StatusPage
from statuspages.views.common import ACTIVE, render_form, require_manage
from statuspages.views.pages import render_detail

MOVED = {"top": "to the top", "up": "up", "down": "down", "bottom": "to the bottom"}


def _back(page: StatusPage) -> HttpResponseBase:
    return redirect("status_page_detail", status_page_id=page.pk)


# Groups


@require_http_methods(["GET", "POST"])
@login_required
def component_group_create(request: AuthedRequest, status_page_id: int) -> HttpResponseBase:
    """Add a group at the bottom of the page."""
    page = selectors.status_page_get(user=request.user, page_id=status_page_id)
    require_manage(request, page)
    form = ComponentGroupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            group = services.component_group_create(page=page, by=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, f"Group “{group.name}” added.")
            return _back(page)
    return render_form(request, "statuspages/group_form.html", form, page=page, group=None)


@require_http_methods(["GET", "POST"])
@login_required
def component_group_edit(request: AuthedRequest, component_group_id: int) -> HttpResponseBase:
    """Rename a group or change its description."""
    group = selectors.component_group_get(user=request.user, group_id=component_group_id)
    page = group.status_page
    require_manage(request, page)
    initial = {"name": group.name, "description": group.description}
    form = ComponentGroupForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.component_group_update(group=group, by=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, f"Group “{group.name}” saved.")
            return _back(page)
    return render_form(request, "statuspages/group_form.html", form, page=page, group=group)


@require_http_methods(["GET", "POST"])
@login_required
def component_group_delete(request: AuthedRequest, component_group_id: int) -> HttpResponseBase:
    """Ask first (its components go, notices stop listing them), then delete."""
    group = selectors.component_group_get(user=request.user, group_id=component_group_id)
    page = group.status_page
    require_manage(request, page)
    names = ", ".join(c.name for c in group.components.order_by("position")) or "none"
    back = reverse("status_page_detail", kwargs={"status_page_id": page.pk})
    deletion = Deletion(
        object_name=group.name,
        what="component group",
        consequence=(
            f"Its components go with it ({names}): customers stop seeing them at once, and "
            "notices no longer list them as affected."
        ),
        cancel_url=back,
        done_url=back,
        active=ACTIVE,
    )
    return delete_with_confirmation(
        request, deletion, lambda: services.component_group_delete(group=group, by=request.user)
    )


def _moved(
    request: AuthedRequest, page: StatusPage, what: str, move: Callable[[str], object]
) -> HttpResponseBase:
    """A group's or a component's move (top, up, down, bottom), reported on the page."""
    form = MoveForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Move it to the top, up, down or to the bottom.")
        return render_detail(request, page, status=422)
    movement = form.cleaned_data["movement"]
    move(movement)
    messages.success(request, f"{what} moved {MOVED[movement]}.")
    return _back(page)


@require_POST
@login_required
def component_group_move(request: AuthedRequest, component_group_id: int) -> HttpResponseBase:
    """Move a group to the top, up, down or to the bottom of the page."""
    group = selectors.component_group_get(user=request.user, group_id=component_group_id)
    page = group.status_page
    require_manage(request, page)
    return _moved(
        request,
        page,
        f"Group “{group.name}”",
        lambda movement: services.component_group_move(
            group=group, by=request.user, movement=movement
        ),
    )


# Components


@require_http_methods(["GET", "POST"])
@login_required
def component_create(request: AuthedRequest, component_group_id: int) -> HttpResponseBase:
    """Add a component at the end of its group."""
    group = selectors.component_group_get(user=request.user, group_id=component_group_id)
    page = group.status_page
    require_manage(request, page)
    form = ComponentForm(request.POST or None, services=scoped(Service, request.organization))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            component = services.component_create(
                group=group,
                by=request.user,
                name=data["name"],
                description=data["description"],
                services=list(data["services"]),
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, f"Component “{component.name}” added to {group.name}.")
            return _back(page)
    context = {"page": page, "group": group, "component": None}
    return render_form(request, "statuspages/component_form.html", form, **context)


@require_http_methods(["GET", "POST"])
@login_required
def component_edit(request: AuthedRequest, component_id: int) -> HttpResponseBase:
    """Rename a component, change its description and the services it stands for."""
    component = selectors.component_get(user=request.user, component_id=component_id)
    page = component.status_page
    require_manage(request, page)
    initial = {
        "name": component.name,
        "description": component.description,
        "services": list(component.services.all()),
    }
    form = ComponentForm(
        request.POST or None, initial=initial, services=scoped(Service, request.organization)
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.component_update(
                component=component,
                by=request.user,
                name=data["name"],
                description=data["description"],
                services=list(data["services"]),
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, f"Component “{data['name']}” saved.")
            return _back(page)
    context = {"page": page, "group": component.group, "component": component}
    return render_form(request, "statuspages/component_form.html", form, **context)


@require_http_methods(["GET", "POST"])
@login_required
def component_delete(request: AuthedRequest, component_id: int) -> HttpResponseBase:
    """Ask first, then delete (notices stop listing it)."""
    component: Component = selectors.component_get(user=request.user, component_id=component_id)
    page = component.status_page
    require_manage(request, page)
    back = reverse("status_page_detail", kwargs={"status_page_id": page.pk})
    deletion = Deletion(
        object_name=component.name,
        what="component",
        consequence="Customers stop seeing it at once; notices no longer list it as affected.",
        cancel_url=back,
        done_url=back,
        active=ACTIVE,
    )
    return delete_with_confirmation(
        request, deletion, lambda: services.component_delete(component=component, by=request.user)
    )


@require_POST
@login_required
def component_move(request: AuthedRequest, component_id: int) -> HttpResponseBase:
    """Move a component within its group."""
    component = selectors.component_get(user=request.user, component_id=component_id)
    page = component.status_page
    require_manage(request, page)
    return _moved(
        request,
        page,
        f"Component “{component.name}”",
        lambda movement: services.component_move(
            component=component, by=request.user, movement=movement
        ),
    )
