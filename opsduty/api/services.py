"""GET /api/v1/services/ (#19): the services the caller can see, oldest first."""

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

from escalations.models import MaintenanceMode, Service, ServiceType
from escalations.selectors import service_visible_list
from opsduty.api.base import OrgScopedListAPIView
from opsduty.models import Role, User


def can_see_routing_key(user: User) -> bool:
    """Routing keys let a caller raise incidents: owners and members of the owning team.

    Members only ever see their own teams' services, so their visible services all carry the
    key; stakeholders are read-only and get `""` (spec §3.7 for services a team does not own).
    """
    return user.is_owner or user.role == Role.MEMBER


def _maintenance_active(service: Service, now: datetime) -> bool:
    # Expiry is worked out on read (spec §C.4): a passed window reads as "no maintenance".
    end = service.maintenance_window_end
    return bool(service.maintenance_mode) and (end is None or end > now)


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
        return _maintenance_active(service, self.context.get("now") or timezone.now())

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
