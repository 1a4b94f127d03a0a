"""The one hook through which signals hand what they raise to the incidents app.

signals sits first in the flow (signals -> processing -> incidents -> escalations) and
imports no later app. A heartbeat miss opens or joins an incident, and a heartbeat that
checks in again resolves it: the heartbeat services call `incident_sink()`, which the
incidents app registers at start-up (`IncidentsConfig.ready`). Both run inside the caller's
transaction, so the incident and the heartbeat's state commit together.
"""

from __future__ import annotations

from typing import Protocol

from opsduty.events import EventData
from opsduty.models import Service


class IncidentSink(Protocol):
    def open_or_append(self, *, service: Service, event: EventData) -> int:
        """Open an incident for `event` or append it to the open one; the incident's id."""

    def resolve_if_open(self, *, incident_id: int, note: str) -> None:
        """Resolve the incident as the system, unless it is resolved, a maintenance incident
        or refuses (attached to a maintenance incident: it ends with that)."""


_sink: IncidentSink | None = None


def incident_sink_register(sink: IncidentSink) -> None:
    """Called once by the incidents app (a second call replaces the first)."""
    global _sink  # noqa: PLW0603 - one registry per process, set at app start-up
    _sink = sink


def incident_sink() -> IncidentSink:
    """The registered sink; the incidents app is always installed with signals."""
    if _sink is None:
        raise RuntimeError("no incident sink registered (is the incidents app installed?)")
    return _sink
