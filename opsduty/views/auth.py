"""Sign-in (domain + email + password), sign-out, the lockout page and the home redirect."""

from __future__ import annotations

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

from opsduty.forms import LoginForm
from opsduty.ratelimit import by_ip, rate_limited
from opsduty.views.common import AuthedRequest

# One message for every kind of bad credentials: never say which part was wrong.
INVALID_CREDENTIALS = (
    "We could not sign you in with that organization, email and password. Check them and try again."
)


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
    response = render(request, "registration/login.html", context, status=429)
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
        return render(request, "registration/login.html", {"form": form})

    form = LoginForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        user = authenticate(
            request, domain=data["domain"], email=data["email"], password=data["password"]
        )
        if user is not None:
            login(request, user)
            return HttpResponseRedirect(_safe_next(request, data["next"]))
        # A locked-out attempt also lands here; AxesMiddleware then swaps in login_locked_out.
        form.add_error(None, INVALID_CREDENTIALS)
    return render(request, "registration/login.html", {"form": form})


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
    response = render(request, "registration/login.html", context, status=429)
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
