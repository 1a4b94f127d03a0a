"""Developer settings (owners): the organization's OAuth2 applications and API tokens.

django-oauth-toolkit's Application has no organization column; it belongs to the user who
created it, so the organization's applications are those of its users. `application_scoped`
is the one place that narrows them, and the two writes below are the only ones on them.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import Application

from opsduty.forms import ApplicationCreateForm
from opsduty.models import Organization, User
from opsduty.services import API_ACCESS_APPLICATION_NAME
from opsduty.views.common import AuthedRequest, add_validation_error, require_owner


def application_scoped(*, organization: Organization) -> QuerySet[Application]:
    """OAuth2 applications created by users of `organization`, newest first."""
    if not isinstance(organization, Organization):
        raise TypeError("application_scoped() needs an Organization")
    applications: QuerySet[Application] = (
        Application.objects.filter(user__organization=organization)
        .select_related("user")
        .order_by("-created", "-id")
    )
    return applications


def application_get_or_404(*, organization: Organization, application_id: int) -> Application:
    """One application of `organization`; the same 404 for missing and foreign ids."""
    application = application_scoped(organization=organization).filter(pk=application_id).first()
    if application is None:
        raise Http404("Not found.")
    return application


@transaction.atomic
def application_create(
    *, by: User, name: str, redirect_uris: str, client_type: str
) -> tuple[Application, str]:
    """Register an authorization-code (PKCE) client; returns it with its raw secret.

    DOT hashes `client_secret` on save, so the raw value exists only in this return value:
    show it once and never store it.
    """
    if not by.is_owner:
        raise PermissionDenied("Only owners can create OAuth2 applications.")
    raw_secret: str = generate_client_secret()
    application = Application(
        user=by,
        name=name.strip(),
        redirect_uris=redirect_uris,
        client_type=client_type,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        client_secret=raw_secret,
        hash_client_secret=True,
        skip_authorization=False,
    )
    application.full_clean()
    application.save()
    return application, raw_secret


@transaction.atomic
def application_delete(*, application: Application, by: User) -> None:
    """Delete an application (owners of its organization); its tokens go with it."""
    if not by.is_owner or application.user is None:
        raise PermissionDenied("Only owners can delete OAuth2 applications.")
    if application.user.organization_id != by.organization_id:
        raise PermissionDenied("This application belongs to another organization.")
    application.delete()


def _page(request: AuthedRequest, form: ApplicationCreateForm) -> HttpResponse:
    context = {
        "applications": application_scoped(organization=request.organization),
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


@never_cache
@require_POST
@login_required
def application_create_view(request: AuthedRequest) -> HttpResponse:
    """Create an application and show its client secret, this one time only."""
    require_owner(request)
    form = ApplicationCreateForm(request.POST)
    if not form.is_valid():
        return _page(request, form)
    try:
        application, raw_secret = application_create(by=request.user, **form.cleaned_data)
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
    application = application_get_or_404(
        organization=request.organization, application_id=application_id
    )
    require_owner(request)
    if request.method == "POST":
        name = application.name
        application_delete(application=application, by=request.user)
        messages.success(request, f"Application “{name}” deleted; its tokens no longer work.")
        return redirect("developer_settings")
    context = {"application": application, "active": "developer"}
    return render(request, "opsduty/application_confirm_delete.html", context)
