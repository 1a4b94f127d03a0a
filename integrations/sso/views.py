"""Settings -> SSO (owners) and the sign-in page's "Sign in with SSO" (anyone). The
protocol endpoints (SAML ACS and metadata, the OpenID Connect callback) are allauth's views,
routed in urls.py."""

from __future__ import annotations

from typing import Any

import requests
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from onelogin.saml2.errors import OneLogin_Saml2_Error

from integrations.sso import adapters, selectors, services
from integrations.sso.forms import SsoSettingsForm, SsoSignInForm
from integrations.sso.models import SsoSettings
from opsduty.forms import LoginForm
from opsduty.navigation import SettingsPage
from opsduty.ratelimit import by_ip, rate_limited
from opsduty.views.auth import login_page
from opsduty.views.common import AuthedRequest, add_validation_error, require_owner

ACTIVE = "sso_settings"
SETTINGS_PAGE = SettingsPage(label="SSO", url_name="sso_settings", active=ACTIVE)
START_FAILED = (
    "We could not reach your organization's identity provider to start single sign-on. Try "
    "again in a moment; if it keeps failing, ask an owner to check the SSO set-up."
)
NOT_FOUND = (
    "We found no single sign-on for that email domain or organization. Check it, or sign in "
    "with your password above."
)


def _initial(row: SsoSettings | None) -> dict[str, Any]:
    if row is None:
        return {}
    return {
        "method": row.method,
        "email_domain": row.email_domain,
        "google_client_id": row.google_client_id,
        "saml_metadata_url": row.saml_metadata_url,
        "saml_entity_id": row.saml_entity_id,
        "saml_sso_url": row.saml_sso_url,
        "saml_x509cert": row.saml_x509cert,
        "require_sso": row.require_sso,
        "jit_enabled": row.jit_enabled,
        "jit_role": row.jit_role,
    }


def _sp_urls(request: HttpRequest, domain: str) -> dict[str, str]:
    """What an owner pastes into their IdP: our SAML entity id (the metadata URL), ACS URL,
    and the Google redirect URI."""
    metadata = request.build_absolute_uri(reverse("saml_metadata", args=[domain]))
    return {
        "saml_entity_id": metadata,
        "saml_metadata_url": metadata,
        "saml_acs_url": request.build_absolute_uri(reverse("saml_acs", args=[domain])),
        "google_redirect_uri": request.build_absolute_uri(
            reverse("openid_connect_callback", args=[f"google-{domain}"])
        ),
    }


@sensitive_post_parameters("google_client_secret")
@require_http_methods(["GET", "POST"])
@login_required
def sso_settings(request: AuthedRequest) -> HttpResponse:
    """Owners set up Google Workspace or SAML, require SSO and just-in-time creation."""
    require_owner(request)
    row = selectors.sso_settings_get(organization=request.organization)
    form = SsoSettingsForm(request.POST or None, initial=_initial(row))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.sso_settings_save(
                    organization=request.organization, by=request.user, values=form.cleaned_data
                )
            except ValidationError as error:
                add_validation_error(form, error)
            else:
                messages.success(request, "Single sign-on settings saved.")
                return redirect("sso_settings")
        status = 400
    context = {
        "active": ACTIVE,
        "form": form,
        "row": row,
        "secret_set": bool(row and row.google_client_secret),
        "sp": _sp_urls(request, request.organization.domain),
    }
    return render(request, "integrations/sso/settings.html", context, status=status)


def _sign_in_refused(request: HttpRequest, form: SsoSignInForm) -> HttpResponse:
    return login_page(request, {"form": LoginForm(), "sso_form": form}, status=400)


@csrf_protect
@never_cache
@require_POST
@rate_limited("login", key=by_ip, methods=("POST",))
def sso_start(request: HttpRequest) -> HttpResponseBase:
    """ "Sign in with SSO": find the organization by email domain or its domain, and send the
    browser to its IdP (allauth stashes the state the answer must match)."""
    form = SsoSignInForm(request.POST)
    if not form.is_valid():
        return _sign_in_refused(request, form)
    sso = selectors.sso_settings_for_sign_in(form.cleaned_data["who"])
    app = adapters.app_for(sso) if sso is not None else None
    if app is None:
        form.add_error("who", NOT_FOUND)
        return _sign_in_refused(request, form)
    provider = app.get_provider(request)
    next_url = form.cleaned_data.get("next") or None
    try:
        response: HttpResponseBase = provider.redirect(request, process="login", next_url=next_url)
    except (OneLogin_Saml2_Error, OAuth2Error, requests.RequestException, KeyError, ValueError):
        # The IdP's discovery document did not answer or is not one, or the SAML settings
        # are unusable for this request: say so instead of a 500.
        return adapters.refusal_page(request, START_FAILED, status=502)
    return response
