"""Sign-in (domain + email + password), sign-out, the lockout page and the home redirect."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from opsduty.auth import password_sign_in_refusal
from opsduty.forms import LoginForm
from opsduty.models import Organization
from opsduty.ratelimit import by_ip, rate_limited
from opsduty.views.common import AuthedRequest

# One message for every kind of bad credentials: never say which part was wrong.
INVALID_CREDENTIALS = (
    "We could not sign you in with that organization, email and password. Check them and try again."
)


# Templates that apps at the edge add under the password form (integrations/sso: "Sign in
# with SSO"), registered in their `AppConfig.ready`: the core names no integration's URL.
# Each may say for which organizations it applies (the invitation page, which knows the
# organization, shows only those); the sign-in page, which does not, shows them all.
@dataclass(frozen=True)
class LoginSection:
    template: str
    applies: Callable[[Organization], bool] | None = None


_login_sections: list[LoginSection] = []


def login_section_register(
    template_name: str, applies: Callable[[Organization], bool] | None = None
) -> None:
    """Show `template_name` on the sign-in page, under the password form (idempotent); and on
    an invitation's page when `applies` says so for its organization. The template gets
    `sign_in_who` (an address to prefill) and `sign_in_next` (where to go after)."""
    section = LoginSection(template_name, applies)
    if section not in _login_sections:
        _login_sections.append(section)


def login_sections_for(organization: Organization) -> list[str]:
    """The sections that apply to an organization (an invitation's page)."""
    return [
        s.template for s in _login_sections if s.applies is not None and s.applies(organization)
    ]


def login_page(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    """The sign-in page with `context` and the registered sections."""
    form = context.get("form")
    next_url = form["next"].value() if form is not None and "next" in form.fields else ""
    context = {
        "login_sections": [section.template for section in _login_sections],
        "sign_in_who": "",
        "sign_in_next": next_url or "",
        **context,
    }
    return render(request, "registration/login.html", context, status=status)


def _safe_next(request: HttpRequest, url: str | None) -> str:
    """`url` if it points back at this site, else the default page after sign-in."""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def login_rate_limited(request: HttpRequest, wait: int) -> HttpResponse:
    """The sign-in page, HTTP 429: too many attempts from this address (any email)."""
    form = LoginForm(
        initial={"domain": request.POST.get("domain", ""), "email": request.POST.get("email", "")}
    )
    context = {"form": form, "rate_limited": True, "retry_seconds": wait}
    response = login_page(request, context, status=429)
    response["Retry-After"] = str(wait)
    return response


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@rate_limited("login", key=by_ip, methods=("POST",), answer=login_rate_limited)
def login_view(request: HttpRequest) -> HttpResponseBase:
    """Authenticate with organization domain + email + password (django-axes throttles)."""
    if request.user.is_authenticated and request.method != "POST":
        return redirect(_safe_next(request, request.GET.get("next")))
    if request.method != "POST":
        form = LoginForm(initial={"next": request.GET.get("next", "")})
        return login_page(request, {"form": form})

    form = LoginForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        user = authenticate(
            request, domain=data["domain"], email=data["email"], password=data["password"]
        )
        refusal = password_sign_in_refusal(user) if user is not None else None
        if user is not None and refusal is None:
            login(request, user)
            return HttpResponseRedirect(_safe_next(request, data["next"]))
        # A locked-out attempt also lands here; AxesMiddleware then swaps in login_locked_out.
        # A refusal is only said to someone who gave the right password.
        form.add_error(None, refusal or INVALID_CREDENTIALS)
    return login_page(request, {"form": form})


def login_locked_out(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the sign-in page with a lockout message, HTTP 429.

    django-axes 8 calls this as `(request, original_response, credentials)` and falls back to
    `(request, credentials)`; the credentials are not needed, so accept either shape.
    """
    cooloff_seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    form = LoginForm(
        initial={
            "domain": request.POST.get("domain", ""),
            "email": request.POST.get("email", ""),
            "next": request.POST.get("next", ""),
        }
    )
    context = {"form": form, "locked_out": True, "cooloff_minutes": max(1, cooloff_seconds // 60)}
    response = login_page(request, context, status=429)
    response["Retry-After"] = str(cooloff_seconds)
    return response


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    """Sign out (POST only, so a link or an image cannot sign anyone out)."""
    logout(request)
    messages.success(request, "You have been signed out.")
    return redirect("login")


@login_required
def home(request: AuthedRequest) -> HttpResponse:
    """The start page: the incident list."""
    return redirect("incident_list")
