"""Event orchestrations: per-service conditions whose transformations change an event.

Every enabled orchestration of the service whose routing rule is unset (or is the rule the
event came through) and whose conditions match applies, in position order. Scalar fields
(urgency, silence, auto-resolve, escalate, policy override, ack timeout): the last matching
orchestration that sets them wins. Lists accumulate (notes, users to notify); acknowledge and
resolve are set when any matching orchestration sets them.

What takes effect where (`OrchestrationOutcome.apply_to_event`):
- on the event itself: urgency override, and auto-resolve "deny" (drops the event's resolve
  signal);
- everything else travels with the event as its `EventDirectives` (opsduty/events.py):
  ingest applies silence, notes, acknowledge and resolve (`incidents/ingest/services.py`
  `event_directives_apply`), and the escalation engine starts a new incident's run under
  escalate (force / bypass), the policy override, the users to notify and the acknowledge
  timeout (`escalations/engine/opening.py`), before anyone is paged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opsduty.events import EventData, EventDirectives
from processing.models import AutoResolve, EventOrchestration
from processing.routing.conditions import conditions_evaluate


@dataclass
class OrchestrationOutcome:
    """The merged transformations of the orchestrations that matched one event.

    None / False / [] means "unchanged". Stored on the raw event via `as_dict()`.
    """

    matched: list[dict[str, Any]] = field(default_factory=list)
    urgency: str | None = None
    silence_minutes: int | None = None
    notes: list[str] = field(default_factory=list)
    acknowledge: bool = False
    resolve: bool = False
    auto_resolve: bool | None = None
    escalate: str | None = None
    escalation_policy_id: int | None = None
    notify_user_ids: list[int] = field(default_factory=list)
    ack_timeout_minutes: int | None = None
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able data (for the raw event record): a shallow copy, its lists shared (see
        `RenderedEvent.as_dict`)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def apply_to_event(self, event_data: EventData) -> None:
        """Apply what changes the event itself, in place (urgency, auto-resolve "deny"), and
        hand the rest to ingest and escalation as the event's directives."""
        if self.urgency:
            event_data.urgency = self.urgency
        if self.auto_resolve is False:
            event_data.resolve = False
        event_data.directives = EventDirectives(
            escalate=self.escalate,
            escalation_policy_id=self.escalation_policy_id,
            notify_user_ids=list(self.notify_user_ids),
            ack_timeout_minutes=self.ack_timeout_minutes,
            silence_minutes=self.silence_minutes,
            acknowledge=self.acknowledge,
            notes=list(self.notes),
            resolve=self.resolve,
        )

    def _merge(self, orchestration: EventOrchestration) -> None:
        self.matched.append({"id": orchestration.pk, "name": orchestration.name})
        if orchestration.urgency:
            self.urgency = orchestration.urgency
        if orchestration.silence_minutes:
            self.silence_minutes = orchestration.silence_minutes
        if orchestration.note.strip():
            self.notes.append(orchestration.note)
        self.acknowledge = self.acknowledge or orchestration.acknowledge
        self.resolve = self.resolve or orchestration.resolve
        if orchestration.auto_resolve:
            self.auto_resolve = orchestration.auto_resolve == AutoResolve.ALLOW
        if orchestration.escalate:
            self.escalate = orchestration.escalate
        if orchestration.escalation_policy_override_id is not None:
            self.escalation_policy_id = orchestration.escalation_policy_override_id
        for user_id in orchestration.notify_user_ids or []:
            if user_id not in self.notify_user_ids:
                self.notify_user_ids.append(user_id)
        if orchestration.ack_timeout_minutes:
            self.ack_timeout_minutes = orchestration.ack_timeout_minutes


def orchestrations_apply(
    *,
    orchestrations: list[EventOrchestration],
    routing_rule_id: int | None,
    payload: Any,
    event: dict[str, Any],
    now: datetime,
) -> OrchestrationOutcome:
    """Evaluate a service's orchestrations against one event and merge what matched.

    `orchestrations` come preloaded (`routing_selectors.orchestration_list_for_service`);
    `routing_rule_id` is the rule the event came through (None: the service's own key).
    """
    outcome = OrchestrationOutcome()
    for orchestration in sorted(orchestrations, key=lambda o: (o.position, o.pk or 0)):
        if not orchestration.enabled:
            continue
        limited_to = orchestration.routing_rule_id
        if limited_to is not None and limited_to != routing_rule_id:
            continue
        evaluation = conditions_evaluate(
            orchestration.conditions, payload=payload, event=event, now=now
        )
        label = f"orchestration “{orchestration.name}”"
        outcome.errors.extend(f"{label}: {error}" for error in evaluation.errors)
        if evaluation.matched:
            outcome._merge(orchestration)
    return outcome
