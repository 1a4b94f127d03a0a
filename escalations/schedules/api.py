"""Schedules of API v1 (spec §2.5): #14 list, #15 shifts in a window, #16-#18 overrides;
and #20 GET /api/v1/services/{id}/oncall/ (who the service pages first, right now)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import models
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from escalations.engine.targets import service_oncall
from escalations.models import Schedule, ScheduleOverride
from escalations.schedules import shifts
from escalations.schedules.selectors import (
    WINDOW_MAX,
    override_list,
    schedule_get,
    schedule_shifts,
    schedule_visible_list,
)
from escalations.schedules.services import override_create, override_delete
from opsduty.api.base import OrgScopedAPIView, OrgScopedListAPIView, current_user, query_datetime
from opsduty.api.errors import UnprocessableEntity
from opsduty.api.users import UserSchema
from opsduty.models import User
from opsduty.selectors import service_get
from opsduty.tenancy import get_for_org_or_404


class ScheduleSchema(serializers.ModelSerializer[Schedule]):
    """`ScheduleSchema`: id, name, description."""

    class Meta:
        model = Schedule
        fields = ["id", "name", "description"]


class ScheduleShiftSchema(serializers.Serializer[Any]):
    """`ScheduleShiftSchema`: start, end and the users on call (UserSchema shape)."""

    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    users = UserSchema(many=True)


class ScheduleOverrideUserSchema(serializers.ModelSerializer[User]):
    """`ScheduleOverrideUserSchema`: no email."""

    class Meta:
        model = User
        fields = ["id", "first_name", "last_name"]


class ScheduleOverrideSchema(serializers.ModelSerializer[ScheduleOverride]):
    """`ScheduleOverrideSchema`: id, user, start, end."""

    user = ScheduleOverrideUserSchema()

    class Meta:
        model = ScheduleOverride
        fields = ["id", "user", "start", "end"]


class ScheduleOverrideInputSchema(serializers.Serializer[Any]):
    """`ScheduleOverrideInputSchema`: `{"user_id": int, "start": iso, "end": iso}`."""

    user_id = serializers.IntegerField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class ScheduleListView(OrgScopedListAPIView[Schedule]):
    """#14: schedules the caller can see, oldest first (paged)."""

    model = Schedule
    serializer_class = ScheduleSchema
    ordering = "id"

    def get_base_queryset(self) -> models.QuerySet[Schedule]:
        return schedule_visible_list(user=current_user(self.request))

    @extend_schema(
        # sic: the public client's name for this operation (spec §2 table, #14).
        operation_id="opsduty_api_v1_schedules_list_services",
        summary="List schedules",
        description="List the on-call schedules you can see, oldest first.",
        tags=["schedules"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


def _required_datetime(request: Request, name: str) -> datetime:
    value = query_datetime(request, name)
    if value is None:
        raise UnprocessableEntity.for_field(("query", name), "Field required.")
    return value


def _overflow(request: Request) -> bool:
    raw = request.query_params.get("overflow", "true").strip().lower()
    if raw in ("true", "1", "yes", "on", ""):
        return True
    if raw in ("false", "0", "no", "off"):
        return False
    raise UnprocessableEntity.for_field(("query", "overflow"), "Must be true or false.")


def shifts_body(rows: list[shifts.Shift], users: dict[int, User]) -> list[dict[str, Any]]:
    """Shift rows as `ScheduleShiftSchema` dicts (users in id order, unknown ids left out)."""
    as_text = serializers.DateTimeField().to_representation
    return [
        {
            "start": as_text(row.start),
            "end": as_text(row.end),
            "users": [UserSchema(users[pk]).data for pk in row.users if pk in users],
        }
        for row in rows
    ]


class ScheduleShiftListView(OrgScopedAPIView):
    """#15: the final shifts intersecting a window of at most 120 days (a bare array)."""

    @extend_schema(
        operation_id="opsduty_api_v1_schedules_list_schedule_shifts",
        summary="List schedule shifts",
        description=(
            "The shifts (layers plus overrides) that intersect [datetime_start, datetime_end), "
            "in time order. The window may be at most 120 days. With `overflow=true` (the "
            "default) shifts keep their real start and end; with `overflow=false` they are "
            "cut back to the window. Not paged."
        ),
        parameters=[
            OpenApiParameter("datetime_start", OpenApiTypes.DATETIME, required=True),
            OpenApiParameter("datetime_end", OpenApiTypes.DATETIME, required=True),
            OpenApiParameter("overflow", OpenApiTypes.BOOL, default=True),
        ],
        responses={200: ScheduleShiftSchema(many=True)},
        tags=["schedules"],
    )
    def get(self, request: Request, schedule_id: int) -> Response:
        user = current_user(request)
        schedule = schedule_get(user=user, schedule_id=schedule_id)
        start = _required_datetime(request, "datetime_start").astimezone(UTC)
        end = _required_datetime(request, "datetime_end").astimezone(UTC)
        overflow = _overflow(request)
        if end <= start:
            raise UnprocessableEntity.for_field(
                ("query", "datetime_end"), "datetime_end must be after datetime_start."
            )
        if end - start > WINDOW_MAX:
            raise UnprocessableEntity.for_field(
                ("query", "datetime_end"), "The window may be at most 120 days long."
            )
        rows = schedule_shifts(schedule, start, end)
        if not overflow:
            rows = [
                shifts.Shift(
                    start=max(row.start, start),
                    end=min(row.end, end),
                    users=row.users,
                    layer_id=row.layer_id,
                    override_ids=row.override_ids,
                )
                for row in rows
            ]
        ids = {pk for row in rows for pk in row.users}
        users = {u.pk: u for u in User.objects.filter(organization=user.organization, pk__in=ids)}
        return Response(shifts_body(rows, users))


class ScheduleOverrideListView(OrgScopedListAPIView[ScheduleOverride]):
    """#16 GET (paged, earliest first) and #17 POST (201) a schedule's overrides."""

    model = ScheduleOverride
    serializer_class = ScheduleOverrideSchema
    ordering = ("start", "id")

    def get_base_queryset(self) -> models.QuerySet[ScheduleOverride]:
        schedule = schedule_get(
            user=current_user(self.request), schedule_id=self.kwargs["schedule_id"]
        )
        return override_list(
            schedule=schedule,
            since=query_datetime(self.request, "since"),
            until=query_datetime(self.request, "until"),
        )

    @extend_schema(
        operation_id="opsduty_api_v1_schedules_list_schedule_overrides",
        summary="List schedule overrides",
        description=(
            "Overrides of the schedule, earliest first. `since` drops overrides that have "
            "already ended (end > since); `until` drops those not started yet (start < until)."
        ),
        parameters=[
            OpenApiParameter("since", OpenApiTypes.DATETIME),
            OpenApiParameter("until", OpenApiTypes.DATETIME),
        ],
        tags=["schedules"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="opsduty_api_v1_schedules_create_schedule_override",
        summary="Create a schedule override",
        description=(
            "Put a member of the schedule's team on call from `start` to `end`, over every "
            "layer. Overlapping overrides put their people on call together. The start may "
            "not be in the past (a start up to 5 minutes ago is moved to now)."
        ),
        request=ScheduleOverrideInputSchema,
        responses={201: ScheduleOverrideSchema},
        tags=["schedules"],
    )
    def post(self, request: Request, schedule_id: int) -> Response:
        user = current_user(request)
        schedule = schedule_get(user=user, schedule_id=schedule_id)
        serializer = ScheduleOverrideInputSchema(data=request.data)
        if not serializer.is_valid():
            raise UnprocessableEntity.from_detail(serializer.errors)
        data = serializer.validated_data
        target = User.objects.filter(
            organization=user.organization, pk=data["user_id"], is_active=True
        ).first()
        if target is None:
            raise UnprocessableEntity.for_field(("body", "user_id"), "Unknown user.")
        override = override_create(
            schedule=schedule, by=user, user=target, start=data["start"], end=data["end"]
        )
        return Response(ScheduleOverrideSchema(override).data, status=201)


class ScheduleOverrideDetailView(OrgScopedAPIView):
    """#18 DELETE: 204; the rotation takes the time back (a past override cannot go)."""

    @extend_schema(
        operation_id="opsduty_api_v1_schedules_delete_schedule_override",
        summary="Delete a schedule override",
        description=(
            "Remove an override: a future one is deleted, a running one ends now and the "
            "normal rotation takes the time back. An override that is over answers 422: "
            "shifts in the past never change."
        ),
        request=None,
        responses={204: None},
        tags=["schedules"],
    )
    def delete(self, request: Request, schedule_id: int, override_id: int) -> Response:
        user = current_user(request)
        schedule = schedule_get(user=user, schedule_id=schedule_id)
        override = get_for_org_or_404(
            ScheduleOverride.objects.filter(schedule=schedule).select_related(
                "schedule", "schedule__team"
            ),
            user.organization,
            pk=override_id,
        )
        override_delete(override=override, by=user)
        return Response(status=204)


class ServiceOncallView(OrgScopedAPIView):
    """#20: the users the first notify step of the service's policy resolves to now."""

    @extend_schema(
        operation_id="opsduty_api_v1_services_list_service_oncall",
        summary="Who is on call for a service",
        description=(
            "The people the first notify step of the service's escalation policy would page "
            "right now: its users, its teams' members and whoever is on call in its schedule. "
            "Empty when the service has no policy or the step resolves to nobody. Not paged."
        ),
        responses={200: UserSchema(many=True)},
        tags=["services"],
    )
    def get(self, request: Request, service_id: int) -> Response:
        user = current_user(request)
        service = service_get(user=user, service_id=service_id)
        return Response(UserSchema(service_oncall(service, timezone.now()), many=True).data)
