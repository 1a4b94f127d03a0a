"""The pipeline, in one place: raw event -> receive channel -> routing -> orchestration.

`pipeline_evaluate` turns a raw event into its service and the event to ingest, with the
orchestrations' directives; it writes nothing. `incidents/ingest/drain.py` calls it inside
the transaction that holds the raw event's row lock and ingests the result there, so
everything commits with the "processed" mark. Each stage's result goes on the raw event
(`RawEvent.result`) and on the incident event (`IncidentEvent.processing`), so the timeline
shows how an event was parsed, routed and transformed. Configuration (webhook templates,
routing rules, orchestrations) is read once per drain through `PipelineCache`, so a batch of
events costs no repeated lookups.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from opsduty.events import EventData
from opsduty.models import Service
from opsduty.routing_keys import routing_key_owners
from processing.channels.rendering import (
    DebugResult,
    RenderedEvent,
    channel_debug_payload,
    channel_render,
    channel_templates,
)
from processing.models import EventOrchestration, ReceiveChannel, RoutingRule
from processing.routing.orchestrations import orchestrations_apply
from processing.routing.routes import routing_rule_route
from signals.models import RawEvent, Webhook

logger = logging.getLogger(__name__)

# What the pipeline records of each stage on a raw event (`RawEvent.result`), with labels.
PIPELINE_STAGES = (
    ("channel", "Receive channel"),
    ("routing", "Routing"),
    ("orchestration", "Orchestration"),
)


class PipelineError(Exception):
    """The event cannot be processed as configured (kept as failed, replayable)."""


@dataclass
class PipelineCache:
    """Configuration looked up once per drain (a drain lasts seconds)."""

    templates: dict[int | None, tuple[str, dict[str, str]]] = field(default_factory=dict)
    targets: dict[tuple[int, str], Service | RoutingRule | None] = field(default_factory=dict)
    orchestrations: dict[int, list[EventOrchestration]] = field(default_factory=dict)

    def templates_for(self, webhook_id: int | None) -> tuple[str, dict[str, str]]:
        if webhook_id not in self.templates:
            webhook = (
                Webhook.objects.select_related("receive_channel").filter(pk=webhook_id).first()
                if webhook_id is not None
                else None
            )
            self.templates[webhook_id] = _templates(webhook)
        return self.templates[webhook_id]

    def target_for(self, organization_id: int, routing_key: str) -> Service | RoutingRule | None:
        key = (organization_id, routing_key)
        if key not in self.targets:
            self.targets[key] = _target(organization_id, routing_key)
        return self.targets[key]

    def orchestrations_for(self, service: Service) -> list[EventOrchestration]:
        if service.pk not in self.orchestrations:
            self.orchestrations[service.pk] = list(
                EventOrchestration.objects.filter(
                    organization_id=service.organization_id, service=service, enabled=True
                ).order_by("position", "id")
            )
        return self.orchestrations[service.pk]


def _templates(webhook: Webhook | None) -> tuple[str, dict[str, str]]:
    """(label, field -> source) for the webhook's organization channel or built-in template."""
    channel: ReceiveChannel | None = webhook.receive_channel if webhook is not None else None
    if channel is not None:
        return f"receive channel “{channel.name}”", channel_templates(channel=channel, builtin=None)
    builtin = webhook.builtin_template if webhook is not None else "generic"
    return f"built-in template “{builtin}”", channel_templates(channel=None, builtin=builtin)


def pipeline_channel_try(
    *, raw: RawEvent, channel: ReceiveChannel | None = None, builtin: str | None = None
) -> tuple[str, DebugResult]:
    """(label, result) of rendering a stored raw event through `channel`, else the built-in
    `builtin`, else (neither) its webhook's own, as the pipeline would; writes nothing.

    The caller checked that `channel` is of the raw event's organization and `builtin` known.
    """
    if channel is not None:
        label = f"receive channel “{channel.name}”"
        templates = channel_templates(channel=channel, builtin=None)
    elif builtin is not None:
        label = f"built-in template “{builtin}”"
        templates = channel_templates(channel=None, builtin=builtin)
    else:
        label, templates = _templates(raw.webhook)
    return label, channel_debug_payload(templates=templates, payload=raw.body)


def _target(organization_id: int, routing_key: str) -> Service | RoutingRule | None:
    """The owner of the key, in the namespace's lookup order (opsduty/routing_keys.py)."""
    for model in routing_key_owners():
        rows: QuerySet[Any] = model._default_manager.all()
        if model is RoutingRule:
            rows = rows.select_related("default_service").prefetch_related("routes__service")
        found = rows.filter(organization_id=organization_id, routing_key=routing_key).first()
        if isinstance(found, Service | RoutingRule):
            return found
    return None


def _event_fields(rendered: RenderedEvent) -> dict[str, Any]:
    """The parsed event as conditions see it (`event.<field>`)."""
    return {
        "summary": rendered.summary,
        "description": rendered.description,
        "source_url": rendered.source_url,
        "dedup_id": rendered.dedup_id,
        "acknowledge": rendered.acknowledge,
        "resolve": rendered.resolve,
        "urgency": rendered.urgency,
        "labels": rendered.labels,
    }


def _route(
    target: Service | RoutingRule, payload: Any, event: dict[str, Any]
) -> tuple[Service, int | None, dict[str, Any]]:
    if isinstance(target, Service):
        return target, None, {"service": target.pk, "service_name": target.name}
    decision = routing_rule_route(rule=target, payload=payload, event=event, now=timezone.now())
    return (
        decision.service,
        target.pk,
        {
            "rule": target.name,
            "rule_id": target.pk,
            "route_id": decision.route_id,
            "matched": decision.matched,
            "service": decision.service.pk,
            "service_name": decision.service.name,
            "errors": decision.errors,
        },
    )


@dataclass
class ProcessedEvent:
    """What the pipeline made of one raw event: its service and the event for ingest, with
    the orchestrations' directives (`event.directives`) and how each stage decided
    (`event.processing`)."""

    service: Service
    event: EventData


def pipeline_evaluate(raw: RawEvent, cache: PipelineCache | None = None) -> ProcessedEvent:
    """Render, route and orchestrate a raw event; writes nothing (ingest is the caller's).

    Raises PipelineError when the event cannot be processed as configured.
    """
    cache = cache or PipelineCache()
    payload = raw.body
    label, templates = cache.templates_for(raw.webhook_id)
    rendered = channel_render(templates=templates, payload=payload)
    event = _event_fields(rendered)
    target = cache.target_for(raw.organization_id, raw.routing_key)
    if target is None:
        raise PipelineError(
            f"No service or routing rule has the routing key {raw.routing_key!r} any more."
        )
    service, rule_id, routing = _route(target, payload, event)
    outcome = orchestrations_apply(
        orchestrations=cache.orchestrations_for(service),
        routing_rule_id=rule_id,
        payload=payload,
        event=event,
        now=timezone.now(),
    )
    data = rendered.event_data(payload, raw.received_at)
    outcome.apply_to_event(data)
    data.processing = {
        "channel": {"template": label, **rendered.as_dict()},
        "routing": routing,
        "orchestration": outcome.as_dict(),
    }
    return ProcessedEvent(service, data)
