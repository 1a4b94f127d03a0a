"""Services of API v1: #19 GET /api/v1/services/ (the services the caller can see, oldest
first), #27 POST and #28 DELETE /api/v1/services/{service_id}/maintenance/ (spec §C)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from escalations.catalog.services import (
    DURATION_MESSAGE,
    MAINTENANCE_DEFAULT_MINUTES,
    MAINTENANCE_MAX_MINUTES,
    MODE_MESSAGE,
    service_maintenance_start,
    service_maintenance_stop,
)
from opsduty.api.base import OrgScopedAPIView, OrgScopedListAPIView, current_user
from opsduty.api.enums import NamedChoiceField
from opsduty.api.errors import UnprocessableEntity
from opsduty.models import MaintenanceMode, Service, ServiceType, User
from opsduty.selectors import (
    can_see_routing_key,
    service_get,
    service_maintenance_active,
    service_visible_list,
)


class ServiceSchema(serializers.ModelSerializer[Service]):
    """`ServiceSchema`: all eight keys on every item (client 0.1.0 requires four of them)."""

    service_type = serializers.ChoiceField(choices=ServiceType.choices)
    routing_key = serializers.SerializerMethodField()
    maintenance_mode = serializers.SerializerMethodField()
    maintenance_window_start = serializers.SerializerMethodField()
    maintenance_window_end = serializers.SerializerMethodField()

    class Meta:
        model = Service
        fields = [
            "id",
            "name",
            "description",
            "service_type",
            "routing_key",
            "maintenance_mode",
            "maintenance_window_start",
            "maintenance_window_end",
        ]
        read_only_fields = fields

    def _active(self, service: Service) -> bool:
        # Expiry is worked out on read (spec §C.4): a passed window reads as "no maintenance".
        return service_maintenance_active(service, self.context.get("now") or timezone.now())

    def _datetime(self, value: datetime | None) -> str | None:
        return serializers.DateTimeField().to_representation(value) if value else None

    @extend_schema_field(OpenApiTypes.STR)
    def get_routing_key(self, service: Service) -> str:
        return service.routing_key if self.context.get("show_routing_key") else ""

    @extend_schema_field(serializers.ChoiceField(choices=MaintenanceMode.choices, allow_null=True))
    def get_maintenance_mode(self, service: Service) -> str | None:
        return service.maintenance_mode if self._active(service) else None

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_maintenance_window_start(self, service: Service) -> str | None:
        return self._datetime(service.maintenance_window_start if self._active(service) else None)

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_maintenance_window_end(self, service: Service) -> str | None:
        return self._datetime(service.maintenance_window_end if self._active(service) else None)


class ServiceListView(OrgScopedListAPIView[Service]):
    """Services visible to the caller, oldest first (paged)."""

    model = Service
    serializer_class = ServiceSchema
    ordering = "id"

    def get_base_queryset(self) -> models.QuerySet[Service]:
        user = self.request.user
        assert isinstance(user, User)
        return service_visible_list(user=user)

    def get_serializer_context(self) -> dict[str, Any]:
        user = self.request.user
        return {
            **super().get_serializer_context(),
            "show_routing_key": isinstance(user, User) and can_see_routing_key(user),
            "now": timezone.now(),
        }

    @extend_schema(
        operation_id="opsduty_api_v1_services_list_services",
        summary="List services",
        description=(
            "List the services you can see, oldest first. Services your team owns carry the "
            "routing key events are sent to; maintenance keys are null outside maintenance."
        ),
        tags=["services"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


def _service_body(service: Service, user: User) -> dict[str, Any]:
    context = {"show_routing_key": can_see_routing_key(user), "now": timezone.now()}
    data: dict[str, Any] = ServiceSchema(service, context=context).data
    return data


class StartMaintenanceInputSchema(serializers.Serializer[Any]):
    """`StartMaintenanceInputSchema`: both keys optional, with the client's defaults."""

    mode = NamedChoiceField(
        MaintenanceMode,
        "MaintenanceMode",
        default=MaintenanceMode.MAINTENANCE,
        error_messages={"invalid_choice": MODE_MESSAGE, "null": MODE_MESSAGE},
    )
    duration_minutes = serializers.IntegerField(
        default=MAINTENANCE_DEFAULT_MINUTES,
        min_value=1,
        max_value=MAINTENANCE_MAX_MINUTES,
        error_messages={
            "invalid": DURATION_MESSAGE,
            "min_value": DURATION_MESSAGE,
            "max_value": DURATION_MESSAGE,
            "max_string_length": DURATION_MESSAGE,
            "null": DURATION_MESSAGE,
        },
    )


class ServiceMaintenanceView(OrgScopedAPIView):
    """#27 POST starts, #28 DELETE stops a visible service's maintenance; both answer 200.

    Like the service pages, only owners and members of the owning team may do this (403
    for a stakeholder); a service the caller cannot see answers 404.
    """

    @extend_schema(
        operation_id="opsduty_api_v1_services_start_service_maintenance",
        summary="Start service maintenance",
        description=(
            "Put the service in maintenance so that planned work pages nobody; it ends by "
            "itself after `duration_minutes` (1 to 1440, default 60). Mode `maintenance` "
            "opens a maintenance incident that collects the service's incidents; `debug` "
            "pauses escalation. An empty body means the defaults. Rejected (422) while the "
            "service is already in maintenance."
        ),
        request=StartMaintenanceInputSchema,
        responses={200: ServiceSchema},
        tags=["services"],
    )
    def post(self, request: Request, service_id: int) -> Response:
        user = current_user(request)
        service = service_get(user=user, service_id=service_id)
        # An empty body with Content-Type: application/json arrives as {} (spec §C.2).
        serializer = StartMaintenanceInputSchema(data={} if request.data is None else request.data)
        if not serializer.is_valid():
            raise UnprocessableEntity.from_detail(serializer.errors)
        data = serializer.validated_data
        service = service_maintenance_start(
            service=service, by=user, mode=data["mode"], duration_minutes=data["duration_minutes"]
        )
        return Response(_service_body(service, user))

    @extend_schema(
        operation_id="opsduty_api_v1_services_stop_service_maintenance",
        summary="Stop service maintenance",
        description=(
            "End the service's maintenance now. On a service that is not in maintenance "
            "nothing changes; both answer 200 with the service."
        ),
        request=None,
        responses={200: ServiceSchema},
        tags=["services"],
    )
    def delete(self, request: Request, service_id: int) -> Response:
        user = current_user(request)
        service = service_get(user=user, service_id=service_id)
        service = service_maintenance_stop(service=service, by=user)
        return Response(_service_body(service, user))
