"""The pipeline, in one place: raw event -> receive channel -> routing -> orchestration -> incident.

Each stage's result is stored on the raw event (`RawEvent.result`), so the incident timeline
can show how an event was parsed, routed and transformed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ObjectDoesNotExist

from escalations.models import Service
from incidents.models import Incident
from incidents.services import EventData, ingest_event
from signals.models import RawEvent


class PipelineError(Exception):
    """The event cannot be processed as configured (kept as failed, replayable)."""


@dataclass
class PipelineOutcome:
    incident: Incident
    result: dict[str, Any] = field(default_factory=dict)


def _service(raw: RawEvent) -> Service:
    try:
        return Service.objects.get(organization_id=raw.organization_id, routing_key=raw.routing_key)
    except ObjectDoesNotExist:
        raise PipelineError(
            f"No service or routing rule has the routing key {raw.routing_key!r} any more."
        ) from None


def pipeline_process(raw: RawEvent) -> PipelineOutcome:
    """Turn a locked, pending raw event into an incident; the caller holds the transaction."""
    payload = raw.body
    service = _service(raw)
    event = EventData(
        summary=str(payload.get("title") or payload.get("summary") or "Event"),
        dedup_id=str(payload.get("dedup_id") or ""),
        payload=payload,
        received_at=raw.received_at,
    )
    incident = ingest_event(service=service, event=event, reference=raw.reference)
    return PipelineOutcome(incident, {"routing": {"service": service.pk}})
