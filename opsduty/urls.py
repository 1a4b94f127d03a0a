"""Root URLconf: UI at /, API v1 at /api/v1/, OAuth2 at /oauth2/, health at /healthz and /readyz,
webcal feeds at /calendar/<token>.ics, SCIM 2.0 at /scim/v2/, public status pages at
/status/<slug>/ (and on their custom domains: statuspages/public/middleware.py)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from oauth2_provider import urls as oauth2_urls

from opsduty import health
from opsduty.ratelimit import by_ip, rate_limited

# Only the protocol endpoints of django-oauth-toolkit: applications are managed on our own,
# organization-scoped developer-settings page, not DOT's per-user management views.
# Limited per client IP (OPSDUTY_RATE_OAUTH): the token endpoint checks client secrets.
oauth2_patterns = [
    path(str(p.pattern), rate_limited("oauth", key=by_ip)(p.callback), name=p.name)
    for p in oauth2_urls.base_urlpatterns
    if p.name in {"authorize", "token", "revoke-token", "introspect"}
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("oauth2/", include((oauth2_patterns, "oauth2_provider"))),
    path("api/v1/", include("opsduty.api.urls")),
    path("", include("signals.receiver.urls")),
    path("", include("integrations.twilio.urls")),
    path("", include("integrations.twilio.devphone.urls")),
    path("", include("integrations.slack.urls")),
    path("", include("integrations.scim.urls")),
    path("", include("integrations.sso.urls")),
    path("", include("escalations.schedules.urls_feeds")),
    path("", include("statuspages.public.urls")),
    path("", include("opsduty.urls_ui")),
]

handler404 = "opsduty.errors.page_not_found"
handler500 = "opsduty.errors.server_error"
