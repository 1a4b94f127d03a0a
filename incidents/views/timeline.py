"""The incident timeline: events, log entries and notes merged by time, oldest first."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from incidents.models import Incident, LogAction

# Busy incidents collect thousands of events; the page shows the latest ones of each kind.
TIMELINE_LIMIT = 300

_KIND_ORDER = {"event": 0, "log": 1, "note": 2}


@dataclass
class TimelineItem:
    at: datetime
    kind: str  # "event", "log" or "note"
    pk: int
    text: str
    who: str = ""
    payload: str = ""
    signals: str = ""
    processing: str = ""
    processing_summary: str = ""

    @property
    def sort_key(self) -> tuple[datetime, int, int]:
        return (self.at, _KIND_ORDER[self.kind], self.pk)


@dataclass
class Timeline:
    items: list[TimelineItem]
    truncated: bool


def _name(user: object) -> str:
    full_name = getattr(user, "get_full_name", None)
    return str(full_name()) if full_name else "OpsDuty"


def _signals(acknowledge: bool, resolve: bool) -> str:
    return ", ".join(s for s, on in (("acknowledge", acknowledge), ("resolve", resolve)) if on)


def processing_summary(processing: dict[str, Any]) -> str:
    """One line on how the pipeline handled an event: channel errors, route, orchestrations."""
    parts: list[str] = []
    channel = processing.get("channel") or {}
    if channel.get("template"):
        parts.append(f"parsed by {channel['template']}")
    if channel.get("errors"):
        parts.append("template errors in " + ", ".join(sorted(channel["errors"])))
    routing = processing.get("routing") or {}
    if routing.get("rule"):
        parts.append(f"routed by “{routing['rule']}”: {routing.get('matched', '')}")
    names = [
        str(o.get("name") or o.get("id"))
        for o in (processing.get("orchestration") or {}).get("matched", [])
    ]
    if names:
        parts.append("orchestrations: " + ", ".join(names))
    return "; ".join(parts)


def incident_timeline(incident: Incident) -> Timeline:
    """The incident's history; a note's own "note added" log line is left out (the note shows)."""
    events = list(incident.events.order_by("-id")[: TIMELINE_LIMIT + 1])
    log = list(
        incident.log.exclude(action=LogAction.NOTE)
        .select_related("actor")
        .order_by("-id")[: TIMELINE_LIMIT + 1]
    )
    notes = list(incident.notes.select_related("author").order_by("-id")[: TIMELINE_LIMIT + 1])
    truncated = any(len(rows) > TIMELINE_LIMIT for rows in (events, log, notes))
    items = [
        TimelineItem(
            at=e.created_at,
            kind="event",
            pk=e.pk,
            text=e.summary,
            payload=json.dumps(e.payload, indent=2, sort_keys=True, ensure_ascii=False),
            signals=_signals(e.acknowledge, e.resolve),
            processing=(
                json.dumps(e.processing, indent=2, sort_keys=True, ensure_ascii=False)
                if e.processing
                else ""
            ),
            processing_summary=processing_summary(e.processing),
        )
        for e in events[:TIMELINE_LIMIT]
    ]
    items += [
        TimelineItem(
            at=entry.created_at, kind="log", pk=entry.pk, text=entry.message, who=_name(entry.actor)
        )
        for entry in log[:TIMELINE_LIMIT]
    ]
    items += [
        TimelineItem(at=n.created_at, kind="note", pk=n.pk, text=n.text, who=_name(n.author))
        for n in notes[:TIMELINE_LIMIT]
    ]
    items.sort(key=lambda item: item.sort_key)
    return Timeline(items=items, truncated=truncated)
