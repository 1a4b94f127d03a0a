"""Incident reads of API v1 (spec §2.4, §3.6): #10 list, #11 one incident, #12 responders,
#13 incident reference. The actions #22-#26 are in `incidents.api.actions`.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from incidents.models import Incident, IncidentNote, IncidentResponder, ResponderStatus, Status
from incidents.selectors import IncidentFilters, incident_get, incident_list
from opsduty.api.base import (
    OrgScopedGenericAPIView,
    OrgScopedListAPIView,
    current_user,
    query_datetime,
)
from opsduty.api.enums import NamedChoiceField
from opsduty.api.errors import UnprocessableEntity
from opsduty.api.fields import query_text
from opsduty.api.users import UserSchema
from opsduty.models import Service
from opsduty.selectors import service_visible_list
from opsduty.tenancy import get_for_org_or_404
from signals.models import IncidentReference, ReferenceStatus

# --- schemas -------------------------------------------------------------------------------


class IncidentGroupServiceSchema(serializers.ModelSerializer[Service]):
    """`IncidentGroupServiceSchema`: the incident's service, `{id, name}`."""

    class Meta:
        model = Service
        fields = ["id", "name"]
        read_only_fields = fields


class IncidentGroupSchema(serializers.ModelSerializer[Incident]):
    """`IncidentGroupSchema` (list items): every key always present, null where empty."""

    incident_number = serializers.IntegerField(source="number")
    status = NamedChoiceField(Status, "IncidentGroupStatus")
    service = IncidentGroupServiceSchema()

    class Meta:
        model = Incident
        fields = [
            "id",
            "incident_number",
            "summary",
            "status",
            "service",
            "created_at",
            "acknowledged_at",
            "resolved_at",
            "silenced_at",
            "last_status_change_at",
        ]
        read_only_fields = fields


class IncidentGroupDetailNoteSchema(serializers.ModelSerializer[IncidentNote]):
    """`IncidentGroupDetailNoteSchema`: one timeline note (also the 200 body of #26)."""

    note = serializers.CharField(source="text")

    class Meta:
        model = IncidentNote
        fields = ["id", "note", "created_at"]
        read_only_fields = fields


class IncidentGroupDetailSchema(IncidentGroupSchema):
    """`IncidentGroupDetailSchema`: the list keys plus `notes`, oldest first."""

    notes = IncidentGroupDetailNoteSchema(many=True, read_only=True)

    class Meta(IncidentGroupSchema.Meta):
        fields = [*IncidentGroupSchema.Meta.fields, "notes"]
        read_only_fields = fields


class IncidentGroupResponderSchema(serializers.ModelSerializer[IncidentResponder]):
    """`IncidentGroupResponderSchema`: all five keys are required by the clients."""

    status = NamedChoiceField(ResponderStatus, "ResponderStatus")
    user = UserSchema()

    class Meta:
        model = IncidentResponder
        fields = ["id", "last_notified", "status", "status_updated_at", "user"]
        read_only_fields = fields


