"""Error pages: JSON under /api/ (clients parse `detail`), HTML elsewhere.

A request that fails because PostgreSQL cannot be reached (down, restarting, refusing
connections) answers 503 with `Retry-After` instead of 500: `templates/503.html`, rendered
without a request context (context processors read the database), or under /api/
`{"detail": ...}`. Nothing on this path touches the database.
"""

from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views.defaults import page_not_found as html_page_not_found
from django.views.defaults import server_error as html_server_error

from opsduty.middleware import API_PREFIX

# Seconds a client is asked to wait before it retries while the database is unavailable.
RETRY_AFTER_SECONDS = 5
DATABASE_UNAVAILABLE = "The database is temporarily unavailable; retry in a few seconds."


def database_unavailable(exc: BaseException | None) -> bool:
    """Whether `exc` says PostgreSQL could not be reached (rather than a bug)."""
    return isinstance(exc, OperationalError | InterfaceError)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": "Not found."}, status=404)
    return html_page_not_found(request, exception)


def service_unavailable(request: HttpRequest) -> HttpResponse:
    """503 for a request that could not reach the database (JSON under /api/)."""
    if request.path.startswith(API_PREFIX):
        response: HttpResponse = JsonResponse({"detail": DATABASE_UNAVAILABLE}, status=503)
    else:
        response = HttpResponse(loader.get_template("503.html").render(), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    if database_unavailable(sys.exc_info()[1]):
        return service_unavailable(request)
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": "Internal server error."}, status=500)
    return html_server_error(request)
