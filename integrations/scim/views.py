"""Settings -> SCIM (owners): the base URL to give the identity provider, its tokens (a new
one is shown once, in the answer to the POST that created it), revoking them, and the role
of people it creates."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_POST

from integrations.scim import selectors, services
from integrations.scim.forms import DefaultRoleForm, ScimTokenForm
from integrations.scim.models import ScimToken
from integrations.scim.services import IssuedScimToken
from opsduty.navigation import SettingsPage
from opsduty.tenancy import get_for_org_or_404
from opsduty.views.common import AuthedRequest, add_validation_error, require_owner

ACTIVE = "scim"
SETTINGS_PAGE = SettingsPage(label="SCIM", url_name="scim_settings", active=ACTIVE)


def scim_base_url() -> str:
    """The SCIM base URL for the identity provider: the public address + /scim/v2."""
    from django.conf import settings

    return str(settings.OPSDUTY_PUBLIC_URL).rstrip("/") + reverse("scim:root").rstrip("/")


def _page(
    request: AuthedRequest,
    *,
    token_form: ScimTokenForm | None = None,
    role_form: DefaultRoleForm | None = None,
    issued: IssuedScimToken | None = None,
    status: int = 200,
) -> HttpResponse:
    organization = request.organization
    current = services.scim_settings_get(organization=organization)
    context: dict[str, Any] = {
        "active": ACTIVE,
        "base_url": scim_base_url(),
        "tokens": selectors.scim_token_list(organization=organization),
        "token_form": token_form or ScimTokenForm(),
        "role_form": role_form or DefaultRoleForm(initial={"default_role": current.default_role}),
        "issued": issued,
        "max_tokens": services.MAX_SCIM_TOKENS,
    }
    return render(request, "integrations/scim/settings.html", context, status=status)


@require_GET
@login_required
def scim_settings(request: AuthedRequest) -> HttpResponse:
    """The base URL, the tokens (created, last used) and the provisioned people's role."""
    require_owner(request)
    return _page(request)


@never_cache
@sensitive_variables("issued")
@require_POST
@login_required
def scim_token_create(request: AuthedRequest) -> HttpResponse:
    """Create a token and show its value, this once."""
    require_owner(request)
    form = ScimTokenForm(request.POST)
    if not form.is_valid():
        return _page(request, token_form=form, status=400)
    try:
        issued = services.scim_token_issue(
            organization=request.organization, name=form.cleaned_data["name"], by=request.user
        )
    except ValidationError as error:
        add_validation_error(form, error)
        return _page(request, token_form=form, status=400)
    return _page(request, issued=issued)


@require_POST
@login_required
def scim_token_revoke(request: AuthedRequest, scim_token_id: int) -> HttpResponseBase:
    """Revoke a token: the identity provider's next request with it answers 401."""
    require_owner(request)
    token = get_for_org_or_404(ScimToken, request.organization, pk=scim_token_id)
    services.scim_token_revoke(token=token, by=request.user)
    messages.success(request, f"SCIM token “{token.name}” revoked; it no longer works.")
    return redirect("scim_settings")


@require_POST
@login_required
def scim_default_role(request: AuthedRequest) -> HttpResponseBase:
    require_owner(request)
    form = DefaultRoleForm(request.POST)
    if form.is_valid():
        chosen = services.scim_settings_set_role(
            organization=request.organization,
            role=form.cleaned_data["default_role"],
            by=request.user,
        )
        role = chosen.get_default_role_display().lower()
        messages.success(request, f"People the identity provider creates are now {role}s.")
        return redirect("scim_settings")
    return _page(request, role_form=form, status=400)
