"""URLconf of /api/v1/: exact paths, no redirects, JSON 404 for everything else.

The public clients never follow redirects (spec §1.1), so every route is matched exactly
as the clients send it and anything unknown ends in the catch-all JSON 404 (also when
DEBUG would otherwise show Django's HTML "page not found").
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

from analytics.api import (
    AnalyticsOverviewView,
    AnalyticsPolicyListView,
    AnalyticsResponderListView,
    AnalyticsServiceListView,
    AnalyticsTeamListView,
)
from escalations.catalog.api import ServiceListView, ServiceMaintenanceView
from escalations.engine.api import IncidentEscalateView, IncidentPageView, IncidentReassignView
from escalations.schedules.api import (
    ScheduleListView,
    ScheduleOverrideDetailView,
    ScheduleOverrideListView,
    ScheduleShiftListView,
    ServiceOncallView,
)
from incidents.api.actions import (
    IncidentAcknowledgeView,
    IncidentNoteCreateView,
    IncidentResolveView,
    IncidentUnacknowledgeView,
    IncidentUnresolveView,
)
from incidents.api.reads import (
    IncidentDetailView,
    IncidentListView,
    IncidentReferenceDetailView,
    IncidentResponderListView,
)
from opsduty.api.users import UserListView
from opsduty.ratelimit import by_ip, rate_limited
from processing.channels.api import ReceiveChannelDebugView, ReceiveChannelListView
from processing.pipeline.api import RawEventDebugView
from signals.heartbeats.api import (
    HeartbeatCheckinView,
    HeartbeatDetailView,
    HeartbeatListView,
    HeartbeatStateDetailView,
    HeartbeatStateListView,
)
from statuspages.api import (
    ComponentGroupDetailView,
    ComponentGroupListView,
    ComponentGroupMoveView,
    ComponentListView,
    ComponentStatusView,
    IncidentPostmortemDraftView,
    IncidentPostmortemView,
    IncidentPublishView,
    IncidentUpdateListView,
    StatusPageListView,
    StatusPageUptimeView,
)
from statuspages.api import IncidentListView as StatusPageIncidentListView

app_name = "api"


class OpenApiView(SpectacularJSONAPIView):
    """The OpenAPI 3 document, public (it describes the API, it holds no data)."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes: list[type] = []