class IncidentReferenceSchema(serializers.ModelSerializer[IncidentReference]):
    """`IncidentReferenceSchema`: `pending` with a null incident until the event is processed."""

    id = serializers.CharField(source="public_id")
    status = NamedChoiceField(ReferenceStatus, "IncidentReferenceStatus")
    reason = serializers.SerializerMethodField()
    incident_group = serializers.IntegerField(source="incident_id", allow_null=True)

    class Meta:
        model = IncidentReference
        fields = ["id", "status", "reason", "incident_group", "created_at", "updated_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_reason(self, reference: IncidentReference) -> str | None:
        return reference.reason or None


# --- query parameters ----------------------------------------------------------------------


def _query_int(request: Request, name: str) -> int | None:
    raw = query_text(request, name)
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise UnprocessableEntity.for_field(("query", name), "Must be an integer.") from None


# --- views ---------------------------------------------------------------------------------

INCIDENT_FILTERS = [
    OpenApiParameter(
        "since",
        OpenApiTypes.DATETIME,
        description="Only incidents created at or after this time (naive values are UTC).",
    ),
    OpenApiParameter(
        "until",
        OpenApiTypes.DATETIME,
        description="Only incidents created before this time (naive values are UTC).",
    ),
    OpenApiParameter("service", OpenApiTypes.INT, description="Only incidents of this service."),
]


class IncidentListView(OrgScopedListAPIView[Incident]):
    """#10: unarchived incidents on the services the caller can see, newest first (paged)."""

    model = Incident
    serializer_class = IncidentGroupSchema
    ordering = "-id"

    def get_base_queryset(self) -> models.QuerySet[Incident]:
        filters = IncidentFilters(
            since=query_datetime(self.request, "since"),
            until=query_datetime(self.request, "until"),
            service_id=_query_int(self.request, "service"),
        )
        return incident_list(user=current_user(self.request), filters=filters)

    @extend_schema(
        operation_id="opsduty_api_v1_incidents_list_incidents",
        summary="List incidents",
        description=(
            "List incident groups on the services you can see, newest first. `since` and "
            "`until` filter on the creation time (since <= created_at < until)."
        ),
        parameters=INCIDENT_FILTERS,
        tags=["incidents"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


def incident_for_request(request: Request, incident_id: int) -> Incident:
    """The incident `incident_id` if the caller may see it (archived too), else 404."""
    return incident_get(user=current_user(request), incident_id=incident_id)


class IncidentDetailView(OrgScopedGenericAPIView[Incident]):
    """#11: one incident with its notes."""

    model = Incident
    serializer_class = IncidentGroupDetailSchema

    def get_object(self) -> Incident:
        return incident_for_request(self.request, self.kwargs["incident_group_id"])

    @extend_schema(
        operation_id="opsduty_api_v1_incidents_retrieve_incident",
        summary="Retrieve an incident",
        description="One incident group with its notes, oldest note first.",
        tags=["incidents"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self.get_object()).data)


class IncidentResponderListView(OrgScopedListAPIView[IncidentResponder]):
    """#12: the people paged for (or responding to) one incident, in id order (paged)."""

    model = IncidentResponder
    serializer_class = IncidentGroupResponderSchema
    ordering = "id"

    def get_base_queryset(self) -> models.QuerySet[IncidentResponder]:
        incident = incident_for_request(self.request, self.kwargs["incident_group_id"])
        return IncidentResponder.objects.filter(incident=incident).select_related("user")

    @extend_schema(
        operation_id="opsduty_api_v1_incidents_list_incident_responders",
        summary="List incident responders",
        description="The responders of an incident group: `pending` when paged, `active` "
        "once they responded.",
        tags=["incidents"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class IncidentReferenceDetailView(OrgScopedGenericAPIView[IncidentReference]):
    """#13: what became of a sent event, by the reference's public id."""

    model = IncidentReference
    serializer_class = IncidentReferenceSchema

    def get_object(self) -> IncidentReference:
        try:
            public_id = uuid.UUID(self.kwargs["incident_reference_id"])
        except ValueError:
            raise Http404 from None
        reference = get_for_org_or_404(
            IncidentReference.objects.select_related("incident"),
            self.organization,
            public_id=public_id,
        )
        if reference.incident is not None:
            # The incident id must not leak to callers who cannot see its service.
            visible = service_visible_list(user=current_user(self.request))
            if not visible.filter(pk=reference.incident.service_id).exists():
                raise Http404
        return reference

    @extend_schema(
        operation_id="opsduty_api_v1_incidents_retrieve_incident_reference",
        summary="Retrieve an incident reference",
        description=(
            "Events are processed in the background: the reference is `pending` with a null "
            "`incident_group` until then, and points to the incident once it is `completed`."
        ),
        tags=["incidents"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self.get_object()).data)
