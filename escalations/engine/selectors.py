"""Reads for the top of the incident page: where escalation stands and who has been paged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from escalations.engine.models import EscalationRun, RunState
from escalations.notifications.models import Notification
from escalations.policies.selectors import policy_steps_cached
from incidents.models import Incident
from opsduty.models import User

PAGED_SHOWN = 6  # people named at the top; the timeline has every notification


@dataclass(frozen=True)
class Paged:
    user: User
    channel: str
    status: str
    at: datetime


@dataclass(frozen=True)
class EscalationState:
    """`next_step` (1-based) runs at `due_at` while the run is active; None when nothing will."""

    policy_name: str | None
    state: str | None
    next_step: int | None
    steps: int
    due_at: datetime | None
    paged: list[Paged]
    paged_more: int

    @property
    def can_escalate(self) -> bool:
        return self.next_step is not None


def incident_escalation_state(incident: Incident) -> EscalationState:
    """The run's position (policy, next step and when) and the latest page of each person."""
    run = EscalationRun.objects.select_related("policy").filter(incident=incident).first()
    steps = (policy_steps_cached(run.policy_id) or []) if run and run.policy_id else []
    next_step = None
    if run is not None and run.state == RunState.ACTIVE and run.step_index < len(steps):
        next_step = run.step_index + 1
    latest = (
        Notification.objects.filter(incident=incident)
        .order_by("user_id", "-created_at", "-id")
        .distinct("user_id")
        .select_related("user")
    )
    rows = sorted(latest, key=lambda n: n.created_at, reverse=True)
    paged = [
        Paged(n.user, n.get_channel_display(), n.get_status_display(), n.created_at) for n in rows
    ]
    return EscalationState(
        policy_name=run.policy.name if run is not None and run.policy is not None else None,
        state=run.state if run is not None else None,
        next_step=next_step,
        steps=len(steps),
        due_at=run.due_at if next_step is not None and run is not None else None,
        paged=paged[:PAGED_SHOWN],
        paged_more=max(0, len(paged) - PAGED_SHOWN),
    )
