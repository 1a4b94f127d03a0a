"""Incident actions of API v1, client 0.1.0 (spec §B): #22 acknowledge, #23 unacknowledge,
#24 resolve, #25 unresolve (re-open) and #26 add a note, under /api/v1/incidents/{id}/.
OpsDuty's own `page` and `reassign` build on `IncidentActionView` in escalations/engine/api.py.

Every action calls the one service the UI calls too, as the token's user; like the UI, only
owners and members of the service's team may act (stakeholders get 403). A refused
transition (the service's Django `ValidationError`) answers 422 with a `detail` list. Two
repeats are not refusals on the wire (spec §B.5): acknowledging an acknowledged incident and
resolving a resolved one answer 200 with the unchanged incident.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied, ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from incidents.api.reads import (
    IncidentGroupDetailNoteSchema,
    IncidentGroupDetailSchema,
    incident_for_request,
)
from incidents.models import NOTE_MAX_LENGTH, Incident, Status
from incidents.services import (
    incident_acknowledge,
    incident_add_note,
    incident_resolve,
    incident_unacknowledge,
    incident_unresolve,
)
from opsduty.api.base import OrgScopedAPIView, current_user
from opsduty.api.errors import UnprocessableEntity
from opsduty.api.fields import StrictCharField, not_blank
from opsduty.models import User
from opsduty.retry import run_retrying_conflicts
from opsduty.services import can_manage_team


class ResolveIncidentInputSchema(serializers.Serializer[Any]):
    """`ResolveIncidentInputSchema`: an optional note; absent, null and "" mean none."""

    note = StrictCharField(
        required=False, allow_null=True, allow_blank=True, max_length=NOTE_MAX_LENGTH
    )


class AddIncidentNoteInputSchema(serializers.Serializer[Any]):
    """`AddIncidentNoteInputSchema`: the note text, required and not blank."""

    # The pattern documents the blank check after trimming: not only whitespace.
    note = StrictCharField(
        max_length=NOTE_MAX_LENGTH, validators=[not_blank("This field may not be blank.")]
    )


def validated(serializer_class: type[serializers.Serializer[Any]], data: Any) -> dict[str, Any]:
    # An empty body arrives as {} (DRF's parsers; spec §B.2: #24 may say JSON and send
    # nothing). A JSON `null` is a body that is not an object: refused like a list.
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise UnprocessableEntity.from_detail(serializer.errors)
    validated: dict[str, Any] = serializer.validated_data
    return validated


def require_can_act(user: User, incident: Incident) -> None:
    """Owners and members of the service's team act on incidents; stakeholders only read.

    The same rule and answer (403) as the incident page (`incidents.views.detail`).
    """
    if not can_manage_team(user, incident.service.team):
        raise PermissionDenied("Only owners and members of the service's team can do this.")


class IncidentActionView(OrgScopedAPIView, metaclass=ABCMeta):
    """POST: change one visible incident through a service; 200 with the incident after it."""

    # The status this action leads to, when repeating it is a 200 no-op (spec §B.5).
    already_done: str | None = None

    @abstractmethod
    def act(self, incident: Incident, user: User, request: Request) -> None:
        """The action itself; every route's subclass defines it (this base is never routed)."""

    def post(self, request: Request, incident_group_id: int) -> Response:
        user = current_user(request)
        incident = incident_for_request(request, incident_group_id)
        require_can_act(user, incident)
        try:
            # A lost lock race is run again, never answered 500 (opsduty/retry.py).
            run_retrying_conflicts(self.act, incident, user, request)
        except ValidationError:
            if not self._is_repeat(incident_for_request(request, incident_group_id)):
                raise
        incident = incident_for_request(request, incident_group_id)
        return Response(IncidentGroupDetailSchema(incident).data)

    def _is_repeat(self, incident: Incident) -> bool:
        # An attached incident's acknowledgement is still refused (spec §B.5).
        if self.already_done == Status.ACKNOWLEDGED and incident.parent_id is not None:
            return False
        return self.already_done is not None and incident.status == self.already_done


