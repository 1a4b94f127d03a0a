"""Request-level organization and the API's no-redirect rule."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
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
