"""URLconf of /api/v1/: exact paths, no redirects, JSON 404 for everything else.

The public clients never follow redirects (spec §1.1), so every route is matched exactly
as the clients send it and anything unknown ends in the catch-all JSON 404 (also when
DEBUG would otherwise show Django's HTML "page not found").
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from opsduty.api.users import UserListView

app_name = "api"


class OpenApiView(SpectacularJSONAPIView):
    """The OpenAPI 3 document, public (it describes the API, it holds no data)."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes: list[type] = []


class SwaggerView(SpectacularSwaggerView):
    """Swagger UI (offline assets from drf-spectacular-sidecar), public."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes: list[type] = []
    url_name = "api:openapi"


@csrf_exempt
def not_found(request: HttpRequest) -> JsonResponse:
    """Any other path under /api/v1/: 404 JSON, for every method."""
    return JsonResponse({"detail": "Not found."}, status=404)


urlpatterns: list[URLPattern] = [
    path("users/", UserListView.as_view(), name="users"),
    path("openapi.json", OpenApiView.as_view(), name="openapi"),
    path("docs", SwaggerView.as_view(), name="docs"),
    re_path(r"^.*$", not_found),
]
