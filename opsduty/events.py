"""One event as every stage hands it on: a rendered webhook payload, a heartbeat miss, a manual
trigger. It lives in the core because stages before incidents build it (processing renders
it, a heartbeat raises it) and must not import the incidents app.

`EventDirectives` are what event orchestrations decided for the incident an event opens.
They travel with the event into ingest and, through the incidents hook, to the escalation
engine, so a run starts with the right policy, or not at all (docs/routing.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opsduty.choices import Urgency


@dataclass
class EventDirectives:
    """Orchestration outcomes that act on the incident the event opens (not on appends)."""

    escalate: str | None = None  # "force" / "bypass" / None
    escalation_policy_id: int | None = None
    notify_user_ids: list[int] = field(default_factory=list)
    ack_timeout_minutes: int | None = None
    silence_minutes: int | None = None
    acknowledge: bool = False
    notes: list[str] = field(default_factory=list)
    # Resolve after the event: unlike the others, also for an event joining an open incident.
    resolve: bool = False

    def leaves_triggered(self) -> bool:
        """The incident is silenced, acknowledged or resolved as it opens."""
        return bool(self.silence_minutes) or self.acknowledge or self.resolve

    def holds_paging(self) -> bool:
        """The incident leaves `triggered` as it opens, or escalation is bypassed: no
        escalation step may page anyone for it."""
        return self.leaves_triggered() or self.escalate == "bypass"


@dataclass
class EventData:
    """A parsed event as the pipeline hands it over (receive channel output)."""

    summary: str
    dedup_id: str = ""
    description: str = ""
    source_url: str = ""
    urgency: str = Urgency.HIGH
    acknowledge: bool = False
    resolve: bool = False
    labels: list[str] = field(default_factory=list)
    payload: dict[str, Any] = field(default_factory=dict)
    received_at: datetime | None = None
    # How the pipeline parsed, routed and transformed it (shown on the incident timeline).
    processing: dict[str, Any] = field(default_factory=dict)
    directives: EventDirectives = field(default_factory=EventDirectives)
