"""Analytics reads of API v1, one per tab of the analytics pages (OpsDuty's own extension: the
public clients do not call them): the overview, the breakdowns per service, escalation policy
and team, and the responder load.

The query parameters are the pages' (`analytics.filters.filters_from_query`); a refused one is
a 422 at `["query", "<name>"]`. Who sees what is `analytics.selectors.scope_for`: owners and
stakeholders the organization, members their teams' data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from analytics.filters import PRESETS, filters_from_query
from analytics.selectors import (
    DAILY_MAX_DAYS,
    Filters,
    Metrics,
    Scope,
    breakdown,
    histograms_read,
    incidents_over_time,
    names_of,
    overview,
    responder_load,
    scope_for,
    weekly_buckets,
)
from opsduty.api.base import OrgScopedAPIView, current_user
from opsduty.api.enums import NamedChoiceField
from opsduty.api.errors import UnprocessableEntity
from opsduty.api.pagination import RelayCursorPagination, page_of_list
from opsduty.choices import Urgency
from opsduty.models import Organization, User
from opsduty.tenancy import scoped

__all__ = [
    "AnalyticsOverviewView",
    "AnalyticsPolicyListView",
    "AnalyticsResponderListView",
    "AnalyticsServiceListView",
    "AnalyticsTeamListView",
]

F = TypeVar("F", bound=Callable[..., Any])

# Ranges up to this many days are counted per day in `incidents_over_time`, longer ones per
# ISO week (from Monday).
EXTENSION = "OpsDuty extension of API v1 (not in the public clients)."

# --- schemas -------------------------------------------------------------------------------


class AnalyticsRangeSchema(serializers.Serializer[Any]):
    """The days counted (inclusive, in the organization's time zone) and the series' bucket."""

    start = serializers.DateField(help_text="First day, inclusive.")
    end = serializers.DateField(help_text="Last day, inclusive.")
    time_zone = serializers.CharField(help_text="The organization's IANA time zone.")
    bucket = serializers.ChoiceField(
        choices=["day", "week"],
        help_text=f"`day` for ranges up to {DAILY_MAX_DAYS} days, else `week` (from Monday).",
    )


class AnalyticsFiltersSchema(serializers.Serializer[Any]):
    """The filters applied (null: not filtered)."""

    team = serializers.IntegerField(allow_null=True)
    service = serializers.IntegerField(allow_null=True)
    urgency = NamedChoiceField(Urgency, "IncidentUrgency", allow_null=True)
    # DRF pops declared fields from the class; only the stubs' `Field.label: str` clashes.
    label = serializers.CharField(allow_null=True)  # type: ignore[assignment]


def _count(help_text: str) -> serializers.IntegerField:
    return serializers.IntegerField(help_text=help_text)


def _seconds(help_text: str) -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, help_text=f"{help_text} Null: none.")


class AnalyticsMetricsSchema(serializers.Serializer[Any]):
    """The figures of a set of incidents (created in the range); times in seconds."""

    incidents = _count("Incidents created in the range.")
    acknowledged = _count("Acknowledged by a person.")
    not_acknowledged = _count("Never acknowledged by a person.")
    ack_rate = _seconds("Acknowledged by a person, of all incidents (%).")
    ack_within_5m_rate = _seconds("Acknowledged by a person within 5 minutes (%).")
    mtta_seconds = _seconds("Mean time to the first acknowledgement by a person.")
    mtta_p50_seconds = _seconds("Median time to acknowledge.")
    mtta_p95_seconds = _seconds("95th percentile of the time to acknowledge.")
    resolved = _count("Resolved (and not reopened since).")
    open = _count("Not resolved.")
    mttr_seconds = _seconds("Mean time to resolve.")
    mttr_p50_seconds = _seconds("Median time to resolve.")
    mttr_p95_seconds = _seconds("95th percentile of the time to resolve.")
    auto_resolved = _count("Resolved by the system without a person's acknowledgement.")
    resolved_without_ack = _count("Resolved by a person without anyone's acknowledgement.")
    escalated = _count("Escalated to level 2 or later because a wait ran out.")
    reassigned = _count("Reassigned by a person to another escalation policy.")


# (key, written as a float) of AnalyticsMetricsSchema, in its order.
_METRIC_KINDS = [
    (name, isinstance(field, serializers.FloatField))
    for name, field in AnalyticsMetricsSchema().fields.items()
]


def _metrics_data(values: dict[str, Any]) -> dict[str, Any]:
    """`AnalyticsMetricsSchema(values).data`, written directly (same keys, order, types)."""
    return {
        name: (None if values[name] is None else float(values[name]))
        if is_float
        else int(values[name])
        for name, is_float in _METRIC_KINDS
    }


class AnalyticsSeriesPointSchema(serializers.Serializer[Any]):
    """New incidents of one bucket (a day, or a week from Monday) by urgency."""

    start = serializers.DateField(help_text="The bucket's first day.")
    high = serializers.IntegerField()
    low = serializers.IntegerField()


class AnalyticsOverviewSchema(serializers.Serializer[Any]):
    """The overview tab: the metrics and the incidents over time."""

    range = AnalyticsRangeSchema()
    filters = AnalyticsFiltersSchema()
    metrics = AnalyticsMetricsSchema()
    incidents_over_time = AnalyticsSeriesPointSchema(many=True)


class AnalyticsBreakdownItemSchema(serializers.Serializer[Any]):
    """The metrics of one service, escalation policy or team."""

    id = serializers.IntegerField(help_text="0: incidents without one (e.g. no policy).")
    name = serializers.CharField(allow_null=True, help_text="Null for id 0 or a deleted one.")
    metrics = AnalyticsMetricsSchema()


class AnalyticsPageInfoSchema(serializers.Serializer[Any]):
    """Where the page lies in the whole list (as every paged list of the API says it)."""

    has_next_page = serializers.BooleanField()
    has_previous_page = serializers.BooleanField()
    start_cursor = serializers.CharField(allow_null=True, help_text="Cursor of the first item.")
    end_cursor = serializers.CharField(allow_null=True, help_text="Cursor of the last item.")


class AnalyticsBreakdownSchema(serializers.Serializer[Any]):
    """A breakdown tab: one item per id, most incidents first, a page at a time."""

    range = AnalyticsRangeSchema()
    filters = AnalyticsFiltersSchema()
    items = AnalyticsBreakdownItemSchema(many=True)
    page_info = AnalyticsPageInfoSchema()


class AnalyticsResponderUserSchema(serializers.Serializer[Any]):
    """The person (name and email are null for a deleted account)."""

    id = serializers.IntegerField()
    name = serializers.CharField(allow_null=True)
    email = serializers.CharField(allow_null=True)


class AnalyticsResponderSchema(serializers.Serializer[Any]):
    """One person's interruptions (notifications within a minute count once) by their hours."""

    user = AnalyticsResponderUserSchema()
    business = _count("Interruptions 08-18 Monday to Friday, in the person's time zone.")
    off = _count("Interruptions off hours (evenings, weekends).")
    sleep = _count("Interruptions 22-08.")
    interruptions = _count("All interruptions.")
    notifications = _count("Interrupting notifications (SMS, voice, Slack) delivered.")


class AnalyticsResponderLoadSchema(serializers.Serializer[Any]):
    """The responders tab: busiest first."""

    range = AnalyticsRangeSchema()
    filters = AnalyticsFiltersSchema()
    items = AnalyticsResponderSchema(many=True)


# --- query parameters ----------------------------------------------------------------------

ANALYTICS_PARAMETERS = [
    OpenApiParameter(
        "range",
        OpenApiTypes.STR,
        enum=[*PRESETS, "custom"],
        default="30",
        description="The last 7, 30 or 90 days (today included, in the organization's time "
        "zone), or `custom` with `start` and `end`.",
    ),
    OpenApiParameter("start", OpenApiTypes.DATE, description="With `range=custom`: the first day."),
    OpenApiParameter(
        "end",
        OpenApiTypes.DATE,
        description="With `range=custom`: the last day (inclusive); at most 366 days.",
    ),
    OpenApiParameter("team", OpenApiTypes.INT, description="Only this team's services."),
    OpenApiParameter("service", OpenApiTypes.INT, description="Only this service."),
    OpenApiParameter(
        "urgency", OpenApiTypes.STR, enum=Urgency.values, description="Only this urgency."
    ),
    OpenApiParameter("label", OpenApiTypes.STR, description="Only incidents with this label."),
]

PARAMETER_NAMES = tuple(parameter.name for parameter in ANALYTICS_PARAMETERS)


def analytics_filters(request: Request, organization: Organization) -> Filters:
    """The filters of the request's query; a 422 naming each refused parameter."""
    query = {name: request.query_params.get(name, "") for name in request.query_params}
    try:
        return filters_from_query(query, organization)
    except ValidationError as error:
        raise UnprocessableEntity.from_detail(error.message_dict, loc=("query",)) from None


# --- payloads ------------------------------------------------------------------------------


def _time_zone(organization: Organization) -> str:
    """The organization's zone as the range is computed in it (an unknown one counts as UTC)."""
    try:
        ZoneInfo(organization.time_zone or "UTC")
    except (ValueError, KeyError):
        return "UTC"
    return organization.time_zone or "UTC"


def _envelope(organization: Organization, filters: Filters) -> dict[str, Any]:
    return {
        "range": {
            "start": filters.start,
            "end": filters.end,
            "time_zone": _time_zone(organization),
            "bucket": "week" if weekly_buckets(filters) else "day",
        },
        "filters": {
            "team": filters.team_id,
            "service": filters.service_id,
            "urgency": filters.urgency,
            "label": filters.label,
        },
    }


def _most_incidents_first(item: tuple[int, Metrics]) -> tuple[int, int]:
    """A breakdown's list order (and its cursors): most incidents first, then by id."""
    return (-item[1].incidents, item[0])


def _breakdown_page(
    request: Request, scope: Scope, filters: Filters, dimension: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The page of a breakdown that the request asks for, and its page info: every group's
    counts, then the percentiles of the page's groups only (2,000 services' histograms were
    most of the request's time); unknown ids have no name."""
    by_id = breakdown(scope, filters, dimension, histograms=False)
    ordered = sorted(by_id.items(), key=_most_incidents_first)
    page, page_info = page_of_list(request, ordered, _most_incidents_first)
    histograms_read(scope, filters, dimension, page)
    names = names_of(scope.organization_id, dimension)
    items = [
        {"id": pk, "name": names.get(pk) if pk else None, "metrics": metrics.as_dict()}
        for pk, metrics in page
    ]
    return items, page_info


def _responder_items(scope: Scope, filters: Filters, organization: Organization) -> list[Any]:
    """The responder load, busiest first, with each person's name and email."""
    if scope.team_ids is not None and filters.team_id not in (None, *scope.team_ids):
        # A member filtering by a team that is not theirs sees nothing of it, as on the
        # other tabs (the selector's team filter would replace the member's scope).
        return []
    loads = responder_load(scope, filters)
    users = scoped(User, organization).in_bulk([load.user_id for load in loads])
    items = []
    for load in loads:
        user = users.get(load.user_id)
        items.append(
            {
                "user": {
                    "id": load.user_id,
                    "name": user.get_full_name() if user else None,
                    "email": user.email if user else None,
                },
                "business": load.business,
                "off": load.off,
                "sleep": load.sleep,
                "interruptions": load.interruptions,
                "notifications": load.notifications,
            }
        )
    return items


# --- views ---------------------------------------------------------------------------------


class AnalyticsAPIView(OrgScopedAPIView):
    """An analytics read: the caller's scope and the query's filters."""

    def scope_and_filters(self, request: Request) -> tuple[Scope, Filters]:
        filters = analytics_filters(request, self.organization)
        return scope_for(current_user(request)), filters


# A breakdown's pages: the parameters of every paged list (opsduty/api/pagination.py).
PAGE_PARAMETERS = [
    OpenApiParameter(
        parameter["name"],
        OpenApiTypes.INT if parameter["schema"]["type"] == "integer" else OpenApiTypes.STR,
        description=parameter["description"],
        deprecated=parameter.get("deprecated", False),
    )
    for parameter in RelayCursorPagination().get_schema_operation_parameters(None)  # type: ignore[arg-type]
]


def _analytics_schema(
    name: str,
    summary: str,
    description: str,
    response: type[serializers.Serializer[Any]],
    *,
    paged: bool = False,
) -> Callable[[F], F]:
    return extend_schema(
        operation_id=f"opsduty_api_v1_analytics_{name}",
        summary=summary,
        description=f"{EXTENSION} {description}",
        parameters=[*ANALYTICS_PARAMETERS, *(PAGE_PARAMETERS if paged else [])],
        responses={200: response},
        tags=["analytics"],
    )


class AnalyticsOverviewView(AnalyticsAPIView):
    """The overview tab: metrics of the range and new incidents per day or week."""

    @_analytics_schema(
        "overview",
        "Analytics overview",
        "The metrics of the incidents created in the range that you can see (owners and "
        "stakeholders: the organization; members: their teams), and the new incidents per "
        f"day (ranges up to {DAILY_MAX_DAYS} days) or per week from Monday, by urgency.",
        AnalyticsOverviewSchema,
    )
    def get(self, request: Request) -> Response:
        scope, filters = self.scope_and_filters(request)
        payload = _envelope(self.organization, filters)
        payload["metrics"] = overview(scope, filters).as_dict()
        payload["incidents_over_time"] = [
            {"start": point.start, "high": point.high, "low": point.low}
            for point in incidents_over_time(scope, filters, weekly=weekly_buckets(filters))
        ]
        return Response(AnalyticsOverviewSchema(payload).data)


class AnalyticsBreakdownView(AnalyticsAPIView):
    """A breakdown tab: the metrics per `dimension` id, most incidents first."""

    dimension: str

    def get(self, request: Request) -> Response:
        scope, filters = self.scope_and_filters(request)
        items, page_info = _breakdown_page(request, scope, filters, self.dimension)
        payload = {**_envelope(self.organization, filters), "page_info": page_info}
        data = AnalyticsBreakdownSchema({**payload, "items": []}).data
        # The items as the schema would write them, without a serializer call per field.
        data["items"] = [
            {"id": int(item["id"]), "name": item["name"], "metrics": _metrics_data(item["metrics"])}
            for item in items
        ]
        return Response(data)


_BREAKDOWN = (
    "The metrics per {what} of the incidents created in the range that you can see, most "
    "incidents first (then by id), a page at a time (`first`/`after` as every paged list; "
    "50 by default, at most 100). Id 0 gathers the incidents {none}; `name` is null for it "
    "and for a {what} deleted since."
)


class AnalyticsServiceListView(AnalyticsBreakdownView):
    dimension = "service"

    @_analytics_schema(
        "services",
        "Analytics per service",
        _BREAKDOWN.format(what="service", none="without one"),
        AnalyticsBreakdownSchema,
        paged=True,
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class AnalyticsPolicyListView(AnalyticsBreakdownView):
    dimension = "policy"

    @_analytics_schema(
        "policies",
        "Analytics per escalation policy",
        _BREAKDOWN.format(
            what="escalation policy",
            none="whose service had no escalation policy",
        ),
        AnalyticsBreakdownSchema,
        paged=True,
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class AnalyticsTeamListView(AnalyticsBreakdownView):
    dimension = "team"

    @_analytics_schema(
        "teams",
        "Analytics per team",
        _BREAKDOWN.format(what="team", none="without one"),
        AnalyticsBreakdownSchema,
        paged=True,
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class AnalyticsResponderListView(AnalyticsAPIView):
    """The responders tab: interruptions per person by the time of day, busiest first."""

    @_analytics_schema(
        "responders",
        "Analytics: responder load",
        "Interruptions per person in the range (SMS, voice and Slack notifications; several "
        "within a minute count once), by business hours, off hours and sleep (22-08) in the "
        "person's time zone, busiest first. Members see the people of their teams. Only "
        "`range` and `team` narrow this list; the other filters are checked and echoed.",
        AnalyticsResponderLoadSchema,
    )
    def get(self, request: Request) -> Response:
        scope, filters = self.scope_and_filters(request)
        payload = _envelope(self.organization, filters)
        payload["items"] = _responder_items(scope, filters, self.organization)
        return Response(AnalyticsResponderLoadSchema(payload).data)
