"""The SCIM section of the organization's settings page (owners): the base URL to give the
identity provider and its bearer token: create, rotate (the old one stops at once) and revoke.
A new token is shown once, in the answer to the POST that created it."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from integrations.scim import selectors, services
from opsduty.views.common import AuthedRequest, require_owner
from opsduty.views.organization import OrganizationSection, organization_page


def scim_base_url() -> str:
    """The SCIM base URL for the identity provider: the public address + /scim/v2."""
    return str(settings.OPSDUTY_PUBLIC_URL).rstrip("/") + reverse("scim:root").rstrip("/")


def _section_context(request: AuthedRequest, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "scim_base_url": scim_base_url(),
        "scim_token": selectors.scim_token_get(organization=request.organization),
        "scim_issued": extra.get("scim_issued"),
    }


SECTION = OrganizationSection(
    template="integrations/scim/_organization_section.html", context=_section_context
)


@never_cache
@sensitive_variables("issued")
@require_POST
@login_required
def scim_token_create(request: AuthedRequest) -> HttpResponse:
    """Create the token, or rotate it, and show its value this once."""
    require_owner(request)
    issued = services.scim_token_issue(organization=request.organization, by=request.user)
    return organization_page(request, scim_issued=issued)


@require_POST
@login_required
def scim_token_revoke(request: AuthedRequest) -> HttpResponseBase:
    """Revoke the token: the identity provider's next request with it answers 401."""
    require_owner(request)
    if services.scim_token_revoke(organization=request.organization, by=request.user):
        messages.success(request, "SCIM token revoked: it no longer works.")
    return redirect("organization_settings")
