"""OpsDuty's own incident actions in API v1 (not in the public spec, same conventions and
answers as the incident actions of incidents/api/actions.py): `POST incidents/{id}/page/`
pages users and teams directly, `POST incidents/{id}/reassign/` changes the escalation policy,
`POST incidents/{id}/escalate/` runs the policy's next step now.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from escalations.engine import paging
from incidents.api.actions import IncidentActionView, action_schema, validated
from incidents.models import Incident
from opsduty.models import User


class PageIncidentInputSchema(serializers.Serializer[Any]):
    """Whom to page: user ids and team ids of the organization (at least one in all)."""

    users = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    teams = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("users") and not attrs.get("teams"):
            raise serializers.ValidationError("Give at least one user or team id to page.")
        return attrs


class ReassignIncidentInputSchema(serializers.Serializer[Any]):
    """The id of an escalation policy of the service's team."""

    escalation_policy = serializers.IntegerField()


class IncidentPageView(IncidentActionView):
    """Page users and teams directly; the escalation policy is unchanged."""

    def act(self, incident: Incident, user: User, request: Request) -> None:
        data = validated(PageIncidentInputSchema, request.data)
        users, teams = paging.paging_targets_get(
            organization=user.organization, user_ids=data["users"], team_ids=data["teams"]
        )
        paging.incident_page(incident=incident, by=user, users=users, teams=teams)

    @action_schema(
        "page_incident_endpoint",
        "Page people on an incident",
        "Notify the given users and the members of the given teams now (stakeholders and "
        "deactivated users are skipped; a person paged twice within a minute is paged once). "
        "Rejected (422) for a resolved incident, unknown ids, or nobody pageable.",
        request=PageIncidentInputSchema,
    )
    def post(self, request: Request, incident_group_id: int) -> Response:
        return super().post(request, incident_group_id)


class EscalateIncidentInputSchema(serializers.Serializer[Any]):
    """Optionally, the step number expected to run (a retried request escalates once)."""

    step = serializers.IntegerField(min_value=1, required=False)


class IncidentEscalateView(IncidentActionView):
    """Run the escalation policy's next step now."""

    def act(self, incident: Incident, user: User, request: Request) -> None:
        data = validated(EscalateIncidentInputSchema, request.data)
        paging.incident_escalate(incident=incident, by=user, expected_step=data.get("step"))

    @action_schema(
        "escalate_incident_endpoint",
        "Escalate an incident to the next step now",
        "Run the next step of the incident's escalation policy now instead of after its wait. "
        "With `step`, only if that step is still the next one (so a retried request escalates "
        "once). Rejected (422) unless the incident is triggered and its policy has a step left.",
        request=EscalateIncidentInputSchema,
    )
    def post(self, request: Request, incident_group_id: int) -> Response:
        return super().post(request, incident_group_id)


class IncidentReassignView(IncidentActionView):
    """Replace the incident's escalation policy; a triggered incident restarts at step 1."""

    def act(self, incident: Incident, user: User, request: Request) -> None:
        data = validated(ReassignIncidentInputSchema, request.data)
        policy = paging.reassign_policy_get(
            organization=user.organization, policy_id=data["escalation_policy"]
        )
        paging.incident_reassign(incident=incident, by=user, policy=policy)

    @action_schema(
        "reassign_incident_endpoint",
        "Reassign an incident to another escalation policy",
        "Use another escalation policy of the service's team for this incident from now on; "
        "a triggered incident restarts escalation at step 1. Rejected (422) for a resolved "
        "incident or a policy that is unknown or of another team.",
        request=ReassignIncidentInputSchema,
    )
    def post(self, request: Request, incident_group_id: int) -> Response:
        return super().post(request, incident_group_id)