F = TypeVar("F", bound=Callable[..., Any])


def action_schema(operation: str, summary: str, description: str, **extra: Any) -> Callable[[F], F]:
    decorator: Callable[[F], F] = extend_schema(
        operation_id=f"opsduty_api_v1_incidents_{operation}",
        summary=summary,
        description=description,
        responses={200: IncidentGroupDetailSchema},
        tags=["incidents"],
        **extra,
    )
    return decorator


_NO_BODY: dict[str, Any] = {"request": None}


class IncidentAcknowledgeView(IncidentActionView):
    """#22: someone is on it; escalation stops."""

    already_done = Status.ACKNOWLEDGED

    def act(self, incident: Incident, user: User, request: Request) -> None:
        incident_acknowledge(incident=incident, by=user)

    @action_schema(
        "acknowledge_incident_endpoint",
        "Acknowledge an incident",
        "Stop escalation: someone is handling it. Acknowledging a resolved or attached "
        "incident is rejected (422); an acknowledged one is returned unchanged.",
        **_NO_BODY,
    )
    def post(self, request: Request, incident_group_id: int) -> Response:
        return super().post(request, incident_group_id)


class IncidentUnacknowledgeView(IncidentActionView):
    """#23: hand an acknowledged incident back; it escalates again."""

    def act(self, incident: Incident, user: User, request: Request) -> None:
        incident_unacknowledge(incident=incident, by=user)

    @action_schema(
        "un_acknowledge_incident_endpoint",
        "Un-acknowledge an incident",
        "Hand an acknowledged incident back so that it escalates again. Rejected (422) "
        "when the incident is not acknowledged.",
        **_NO_BODY,
    )
    def post(self, request: Request, incident_group_id: int) -> Response:
        return super().post(request, incident_group_id)


class IncidentResolveView(IncidentActionView):
    """#24: close the incident, with an optional note saying why."""

    already_done = Status.RESOLVED

    def act(self, incident: Incident, user: User, request: Request) -> None:
        note = validated(ResolveIncidentInputSchema, request.data).get("note") or None
        incident_resolve(incident=incident, by=user, note=note)

    @action_schema(
        "resolve_incident_endpoint",
        "Resolve an incident",
        "Close the incident. The optional `note` is recorded on its timeline. A resolved "
        "incident is returned unchanged.",
        request=ResolveIncidentInputSchema,
    )
    def post(self, request: Request, incident_group_id: int) -> Response:
        return super().post(request, incident_group_id)


class IncidentUnresolveView(IncidentActionView):
    """#25: re-open an incident resolved too early."""

    def act(self, incident: Incident, user: User, request: Request) -> None:
        incident_unresolve(incident=incident, by=user)

    @action_schema(
        "un_resolve_incident_endpoint",
        "Re-open an incident",
        "Re-open an incident that was resolved too early; it is triggered again. Rejected "
        "(422) when the incident is not resolved.",
        **_NO_BODY,
    )
    def post(self, request: Request, incident_group_id: int) -> Response:
        return super().post(request, incident_group_id)


class IncidentNoteCreateView(OrgScopedAPIView):
    """#26: add a note to the timeline; answers 200 (not 201) with the new note."""

    @extend_schema(
        operation_id="opsduty_api_v1_incidents_add_incident_note_endpoint",
        summary="Add a note to an incident",
        description="Record context on the incident's timeline without changing its status. "
        "The note is attributed to the owner of the token.",
        request=AddIncidentNoteInputSchema,
        responses={200: IncidentGroupDetailNoteSchema},
        tags=["incidents"],
    )
    def post(self, request: Request, incident_group_id: int) -> Response:
        user = current_user(request)
        incident = incident_for_request(request, incident_group_id)
        require_can_act(user, incident)
        text = validated(AddIncidentNoteInputSchema, request.data)["note"]
        note = run_retrying_conflicts(incident_add_note, incident=incident, by=user, text=text)
        return Response(IncidentGroupDetailNoteSchema(note).data, status=200)
