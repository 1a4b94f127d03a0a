"""An incident as a Block Kit message: what it is, where it stands, who is being paged, and
the buttons that act on it (buttons.py handles them). The channel's message and the DMs that
page people are the same message, so every copy shows the same state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import reverse

from escalations.engine.selectors import incident_escalation_state
from incidents.models import Incident, IncidentLogEntry, LogAction
from integrations.slack.selectors import public_url
from opsduty.choices import Status

__all__ = ["ACTION_IDS", "SILENCE_CHOICES", "Rendered", "incident_rendered", "mrkdwn_escape"]

# The minutes a Silence choice lasts, and its label.
SILENCE_CHOICES: tuple[tuple[int, str], ...] = (
    (30, "30 minutes"),
    (60, "1 hour"),
    (120, "2 hours"),
    (240, "4 hours"),
    (480, "8 hours"),
    (1440, "24 hours"),
)
ACTION_IDS = ("acknowledge", "unacknowledge", "resolve", "unresolve", "silence", "escalate")
STATUS_MARK: dict[str, str] = {
    Status.TRIGGERED: ":red_circle: Triggered",
    Status.ACKNOWLEDGED: ":large_yellow_circle: Acknowledged",
    Status.SILENCED: ":white_circle: Silenced",
    Status.RESOLVED: ":large_green_circle: Resolved",
}
BY_ACTION: dict[str, str] = {
    Status.ACKNOWLEDGED: LogAction.ACKNOWLEDGED,
    Status.SILENCED: LogAction.SILENCED,
    Status.RESOLVED: LogAction.RESOLVED,
}
SUMMARY_SHOWN = 250


@dataclass(frozen=True)
class Rendered:
    text: str  # the notification text (and what screen readers and old clients show)
    blocks: list[dict[str, Any]]


def mrkdwn_escape(text: str) -> str:
    """Slack's three control characters, escaped (so a summary cannot mention or link)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _button(action_id: str, label: str, incident: Incident, style: str = "") -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": _plain(label),
        "value": str(incident.pk),
    }
    if style:
        button["style"] = style
    return button


def _silence_menu(incident: Incident) -> dict[str, Any]:
    return {
        "type": "static_select",
        "action_id": "silence",
        "placeholder": _plain("Silence…"),
        "options": [
            {"text": _plain(label), "value": f"{incident.pk}:{minutes}"}
            for minutes, label in SILENCE_CHOICES
        ],
    }


def _actions(incident: Incident, can_escalate: bool) -> list[dict[str, Any]]:
    if incident.status == Status.RESOLVED:
        return [_button("unresolve", "Unresolve", incident)]
    elements = []
    if incident.status == Status.TRIGGERED:
        elements.append(_button("acknowledge", "Acknowledge", incident, "primary"))
    else:
        elements.append(_button("unacknowledge", "Unacknowledge", incident))
    elements.append(_button("resolve", "Resolve", incident))
    if incident.status != Status.SILENCED:
        elements.append(_silence_menu(incident))
    if can_escalate and incident.status == Status.TRIGGERED and incident.parent_id is None:
        elements.append(_button("escalate", "Escalate", incident, "danger"))
    return elements


def _status_line(incident: Incident) -> str:
    line = STATUS_MARK.get(incident.status, str(incident.status))
    action = BY_ACTION.get(incident.status)
    if action is not None:
        entry = (
            IncidentLogEntry.objects.filter(incident=incident, action=action)
            .select_related("actor")
            .order_by("-id")
            .first()
        )
        if entry is not None and entry.actor is not None:
            # A name, never a mention: nobody is pinged by the update.
            line += f" by {mrkdwn_escape(entry.actor.get_full_name() or entry.actor.email)}"
    if incident.status == Status.SILENCED and incident.silenced_until is not None:
        line += f" until {incident.silenced_until:%H:%M} UTC"
    return line


def _paging_line(incident: Incident) -> tuple[str, bool]:
    state = incident_escalation_state(incident)
    parts = []
    if state.paged:
        people = ", ".join(
            f"{mrkdwn_escape(p.user.get_full_name() or p.user.email)} ({p.channel}, "
            f"{p.status.lower()})"
            for p in state.paged
        )
        more = f" and {state.paged_more} more" if state.paged_more else ""
        parts.append(f"Paging: {people}{more}")
    elif incident.is_open:
        parts.append("Paging: nobody yet")
    if state.policy_name and state.next_step is not None:
        parts.append(
            f"{mrkdwn_escape(state.policy_name)}: step {state.next_step} of {state.steps} next"
        )
    return " · ".join(parts), state.can_escalate


DM_PREFIX = "You are paged: "


def incident_rendered(incident: Incident, *, dm: bool = False) -> Rendered:
    """The message for `incident` as it is now (`incident` freshly read, service loaded);
    `dm`: the copy that paged someone (its notification text says so)."""
    link = public_url(reverse("incident_short_link", kwargs={"incident_id": incident.pk}))
    summary = " ".join(incident.summary.split())[:SUMMARY_SHOWN]
    title = f"#{incident.number} {summary}"
    labels = ", ".join(sorted(label.name for label in incident.labels.all())) or "none"
    fields = [
        f"*Status*\n{_status_line(incident)}",
        f"*Urgency*\n{incident.get_urgency_display()}",
        f"*Service*\n{mrkdwn_escape(incident.service.name)}",
        f"*Labels*\n{mrkdwn_escape(labels)}",
    ]
    paging, can_escalate = _paging_line(incident)
    context = [paging] if paging else []
    if incident.parent_id is not None and incident.parent is not None:
        context.append(f"Attached to #{incident.parent.number}")
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "block_id": "summary",
            "text": {"type": "mrkdwn", "text": f"*<{link}|{mrkdwn_escape(title)}>*"},
        },
        {
            "type": "section",
            "block_id": "fields",
            "fields": [{"type": "mrkdwn", "text": field} for field in fields],
        },
    ]
    if context:
        blocks.append(
            {
                "type": "context",
                "block_id": "paging",
                "elements": [{"type": "mrkdwn", "text": line} for line in context],
            }
        )
    blocks.append(
        {
            "type": "actions",
            "block_id": f"incident:{incident.pk}",
            "elements": _actions(incident, can_escalate),
        }
    )
    status = incident.get_status_display()
    urgency = incident.get_urgency_display()
    text = f"{mrkdwn_escape(title)} ({status}, {urgency} urgency)"
    return Rendered(text=DM_PREFIX + text if dm else text, blocks=blocks)
