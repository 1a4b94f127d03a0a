"""The organization's settings (owners): its name, the sections that packages at the edge add
(SCIM provisioning's token), and closing it for good."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST

from opsduty import services
from opsduty.forms import OrganizationCloseForm, OrganizationRenameForm
from opsduty.navigation import organization_links
from opsduty.views.common import AuthedRequest, add_validation_error, require_owner


@dataclass(frozen=True)
class OrganizationSection:
    """A section of the organization's settings page, between its name and closing it: a
    template included in the page and the context it needs (from the request and what the
    section's own view passes to `organization_page`, such as a token shown once)."""

    template: str
    context: Callable[[AuthedRequest, dict[str, Any]], dict[str, Any]]


_sections: list[OrganizationSection] = []


def organization_section_register(section: OrganizationSection) -> None:
    """Add `section` to the organization's settings page (idempotent; in the app's
    `AppConfig.ready`: the core names no integration)."""
    if section not in _sections:
        _sections.append(section)


def organization_page(request: AuthedRequest, status: int = 200, **extra: Any) -> HttpResponse:
    """The organization's settings page; `extra` holds forms with errors, or what a
    section's view shows once."""
    organization = request.organization
    context: dict[str, Any] = {
        "rename_form": extra.get("rename_form")
        or OrganizationRenameForm(initial={"name": organization.name}),
        "close_form": extra.get("close_form") or OrganizationCloseForm(),
        "blockers": services.organization_close_blockers(organization),
        "links": organization_links(),
        "active": "organization",
    }
    sections = []
    for section in _sections:
        context.update(section.context(request, extra))
        sections.append(section.template)
    context["sections"] = sections
    return render(request, "opsduty/organization.html", context, status=status)


@require_GET
@login_required
def organization_settings(request: AuthedRequest) -> HttpResponse:
    """Rename the organization; close it (what must be done first, then a typed confirmation)."""
    require_owner(request)
    return organization_page(request)


@require_POST
@login_required
def organization_rename(request: AuthedRequest) -> HttpResponse:
    require_owner(request)
    form = OrganizationRenameForm(request.POST)
    if form.is_valid():
        try:
            services.organization_rename(
                organization=request.organization, name=form.cleaned_data["name"], by=request.user
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(
                request, f"The organization is now called {request.organization.name}."
            )
            return redirect("organization_settings")
    return organization_page(request, status=400, rename_form=form)


@sensitive_post_parameters("password")
@require_POST
@login_required
def organization_close(request: AuthedRequest) -> HttpResponse:
    """Close the organization: everyone is signed out, its data is deleted."""
    require_owner(request)
    form = OrganizationCloseForm(request.POST)
    if form.is_valid():
        try:
            closed = services.organization_close(
                organization=request.organization,
                by=request.user,
                typed_domain=form.cleaned_data["typed_domain"],
                password=form.cleaned_data["password"],
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            logout(request)
            return render(request, "opsduty/organization_closed.html", {"name": closed.name})
    return organization_page(request, status=400, close_form=form)