class SwaggerView(SpectacularSwaggerSplitView):
    """Swagger UI (offline assets from drf-spectacular-sidecar), public; its init script is
    served by the same view (`?script`), so the page needs no inline script (CSP)."""

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
    path("heartbeats/", HeartbeatListView.as_view(), name="heartbeats"),
    # Literals before the integer id (spec §2.1 routing pitfalls).
    path("heartbeats/states/", HeartbeatStateListView.as_view(), name="heartbeat-states"),
    path(
        "heartbeats/states/<int:heartbeat_state_id>/",
        HeartbeatStateDetailView.as_view(),
        name="heartbeat-state",
    ),
    # #9, the one route without a trailing slash. `<path:name>` takes everything up to the
    # last `/`, so a name whose `/` arrived as %2F (decoded before routing) still matches;
    # the view re-splits on the raw path when the server provides it.
    path(
        "heartbeats/checkin/<int:service_id>/<path:name>/<str:environment>",
        HeartbeatCheckinView.as_view(),
        name="heartbeat-checkin",
    ),
    path("heartbeats/<int:heartbeat_id>/", HeartbeatDetailView.as_view(), name="heartbeat"),
    path("services/", ServiceListView.as_view(), name="services"),
    path(
        "services/<int:service_id>/maintenance/",
        ServiceMaintenanceView.as_view(),
        name="service-maintenance",
    ),
    path("services/<int:service_id>/oncall/", ServiceOncallView.as_view(), name="service-oncall"),
    path("schedules/", ScheduleListView.as_view(), name="schedules"),
    path(
        "schedules/<int:schedule_id>/shifts/",
        ScheduleShiftListView.as_view(),
        name="schedule-shifts",
    ),
    path(
        "schedules/<int:schedule_id>/overrides/",
        ScheduleOverrideListView.as_view(),
        name="schedule-overrides",
    ),
    path(
        "schedules/<int:schedule_id>/overrides/<int:override_id>/",
        ScheduleOverrideDetailView.as_view(),
        name="schedule-override",
    ),
    path("incidents/", IncidentListView.as_view(), name="incidents"),
    # Literal before the integer id (spec §2.1 routing pitfalls).
    path(
        "incidents/incident-reference/<str:incident_reference_id>/",
        IncidentReferenceDetailView.as_view(),
        name="incident-reference",
    ),
    path("incidents/<int:incident_group_id>/", IncidentDetailView.as_view(), name="incident"),
    path(
        "incidents/<int:incident_group_id>/responders/",
        IncidentResponderListView.as_view(),
        name="incident-responders",
    ),
    path(
        "incidents/<int:incident_group_id>/acknowledge/",
        IncidentAcknowledgeView.as_view(),
        name="incident-acknowledge",
    ),
    path(
        "incidents/<int:incident_group_id>/unacknowledge/",
        IncidentUnacknowledgeView.as_view(),
        name="incident-unacknowledge",
    ),
    path(
        "incidents/<int:incident_group_id>/resolve/",
        IncidentResolveView.as_view(),
        name="incident-resolve",
    ),
    path(
        "incidents/<int:incident_group_id>/unresolve/",
        IncidentUnresolveView.as_view(),
        name="incident-unresolve",
    ),
    path(
        "incidents/<int:incident_group_id>/notes/",
        IncidentNoteCreateView.as_view(),
        name="incident-notes",
    ),
    path(
        "incidents/<int:incident_group_id>/page/",
        IncidentPageView.as_view(),
        name="incident-page",
    ),
    path(
        "incidents/<int:incident_group_id>/escalate/",
        IncidentEscalateView.as_view(),
        name="incident-escalate",
    ),
    path(
        "incidents/<int:incident_group_id>/reassign/",
        IncidentReassignView.as_view(),
        name="incident-reassign",
    ),
    path("receive-channels/", ReceiveChannelListView.as_view(), name="receive-channels"),
    path(
        "receive-channels/debug/",
        ReceiveChannelDebugView.as_view(),
        name="receive-channel-debug",
    ),
    path(
        "raw-events/<int:raw_event_id>/debug/",
        RawEventDebugView.as_view(),
        name="raw-event-debug",
    ),
    # OpsDuty's own analytics, one read per tab of the analytics pages.
    path("analytics/overview/", AnalyticsOverviewView.as_view(), name="analytics-overview"),
    path("analytics/services/", AnalyticsServiceListView.as_view(), name="analytics-services"),
    path("analytics/policies/", AnalyticsPolicyListView.as_view(), name="analytics-policies"),
    path("analytics/teams/", AnalyticsTeamListView.as_view(), name="analytics-teams"),
    path(
        "analytics/responders/",
        AnalyticsResponderListView.as_view(),
        name="analytics-responders",
    ),
    # Status pages (spec §D). The literal segments first, and integer ids only, so that
    # `component-groups/`, `components/` and `incidents/` never read as a page id.
    path("statuspages/", StatusPageListView.as_view(), name="statuspages"),
    path(
        "statuspages/component-groups/<int:component_group_id>/",
        ComponentGroupDetailView.as_view(),
        name="statuspage-component-group",
    ),
    path(
        "statuspages/component-groups/<int:component_group_id>/move/",
        ComponentGroupMoveView.as_view(),
        name="statuspage-component-group-move",
    ),
    path(
        "statuspages/components/<int:component_id>/status/",
        ComponentStatusView.as_view(),
        name="statuspage-component-status",
    ),
    path(
        "statuspages/incidents/<int:incident_id>/publish/",
        IncidentPublishView.as_view(),
        name="statuspage-incident-publish",
    ),
    path(
        "statuspages/incidents/<int:incident_id>/updates/",
        IncidentUpdateListView.as_view(),
        name="statuspage-incident-updates",
    ),
    # `postmortem/draft/` is its own route, not swallowed by `postmortem/`.
    path(
        "statuspages/incidents/<int:incident_id>/postmortem/draft/",
        IncidentPostmortemDraftView.as_view(),
        name="statuspage-incident-postmortem-draft",
    ),
    path(
        "statuspages/incidents/<int:incident_id>/postmortem/",
        IncidentPostmortemView.as_view(),
        name="statuspage-incident-postmortem",
    ),
    path(
        "statuspages/<int:status_page_id>/component-groups/",
        ComponentGroupListView.as_view(),
        name="statuspage-component-groups",
    ),
    path(
        "statuspages/<int:status_page_id>/components/",
        ComponentListView.as_view(),
        name="statuspage-components",
    ),
    path(
        "statuspages/<int:status_page_id>/incidents/",
        StatusPageIncidentListView.as_view(),
        name="statuspage-incidents",
    ),
    path(
        "statuspages/<int:status_page_id>/uptime/",
        StatusPageUptimeView.as_view(),
        name="statuspage-uptime",
    ),
    # Public (no token): limited per client IP (settings OPSDUTY_RATE_PUBLIC).
    path("openapi.json", rate_limited("public", key=by_ip)(OpenApiView.as_view()), name="openapi"),
    path("docs", rate_limited("public", key=by_ip)(SwaggerView.as_view()), name="docs"),
    re_path(r"^.*$", not_found),
]
