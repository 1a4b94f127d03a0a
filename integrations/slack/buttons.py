"""The buttons of an incident message (blocks.py): Acknowledge / Unacknowledge, Resolve /
Unresolve, Silence (a duration menu) and Escalate, pressed in a channel or in a DM.

The view only checks the payload's shape and queues the press (Slack wants its answer in
3 s); the task acts as the Slack user's linked OpsDuty person through the same services as
the incident page, with the same rules: a stakeholder never acts, a member acts on their
teams' incidents (or on one they were paged for), and only incidents of the workspace's own
organization are found at all. Refusals answer the presser alone (ephemeral); a success
shows as the message itself being updated, like any other change.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from escalations.engine.paging import incident_escalate
from escalations.notifications.models import Notification
from incidents import services as incident_services
from incidents.models import Incident
from integrations.slack import selectors, texts
from integrations.slack.messages.blocks import ACTION_IDS, SILENCE_CHOICES
from integrations.slack.models import SlackWorkspace
from integrations.slack.respond import response_post
from opsduty.models import User
from opsduty.queue import enqueue
from opsduty.retry import run_retrying_conflicts
from opsduty.services import can_manage_team

__all__ = ["Press", "actions_receive", "button_press"]

SILENCE_MINUTES = {minutes for minutes, _label in SILENCE_CHOICES}
VERBS = {
    "acknowledge": "acknowledge",
    "unacknowledge": "unacknowledge",
    "resolve": "resolve",
    "unresolve": "reopen",
    "silence": "silence",
    "escalate": "escalate",
}


@dataclass(frozen=True)
class Press:
    """One press, as queued: who (in which workspace), which button, on what."""

    workspace_id: int
    slack_user_id: str
    action_id: str
    incident_id: int
    minutes: int | None
    response_url: str


def _parse(action: dict[str, Any]) -> tuple[int, int | None] | None:
    """(incident id, silence minutes) from the button's value or the menu's option."""
    if action.get("action_id") == "silence":
        option = action.get("selected_option") or {}
        raw = str(option.get("value") or "") if isinstance(option, dict) else ""
        incident, _, minutes = raw.partition(":")
        if not (incident.isdigit() and minutes.isdigit() and int(minutes) in SILENCE_MINUTES):
            return None
        return int(incident), int(minutes)
    raw = str(action.get("value") or "")
    return (int(raw), None) if raw.isdigit() else None


def actions_receive(*, workspace: SlackWorkspace, payload: dict[str, Any]) -> dict[str, Any] | None:
    """Queue the presses of a `block_actions` payload; Slack gets its empty 200 at once."""
    user = payload.get("user") or {}
    slack_user_id = str(user.get("id") or "") if isinstance(user, dict) else ""
    for action in payload.get("actions") or []:
        if not isinstance(action, dict) or action.get("action_id") not in ACTION_IDS:
            continue
        parsed = _parse(action)
        if parsed is None or not slack_user_id:
            continue
        press = Press(
            workspace_id=workspace.pk,
            slack_user_id=slack_user_id,
            action_id=str(action["action_id"]),
            incident_id=parsed[0],
            minutes=parsed[1],
            response_url=str(payload.get("response_url") or ""),
        )
        enqueue("slack.button_press", (asdict(press),))
    return None


def _may_act(user: User, incident: Incident) -> bool:
    """The incident page's rule (owners, the service's team), or paged for this incident."""
    if can_manage_team(user, incident.service.team):
        return True
    return Notification.objects.filter(incident=incident, user=user).exists()


def _act(press: Press, incident: Incident, user: User) -> None:
    if press.action_id == "acknowledge":
        incident_services.incident_acknowledge(incident=incident, by=user)
    elif press.action_id == "unacknowledge":
        incident_services.incident_unacknowledge(incident=incident, by=user)
    elif press.action_id == "resolve":
        incident_services.incident_resolve(incident=incident, by=user)
    elif press.action_id == "unresolve":
        incident_services.incident_unresolve(incident=incident, by=user)
    elif press.action_id == "silence":
        incident_services.incident_silence(incident=incident, by=user, minutes=press.minutes)
    elif press.action_id == "escalate":
        incident_escalate(incident=incident, by=user)


def button_press(press: Press) -> str:
    """Act on the incident as the presser's OpsDuty person; what happened (refusals are also
    answered to the presser alone)."""
    workspace = SlackWorkspace.objects.filter(pk=press.workspace_id).first()
    if workspace is None:
        return "no workspace"
    answer = _refusal(press, workspace)
    if answer is None:
        return "done"
    response_post(press.response_url, answer)
    return answer


def _refusal(press: Press, workspace: SlackWorkspace) -> str | None:
    link = selectors.link_for_slack_user(workspace, press.slack_user_id)
    if link is None:
        return texts.NOT_LINKED
    user = link.user
    if user.is_stakeholder:
        return texts.STAKEHOLDER
    # Only the workspace's own organization is searched: another one's id finds nothing.
    incident = (
        Incident.objects.select_related("service__team")
        .filter(pk=press.incident_id, organization_id=workspace.organization_id)
        .first()
    )
    if incident is None:
        return "That incident does not exist in your OpsDuty organization."
    verb = VERBS[press.action_id]
    if not _may_act(user, incident):
        return f"You cannot {verb} #{incident.number}: it belongs to another team."
    try:
        # A lost lock race is run again (opsduty/retry.py), not a failed press.
        run_retrying_conflicts(transaction.atomic(_act), press, incident, user)
    except (PermissionDenied, ValidationError) as error:
        reason = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
        return f"Could not {verb} #{incident.number}: {reason}"
    return None
