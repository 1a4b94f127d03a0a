"""Heartbeats of API v1 (spec §2.3): #1-#5 heartbeats, #6-#8 their states (environments),
#9 the authenticated check-in by service, heartbeat name and environment.

Visibility follows the services: owners see every heartbeat of the organization, others
those on their teams' services; anything else answers 404 (422 where the spec declares no
404: an unknown `service` on create, an unknown `heartbeat_id` on state create). Writes go
through `signals.heartbeats.services`, which allows owners and members of the service's team (403
for a stakeholder who can see it, as elsewhere in this API).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from django.db import IntegrityError, models
from django.db.models import Prefetch
from django.http import HttpRequest
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from opsduty.api.base import OrgScopedAPIView, OrgScopedListAPIView, current_user
from opsduty.api.enums import NamedChoiceField
from opsduty.api.errors import UnprocessableEntity
from opsduty.api.fields import StrictCharField, not_blank, query_text
from opsduty.choices import Urgency
from opsduty.models import Service, User
from opsduty.selectors import service_visible_list
from opsduty.tenancy import get_for_org_or_404
from signals.heartbeats import services as heartbeats
from signals.heartbeats.checkin import client_ip
from signals.models import Heartbeat, HeartbeatState, HeartbeatType

# --- reads ----------------------------------------------------------------------------------


def heartbeats_visible(user: User) -> models.QuerySet[Heartbeat]:
    """Heartbeats on the services `user` can see, with their service and states (id order)."""
    return (
        Heartbeat.objects.filter(
            organization=user.organization, service__in=service_visible_list(user=user)
        )
        .select_related("service", "service__team")
        .prefetch_related(Prefetch("states", queryset=HeartbeatState.objects.order_by("id")))
    )


def heartbeat_get(user: User, heartbeat_id: int) -> Heartbeat:
    """One visible heartbeat, or 404 (also for another organization's id)."""
    return get_for_org_or_404(heartbeats_visible(user), user.organization, pk=heartbeat_id)


def state_get(user: User, state_id: int) -> HeartbeatState:
    """One state of a visible heartbeat, or 404."""
    states = HeartbeatState.objects.filter(
        heartbeat__service__in=service_visible_list(user=user)
    ).select_related("heartbeat", "heartbeat__service", "heartbeat__service__team")
    return get_for_org_or_404(states, user.organization, pk=state_id)


def _service_for_body(user: User, service_id: int) -> Service:
    service = service_visible_list(user=user).select_related("team").filter(pk=service_id).first()
    if service is None:
        raise UnprocessableEntity.for_field(("body", "service"), "Unknown service.")
    return service


# --- response schemas -----------------------------------------------------------------------

_as_datetime = serializers.DateTimeField().to_representation


def state_body(state: HeartbeatState) -> dict[str, Any]:
    """A state as the cron | interval union (§3.3): the common keys plus its own type's."""
    body: dict[str, Any] = {
        "id": state.pk,
        "environment": state.environment,
        "type": state.type,
        "muted": state.muted,
        "resolve_incident": state.resolve_incident,
        "timeout_seconds": state.timeout_seconds,
    }
    if state.type == HeartbeatType.CRON:
        body["cron_expression"] = state.cron_expression
        body["cron_timezone"] = state.cron_timezone
    else:
        body["interval_seconds"] = state.interval_seconds
    body["last_checkin_at"] = _as_datetime(state.last_checkin_at) if state.last_checkin_at else None
    return body


class _StateSchemaBase(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    environment = serializers.CharField()
    muted = serializers.BooleanField()
    resolve_incident = serializers.BooleanField()
    timeout_seconds = serializers.IntegerField()
    last_checkin_at = serializers.DateTimeField(allow_null=True)


class CronHeartbeatStateSchema(_StateSchemaBase):
    """`CronHeartbeatStateSchema` (documentation; responses are built by `state_body`)."""

    type = serializers.ChoiceField(choices=[HeartbeatType.CRON.value])
    cron_expression = serializers.CharField()
    cron_timezone = serializers.CharField()


class IntervalHeartbeatStateSchema(_StateSchemaBase):
    """`IntervalHeartbeatStateSchema` (documentation; responses are built by `state_body`)."""

    type = serializers.ChoiceField(choices=[HeartbeatType.INTERVAL.value])
    interval_seconds = serializers.IntegerField()


def _state_union(many: bool = False) -> PolymorphicProxySerializer:
    return PolymorphicProxySerializer(
        component_name="HeartbeatStateSchema",
        # Keyed by the `type` value, so the discriminator maps "cron" and "interval" (a list
        # would map the component names, which no response carries).
        serializers={
            HeartbeatType.CRON.value: CronHeartbeatStateSchema,
            HeartbeatType.INTERVAL.value: IntervalHeartbeatStateSchema,
        },
        resource_type_field_name="type",
        many=many,
    )


class HeartbeatSchema(serializers.ModelSerializer[Heartbeat]):
    """`HeartbeatSchema`: all nine keys on every heartbeat (`null` where there is no value)."""

    states = serializers.SerializerMethodField()
    service = serializers.IntegerField(source="service_id")
    incident_urgency = serializers.CharField(allow_null=True)
    labels = serializers.ListField(child=serializers.CharField(), allow_null=True)

    class Meta:
        model = Heartbeat
        fields = [
            "states",
            "name",
            "service",
            "id",
            "public_primary_key",
            "description",
            "link",
            "incident_urgency",
            "labels",
        ]
        read_only_fields = fields

    @extend_schema_field(_state_union(many=True))
    def get_states(self, heartbeat: Heartbeat) -> list[dict[str, Any]]:
        return [state_body(state) for state in heartbeat.states.all()]


# --- request bodies -------------------------------------------------------------------------


# The bounds the services keep (signals/heartbeats/services.py), declared on the fields too so
# that the OpenAPI document states them; the messages are the services' own.
NOT_BLANK = not_blank("Enter a name.")


def _text(
    max_length: int, message: str, error_messages: dict[str, str] | None = None, **kwargs: Any
) -> StrictCharField:
    messages: dict[str, Any] = {"max_length": message, **(error_messages or {})}
    return StrictCharField(max_length=max_length, error_messages=messages, **kwargs)


def _seconds(low: int, high: int, message: str, **kwargs: Any) -> serializers.IntegerField:
    messages: dict[str, Any] = {"min_value": message, "max_value": message}
    return serializers.IntegerField(
        min_value=low, max_value=high, error_messages=messages, **kwargs
    )


class CreateHeartbeatInput(serializers.Serializer[Any]):
    """`CreateHeartbeatInput` / `UpdateHeartbeatInput` (PUT: absent keys stay unchanged)."""

    name = _text(
        200,
        "The name may be at most 200 characters.",
        trim_whitespace=False,
        validators=[NOT_BLANK],
        error_messages={"blank": "Enter a name."},
    )
    description = _text(
        2000,
        "The description may be at most 2000 characters.",
        allow_blank=True,
        allow_null=True,
        required=False,
        trim_whitespace=False,
    )
    service = serializers.IntegerField()
    link = _text(
        2000,
        "Enter a valid URL, e.g. https://wiki.example.com/runbook.",
        allow_blank=True,
        allow_null=True,
        required=False,
    )
    incident_urgency = NamedChoiceField(Urgency, "IncidentUrgency", allow_null=True, required=False)
    labels = serializers.ListField(
        child=StrictCharField(allow_blank=True), allow_null=True, required=False
    )


class UpdateHeartbeatInput(CreateHeartbeatInput):
    """`UpdateHeartbeatInput`: the same shape as create, every key optional (PUT is partial)."""

    name = _text(
        200,
        "The name may be at most 200 characters.",
        trim_whitespace=False,
        validators=[NOT_BLANK],
        error_messages={"blank": "Enter a name."},
        required=False,
    )
    service = serializers.IntegerField(required=False)


TIMEOUT_MESSAGE = (
    f"Timeout must be a whole number of seconds from 0 to {heartbeats.TIMEOUT_MAX} (7 days)."
)
INTERVAL_MESSAGE = (
    "An interval state needs interval_seconds: a whole number of seconds "
    f"from 1 to {heartbeats.INTERVAL_MAX} (366 days)."
)


class UpdateHeartbeatStateInput(serializers.Serializer[Any]):
    """`UpdateHeartbeatStateInput` (PUT: absent keys keep the state's current values)."""

    type = NamedChoiceField(HeartbeatType, "HeartbeatType", required=False)
    timeout_seconds = _seconds(0, heartbeats.TIMEOUT_MAX, TIMEOUT_MESSAGE, required=False)
    muted = serializers.BooleanField(required=False)
    resolve_incident = serializers.BooleanField(required=False)
    cron_expression = _text(
        200,
        "A cron expression has at most 200 characters.",
        allow_blank=True,
        allow_null=True,
        required=False,
    )
    cron_timezone = _text(
        64, "Unknown time zone.", allow_blank=True, allow_null=True, required=False
    )
    interval_seconds = _seconds(
        1, heartbeats.INTERVAL_MAX, INTERVAL_MESSAGE, allow_null=True, required=False
    )


class CreateHeartbeatStateInput(UpdateHeartbeatStateInput):
    """`CreateHeartbeatStateInput`: the update body plus `heartbeat_id` and `environment`."""

    type = NamedChoiceField(HeartbeatType, "HeartbeatType")
    heartbeat_id = serializers.IntegerField()
    environment = _text(
        200,
        "The environment may be at most 200 characters.",
        validators=[not_blank("Enter an environment name, e.g. prod.")],
        error_messages={"blank": "Enter an environment name, e.g. prod."},
    )
    timeout_seconds = _seconds(0, heartbeats.TIMEOUT_MAX, TIMEOUT_MESSAGE, default=0)
    muted = serializers.BooleanField(default=False)
    resolve_incident = serializers.BooleanField(default=True)


def _validated(serializer: serializers.Serializer[Any]) -> dict[str, Any]:
    if not serializer.is_valid():
        raise UnprocessableEntity.from_detail(serializer.errors)
    data: dict[str, Any] = dict(serializer.validated_data)
    return data


STATE_INPUT_KEYS = (
    "type",
    "timeout_seconds",
    "muted",
    "resolve_incident",
    "cron_expression",
    "cron_timezone",
    "interval_seconds",
)


def _state_input(
    data: dict[str, Any], current: HeartbeatState | None = None
) -> heartbeats.StateInput:
    """The given keys over the current values (a new state: over the defaults)."""
    keys = STATE_INPUT_KEYS
    base = {key: getattr(current, key) for key in keys} if current is not None else {}
    return heartbeats.StateInput(**{**base, **{k: v for k, v in data.items() if k in keys}})


def _unique_clash(field: str, message: str) -> UnprocessableEntity:
    # Two requests racing past the service's duplicate check: the unique constraint decides.
    return UnprocessableEntity.for_field(("body", field), message)


# --- views ----------------------------------------------------------------------------------

TAGS = ["heartbeats"]


class HeartbeatListView(OrgScopedListAPIView[Heartbeat]):
    """#1 GET (paged, oldest first, optional `service` filter) and #2 POST (201)."""

    model = Heartbeat
    serializer_class = HeartbeatSchema
    ordering = "id"

    def get_base_queryset(self) -> models.QuerySet[Heartbeat]:
        rows = heartbeats_visible(current_user(self.request))
        raw = query_text(self.request, "service")
        if raw:
            if not raw.isdigit():
                raise UnprocessableEntity.for_field(("query", "service"), "Must be an integer.")
            rows = rows.filter(service_id=int(raw))  # unknown or invisible: an empty page
        return rows

    @extend_schema(
        operation_id="opsduty_api_v1_heartbeats_list_heartbeats",
        summary="List heartbeats",
        description=(
            "The heartbeats on the services you can see, oldest first. `service` keeps one "
            "service's heartbeats (an unknown service gives an empty page)."
        ),
        parameters=[OpenApiParameter("service", {"type": "integer", "minimum": 0})],
        tags=TAGS,
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="opsduty_api_v1_heartbeats_create_heartbeat",
        summary="Create a heartbeat",
        description=(
            "A heartbeat on `service`. It watches nothing until a state (environment) is added; "
            "missed check-ins then open incidents on the service with `incident_urgency` "
            "(default high). An unknown service answers 422."
        ),
        request=CreateHeartbeatInput,
        responses={201: HeartbeatSchema},
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        user = current_user(request)
        data = _validated(CreateHeartbeatInput(data=request.data))
        service = _service_for_body(user, data.pop("service"))
        data["description"] = data.get("description") or ""
        try:
            heartbeat = heartbeats.heartbeat_create(
                service=service, by=user, labels_create=True, **data
            )
        except IntegrityError:
            raise _unique_clash(
                "name", "This service already has a heartbeat with this name."
            ) from None
        return Response(HeartbeatSchema(heartbeat).data, status=201)


class HeartbeatDetailView(OrgScopedAPIView):
    """#3 GET, #4 PUT (absent keys unchanged, `null` clears), #5 DELETE (204)."""

    @extend_schema(
        operation_id="opsduty_api_v1_heartbeats_retrieve_heartbeat",
        summary="Get a heartbeat",
        description="One heartbeat with its states.",
        responses={200: HeartbeatSchema},
        tags=TAGS,
    )
    def get(self, request: Request, heartbeat_id: int) -> Response:
        heartbeat = heartbeat_get(current_user(request), heartbeat_id)
        return Response(HeartbeatSchema(heartbeat).data)

    @extend_schema(
        operation_id="opsduty_api_v1_heartbeats_update_heartbeat",
        summary="Update a heartbeat",
        description=(
            "Replace the heartbeat's fields. A key left out of the body keeps its value (the "
            "CLI never sends `incident_urgency` or `labels`); an explicit `null` clears it "
            "(`link` none, `incident_urgency` back to high, `labels` empty)."
        ),
        request=UpdateHeartbeatInput,
        responses={200: HeartbeatSchema},
        tags=TAGS,
    )
    def put(self, request: Request, heartbeat_id: int) -> Response:
        user = current_user(request)
        heartbeat = heartbeat_get(user, heartbeat_id)
        data = _validated(UpdateHeartbeatInput(data=request.data, partial=True))
        if "service" in data:
            data["service"] = _service_for_body(user, data["service"])
        if "description" in data:
            data["description"] = data["description"] or ""
        try:
            heartbeat = heartbeats.heartbeat_update(
                heartbeat=heartbeat, by=user, labels_create=True, **data
            )
        except IntegrityError:
            raise _unique_clash(
                "name", "This service already has a heartbeat with this name."
            ) from None
        return Response(HeartbeatSchema(heartbeat).data)

    @extend_schema(
        operation_id="opsduty_api_v1_heartbeats_delete_heartbeat",
        summary="Delete a heartbeat",
        description=(
            "Delete the heartbeat with its states and check-in history; later check-ins to it "
            "answer 404."
        ),
        request=None,
        responses={204: None},
        tags=TAGS,
    )
    def delete(self, request: Request, heartbeat_id: int) -> Response:
        user = current_user(request)
        heartbeats.heartbeat_delete(heartbeat=heartbeat_get(user, heartbeat_id), by=user)
        return Response(status=204)


class HeartbeatStateListView(OrgScopedAPIView):
    """#6 POST: add a state (environment) to a heartbeat; 201 with the state."""

    @extend_schema(
        operation_id="opsduty_api_v1_heartbeats_create_heartbeat_state",
        summary="Create a heartbeat state",
        description=(
            "Add an environment to a heartbeat. `cron` needs `cron_expression` (five fields) "
            "and `cron_timezone` (an IANA zone); `interval` needs `interval_seconds` > 0; the "
            "other type's fields are ignored. The environment must be unique within the "
            "heartbeat. An unknown `heartbeat_id` answers 422."
        ),
        request=CreateHeartbeatStateInput,
        responses={201: _state_union()},
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        user = current_user(request)
        data = _validated(CreateHeartbeatStateInput(data=request.data))
        heartbeat = (
            heartbeats_visible(user).filter(pk=data["heartbeat_id"]).prefetch_related(None).first()
        )
        if heartbeat is None:
            raise UnprocessableEntity.for_field(("body", "heartbeat_id"), "Unknown heartbeat.")
        try:
            state = heartbeats.state_create(
                heartbeat=heartbeat,
                by=user,
                environment=data["environment"],
                data=_state_input(data),
            )
        except IntegrityError:
            raise _unique_clash(
                "environment", "This heartbeat already has this environment."
            ) from None
        return Response(state_body(state), status=201)


class HeartbeatStateDetailView(OrgScopedAPIView):
    """#7 PUT (200 with the state) and #8 DELETE (204) one state."""

    @extend_schema(
        operation_id="opsduty_api_v1_heartbeats_update_heartbeat_state",
        summary="Update a heartbeat state",
        description=(
            "Replace the state's settings; the environment cannot change. Switching `type` "
            "clears the other type's fields. A key left out of the body keeps its value."
        ),
        request=UpdateHeartbeatStateInput,
        responses={200: _state_union()},
        tags=TAGS,
    )
    def put(self, request: Request, heartbeat_state_id: int) -> Response:
        user = current_user(request)
        state = state_get(user, heartbeat_state_id)
        data = _validated(UpdateHeartbeatStateInput(data=request.data, partial=True))
        state = heartbeats.state_update(state=state, by=user, data=_state_input(data, state))
        return Response(state_body(state))

    @extend_schema(
        operation_id="opsduty_api_v1_heartbeats_delete_heartbeat_state",
        summary="Delete a heartbeat state",
        description=(
            "Remove the environment and its check-in history; later check-ins to it answer 404."
        ),
        request=None,
        responses={204: None},
        tags=TAGS,
    )
    def delete(self, request: Request, heartbeat_state_id: int) -> Response:
        user = current_user(request)
        heartbeats.state_delete(state=state_get(user, heartbeat_state_id), by=user)
        return Response(status=204)


# --- #9 check-in by name --------------------------------------------------------------------


def raw_request_path(request: HttpRequest) -> str | None:
    """The path as the client sent it (still percent-encoded), when the server tells us.

    WSGI's PATH_INFO is decoded, so `%2F` inside a segment has become `/` by the time Django
    routes. uvicorn keeps the original in the ASGI scope's `raw_path` (a2wsgi passes the scope
    on as `asgi.scope`); gunicorn sets `RAW_URI`, uWSGI and others `REQUEST_URI`. Django's
    development and test servers give nothing.
    """
    scope = request.META.get("asgi.scope")
    if isinstance(scope, dict) and isinstance(scope.get("raw_path"), bytes):
        return str(scope["raw_path"].decode("latin-1"))
    for key in ("RAW_URI", "REQUEST_URI"):
        value = request.META.get(key)
        if isinstance(value, str) and value.startswith("/"):
            return value.split("?", 1)[0]
    return None


def checkin_name_environment(
    request: HttpRequest, service_id: int, name: str, environment: str
) -> tuple[str, str]:
    """The heartbeat name and environment of a #9 path (spec §A.2 item 3).

    The route splits the decoded path on its last `/`: right for every name (client 0.1.0
    encodes a `/` in it as `%2F`), wrong only for an environment containing `/`. When the raw
    path is known and says the same thing decoded, its last two segments are used instead, so
    an encoded `/` in the environment works too.
    """
    raw = raw_request_path(request)
    if raw is None:
        return name, environment
    parts = raw.rsplit("/", 4)
    if (
        len(parts) != 5
        or parts[0].rsplit("/", 1)[-1] != "heartbeats"
        or parts[1] != "checkin"
        or not parts[2].isdigit()
        or int(parts[2]) != service_id
    ):
        return name, environment
    # A segment that is not UTF-8 decodes with U+FFFD and then fails the comparison below.
    raw_name, raw_environment = (unquote(p, errors="replace") for p in parts[3:])
    if f"{raw_name}/{raw_environment}" != f"{name}/{environment}":
        return name, environment  # the raw path describes some other path: trust the route
    return raw_name, raw_environment


class HeartbeatCheckinView(OrgScopedAPIView):
    """#9 GET: record a check-in for service + heartbeat name + environment (200)."""

    @extend_schema(
        operation_id="opsduty_api_v1_heartbeats_healthcheck_environment_checkin",
        summary="Check in by name",
        description=(
            "Record a check-in of the heartbeat `name` on service `service_id`, environment "
            "`environment`. Percent-encode the name and the environment as single path "
            "segments. No trailing slash. Unknown service, heartbeat or environment: 404."
        ),
        parameters=[
            OpenApiParameter("service_id", OpenApiTypes.INT, OpenApiParameter.PATH),
            OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH),
            OpenApiParameter("environment", OpenApiTypes.STR, OpenApiParameter.PATH),
        ],
        request=None,
        responses={200: OpenApiTypes.OBJECT},
        tags=TAGS,
    )
    def get(self, request: Request, service_id: int, name: str, environment: str) -> Response:
        user = current_user(request)
        name, environment = checkin_name_environment(request, service_id, name, environment)
        state = (
            HeartbeatState.objects.filter(
                organization=user.organization,
                heartbeat__service__in=service_visible_list(user=user),
                heartbeat__service_id=service_id,
                heartbeat__name=name,
                environment=environment,
            )
            .select_related("heartbeat")
            .first()
        )
        if state is None:
            raise NotFound(_checkin_not_found(user, service_id, name, environment))
        heartbeats.checkin(
            state=state,
            source_ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
        return Response({"detail": "Check-in received.", "environment": state.environment})


def _checkin_not_found(user: User, service_id: int, name: str, environment: str) -> str:
    """Say what is missing (only about a service the caller can see)."""
    service = service_visible_list(user=user).filter(pk=service_id).first()
    if service is None:
        return "Not found."
    if not Heartbeat.objects.filter(service=service, name=name).exists():
        return f"Service “{service.name}” has no heartbeat “{name}”."
    return f"Heartbeat “{name}” has no environment “{environment}”."
