"""Developer settings (owners): the organization's OAuth2 applications and API tokens.

django-oauth-toolkit's Application has no organization column; it belongs to the user who
created it, so the organization's applications are those of its users
(`selectors.application_list`); writes are `services.application_create` / `_delete`.
"""

from __future__ import annotations

from typing import cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from opsduty import selectors, services
from opsduty.forms import ApplicationCreateForm
from opsduty.ratelimit import by_user, rate_limited, refusal_detail
from opsduty.services import API_ACCESS_APPLICATION_NAME
from opsduty.views.common import AuthedRequest, add_validation_error, require_owner


def _page(request: AuthedRequest, form: ApplicationCreateForm) -> HttpResponse:
    context = {
        "applications": selectors.application_list(organization=request.organization),
        "form": form,
        "active": "developer",
        "token_application_name": API_ACCESS_APPLICATION_NAME,
        **_endpoints(request),
    }
    return render(request, "opsduty/developer.html", context)


def _endpoints(request: AuthedRequest) -> dict[str, object]:
    return {
        "authorize_url": request.build_absolute_uri(reverse("oauth2_provider:authorize")),
        "token_url": request.build_absolute_uri(reverse("oauth2_provider:token")),
        "scopes": list(settings.OAUTH2_PROVIDER["SCOPES"]),
    }


@require_GET
@login_required
def developer_settings(request: AuthedRequest) -> HttpResponse:
    """The organization's OAuth2 applications, the create form and the API-token command."""
    require_owner(request)
    return _page(request, ApplicationCreateForm())


def _too_many_applications(http_request: HttpRequest, wait: int) -> HttpResponse:
    """The developer settings, HTTP 429: this user created too many applications lately."""
    request = cast(AuthedRequest, http_request)
    form = ApplicationCreateForm(request.POST)
    form.is_valid()
    form.add_error(None, f"You created many applications lately. {refusal_detail(wait)}")
    response = _page(request, form)
    response.status_code = 429
    response["Retry-After"] = str(wait)
    return response


@never_cache
@require_POST
@login_required
@rate_limited("api_token_create", key=by_user, answer=_too_many_applications)
def application_create_view(request: AuthedRequest) -> HttpResponse:
    """Create an application and show its client secret, this one time only."""
    require_owner(request)
    form = ApplicationCreateForm(request.POST)
    if not form.is_valid():
        return _page(request, form)
    try:
        application, raw_secret = services.application_create(by=request.user, **form.cleaned_data)
    except ValidationError as error:
        add_validation_error(form, error)
        return _page(request, form)
    context = {
        "application": application,
        "client_secret": raw_secret,
        "active": "developer",
        **_endpoints(request),
    }
    # The secret is in this response only: keep it out of every cache.
    return render(request, "opsduty/application_created.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def application_delete_view(request: AuthedRequest, application_id: int) -> HttpResponseBase:
    """Confirm (GET) and delete (POST) an application of the organization (owners)."""
    application = selectors.application_get_or_404(
        organization=request.organization, application_id=application_id
    )
    require_owner(request)
    if request.method == "POST":
        name = application.name
        services.application_delete(application=application, by=request.user)
        messages.success(request, f"Application “{name}” deleted; its tokens no longer work.")
        return redirect("developer_settings")
    context = {"application": application, "active": "developer"}
    return render(request, "opsduty/application_confirm_delete.html", context)
