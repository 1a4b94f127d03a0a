"""Personal API tokens: everyone creates, lists and revokes their own at /profile/tokens/;
owners see and revoke every token of their organization at /settings/tokens/.

A new token's value is in the answer to the POST that created it and nowhere else (only its
checksum is stored), so that answer is never cached and the page never shows it again.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods

from opsduty import selectors, services
from opsduty.forms import ApiTokenCreateForm
from opsduty.ratelimit import by_user, rate_limited, refusal_detail
from opsduty.services import IssuedToken
from opsduty.views.common import AuthedRequest, add_validation_error, require_owner

# Where a revocation returns to: the page it was started from.
BACK_ORGANIZATION = "organization"


def _page(
    request: AuthedRequest,
    form: ApiTokenCreateForm,
    issued: IssuedToken | None = None,
    status: int = 200,
) -> HttpResponse:
    context: dict[str, Any] = {
        "form": form,
        "tokens": selectors.api_token_list(user=request.user),
        "issued": issued,
        "active": "profile",
    }
    return render(request, "opsduty/tokens.html", context, status=status)


def _too_many_tokens(http_request: HttpRequest, wait: int) -> HttpResponse:
    """The tokens page, HTTP 429: this user created too many tokens lately."""
    request = cast(AuthedRequest, http_request)
    form = ApiTokenCreateForm(request.POST)
    form.is_valid()
    form.add_error(None, f"You created many tokens lately. {refusal_detail(wait)}")
    response = _page(request, form, status=429)
    response["Retry-After"] = str(wait)
    return response


@never_cache
@sensitive_variables("issued")
@require_http_methods(["GET", "POST"])
@login_required
@rate_limited("api_token_create", key=by_user, methods=("POST",), answer=_too_many_tokens)
def profile_tokens(request: AuthedRequest) -> HttpResponse:
    """GET: your tokens and the create form. POST: create one and show its value, once."""
    if request.method == "GET":
        return _page(request, ApiTokenCreateForm())
    form = ApiTokenCreateForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=422)
    try:
        issued = services.api_token_issue(user=request.user, **form.cleaned_data)
    except ValidationError as error:
        add_validation_error(form, error)
        return _page(request, form, status=422)
    return _page(request, ApiTokenCreateForm(), issued=issued)


@require_GET
@login_required
def organization_tokens(request: AuthedRequest) -> HttpResponse:
    """Owners: every personal API token of the organization, with its user."""
    require_owner(request)
    context = {
        "tokens": selectors.api_token_org_list(organization=request.organization),
        "active": "developer",
    }
    return render(request, "opsduty/organization_tokens.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def token_revoke(request: AuthedRequest, token_id: int) -> HttpResponseBase:
    """Confirm (GET) and revoke (POST) one of your tokens, or (owners) anyone's here."""
    token = selectors.api_token_get_or_404(user=request.user, token_id=token_id)
    back = request.GET.get("back") or request.POST.get("back")
    back_to_organization = back == BACK_ORGANIZATION and request.user.is_owner
    back_url = "organization_tokens" if back_to_organization else "profile_tokens"
    if request.method == "POST":
        services.api_token_revoke(token=token, by=request.user)
        messages.success(request, f"Token “{token.name}” revoked; it no longer works.")
        return redirect(back_url)
    context = {
        "token": token,
        "back": BACK_ORGANIZATION if back_to_organization else "",
        "back_url": back_url,
        "active": "developer" if back_to_organization else "profile",
    }
    return render(request, "opsduty/token_confirm_revoke.html", context)
