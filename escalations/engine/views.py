"""Paging from the incident page: escalate now, page people directly, reassign to another
policy; and where escalation stands (shown to everyone who sees the incident).

The incident page is the incidents app's (`incidents/views/detail.py`); these actions POST to
their own URLs through its `incident_action` (same answers: a message and a redirect, or 422
with the page), and `paging_choices` adds their choices to the page (registered in
`EscalationsConfig.ready`).
"""

from __future__ import annotations

from typing import Any

from escalations.engine import paging
from escalations.engine.forms import EscalateForm, PageForm, ReassignForm
from escalations.engine.selectors import incident_escalation_state
from escalations.policies.selectors import policy_choices_for_team
from incidents.models import Incident
from incidents.views.detail import incident_action
from opsduty.models import Role, Team, User
from opsduty.tenancy import scoped
from opsduty.views.common import AuthedRequest


def paging_choices(request: AuthedRequest, incident: Incident) -> dict[str, Any]:
    """Whom to page (the organization's users and teams) and the team's policies."""
    organization = request.user.organization
    return {
        "page_users": list(
            scoped(User, organization)
            .filter(is_active=True)
            .exclude(role=Role.STAKEHOLDER)
            .order_by("first_name", "email")
        ),
        "page_teams": list(scoped(Team, organization).order_by("name")),
        "reassign_policies": list(policy_choices_for_team(team=incident.service.team)),
        "page_form": PageForm(),
        "reassign_form": ReassignForm(),
    }


def escalation_state(request: AuthedRequest, incident: Incident) -> dict[str, Any]:
    """Where escalation stands and who was paged, for everyone who sees the incident."""
    return {"escalation": incident_escalation_state(incident)}


def _page(request: AuthedRequest, incident: Incident, data: dict[str, Any]) -> str:
    users, teams = paging.paging_targets_get(
        organization=request.user.organization, user_ids=data["users"], team_ids=data["teams"]
    )
    paged = paging.incident_page(incident=incident, by=request.user, users=users, teams=teams)
    names = ", ".join(user.get_full_name() or user.email for user in paged)
    return f"Paged {names}."


def _reassign(request: AuthedRequest, incident: Incident, data: dict[str, Any]) -> str:
    policy = paging.reassign_policy_get(
        organization=request.user.organization, policy_id=data["escalation_policy"]
    )
    paging.incident_reassign(incident=incident, by=request.user, policy=policy)
    return f"Incident #{incident.number} reassigned to “{policy.name}”."


def _escalate(request: AuthedRequest, incident: Incident, data: dict[str, Any]) -> str:
    number = paging.incident_escalate(
        incident=incident, by=request.user, expected_step=data["step"]
    )
    return f"Incident #{incident.number} escalated: step {number} runs now."


incident_escalate = incident_action(_escalate, EscalateForm, "escalate_form")
incident_page = incident_action(_page, PageForm, "page_form")
incident_reassign = incident_action(_reassign, ReassignForm, "reassign_form")
