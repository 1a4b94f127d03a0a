"""Request-level organization, the API's no-redirect rule, and URLs with NUL refused."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.common import CommonMiddleware as DjangoCommonMiddleware

API_PREFIX = "/api/"


class OrganizationMiddleware:
    """Set `request.organization` from the signed-in user (None for anonymous requests).

    API requests authenticate with bearer tokens inside DRF; the API base classes set
    `request.organization` again after authentication (opsduty/api/base.py).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        request.organization = (  # type: ignore[attr-defined]
            user.organization if user is not None and user.is_authenticated else None
        )
        return self.get_response(request)


class CommonMiddleware(DjangoCommonMiddleware):
    """Django's CommonMiddleware, minus the APPEND_SLASH redirect under /api/.

    The public API clients do not follow redirects, so an API path must answer directly
    (a 404 with a JSON body when it does not exist).
    """

    def should_redirect_with_slash(self, request: HttpRequest) -> bool:
        if request.path_info.startswith(API_PREFIX):
            return False
        return super().should_redirect_with_slash(request)


class NulRefusalMiddleware:
    """Answer 400 to a URL with a NUL character (`%00`) in its path or query string.

    PostgreSQL text cannot hold U+0000, so any such value reaching a query made it fail with
    a 500 (`/api/v1/heartbeats/checkin/1/job%00/prod`, `?search=%00`). Forms and DRF fields
    refuse NUL themselves (Django's ProhibitNullCharactersValidator); URL kwargs and query
    parameters are refused here, once, before any view.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.GET
        if "\x00" in request.path or any("\x00" in k + "".join(query.getlist(k)) for k in query):
            return JsonResponse(
                {"detail": "The URL contains a NUL character (%00), which is never valid here."},
                status=400,
            )
        return self.get_response(request)
