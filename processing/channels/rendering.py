"""Rendering a payload through a receive channel's templates, and the debugger.

`channel_templates()` merges a built-in template with a channel's overrides (once per
channel, outside the hot path); `channel_render()` renders every field in the sandbox and
interprets the text. It touches no database and compiles nothing per call (the sandbox
caches compiled templates), because the pipeline runs it for every event.

A template error never loses the event: the field falls back (summary to a fallback
summary, signals to false, urgency to high, the rest to empty) and the error is recorded
per field in `RenderedEvent.errors`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from opsduty.choices import DEDUP_ID_MAX_LENGTH, SUMMARY_MAX_LENGTH, Urgency
from opsduty.events import EventData
from processing.channels.builtin_templates import BUILTIN_TEMPLATES
from processing.channels.models import OVERRIDE_FIELDS, BaseTemplate, ReceiveChannel
from processing.sandbox.environment import is_truthy, render_each
from signals.receiver.ingest import MAX_DEPTH

FIELDS: tuple[str, ...] = OVERRIDE_FIELDS
MAX_LABELS = 20
MAX_LABEL_LENGTH = 64
MAX_SOURCE_URL_LENGTH = 2000
FALLBACK_SUMMARY = "Event without summary"
MAX_PAYLOAD_TEXT = 1_000_000  # the debugger's paste box


class UnknownTemplateError(ValueError):
    """A built-in template key that does not exist."""


@dataclass
class RenderedEvent:
    """The event a payload rendered to, with the raw text of each field and its errors."""

    summary: str
    description: str
    source_url: str
    dedup_id: str
    acknowledge: bool
    resolve: bool
    urgency: str  # "high" | "low"
    labels: list[str]
    raw: dict[str, str] = field(default_factory=dict)  # field -> rendered text
    errors: dict[str, str] = field(default_factory=dict)  # field -> message

    def event_data(self, payload: Any, received_at: datetime | None) -> EventData:
        """The `EventData` that `incidents.services.ingest_event` takes."""
        return EventData(
            summary=self.summary,
            dedup_id=self.dedup_id,
            description=self.description,
            source_url=self.source_url,
            urgency=self.urgency,
            acknowledge=self.acknowledge,
            resolve=self.resolve,
            labels=list(self.labels),
            payload=payload if isinstance(payload, dict) else {"payload": payload},
            received_at=received_at,
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (the pipeline stores it on the raw event): a shallow copy,
        its lists and dicts shared (`dataclasses.asdict`'s deep copy cost a fifth of the
        pipeline's time)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def builtin_keys() -> list[str]:
    """The keys of the built-in templates, in display order."""
    return list(BUILTIN_TEMPLATES)


def channel_templates(*, channel: ReceiveChannel | None, builtin: str | None) -> dict[str, str]:
    """Field -> Jinja source: the base template with the channel's overrides on top.

    The base is `builtin` when given, else the channel's base template, else the generic one.
    Raises UnknownTemplateError for an unknown `builtin` key.
    """
    key = builtin or (channel.base_template if channel is not None else BaseTemplate.GENERIC)
    try:
        base = BUILTIN_TEMPLATES[key]
    except KeyError:
        raise UnknownTemplateError(f"Unknown built-in template {key!r}.") from None
    templates = {name: base.get(name, "") for name in FIELDS}
    if channel is not None:
        templates.update(channel.overrides())
    return templates


def _render_fields(
    templates: dict[str, str], payload: Any
) -> tuple[dict[str, str], dict[str, str]]:
    sources = {name: templates[name] for name in FIELDS if templates.get(name)}
    rendered, errors = render_each(sources, {"payload": payload})
    # A field without a template, or whose template failed, is "": its default applies.
    raw = {name: rendered.get(name, "") for name in FIELDS}
    return raw, errors


def _summary(text: str, error: str | None) -> str:
    summary = " ".join(text.split())
    if not summary:
        summary = f"{FALLBACK_SUMMARY} ({error})" if error else FALLBACK_SUMMARY
    return summary[:SUMMARY_MAX_LENGTH]


def _dedup_id(text: str) -> str:
    dedup_id = text.strip()
    if len(dedup_id) > DEDUP_ID_MAX_LENGTH:
        # Cutting would merge different long ids; a digest keeps them apart.
        dedup_id = "sha256:" + hashlib.sha256(dedup_id.encode()).hexdigest()
    return dedup_id


def _source_url(text: str, errors: dict[str, str]) -> str:
    url = text.strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.netloc
        or any(c.isspace() for c in url)
    ):
        errors["source_url"] = f"Not an http(s) URL, dropped: {url[:200]!r}"
        return ""
    if len(url) > MAX_SOURCE_URL_LENGTH:
        errors["source_url"] = f"URL longer than {MAX_SOURCE_URL_LENGTH} characters, dropped."
        return ""
    return url


def _urgency(text: str, errors: dict[str, str]) -> str:
    urgency = text.strip().lower()
    if urgency in (Urgency.HIGH, Urgency.LOW):
        return urgency
    if urgency:
        errors["urgency"] = f"Urgency must be high or low, not {text.strip()[:100]!r}; used high."
    return str(Urgency.HIGH)


def _labels(text: str) -> list[str]:
    labels: list[str] = []
    for part in text.replace("\n", ",").split(","):
        label = part.strip()[:MAX_LABEL_LENGTH].strip()
        if label and label not in labels:
            labels.append(label)
            if len(labels) == MAX_LABELS:
                break
    return labels


def channel_render(*, templates: dict[str, str], payload: Any) -> RenderedEvent:
    """Render `payload` through `templates` (from `channel_templates`); never raises."""
    raw, errors = _render_fields(templates, payload)
    return RenderedEvent(
        summary=_summary(raw["summary"], errors.get("summary")),
        description=raw["description"].strip(),
        source_url=_source_url(raw["source_url"], errors),
        dedup_id=_dedup_id(raw["dedup_id"]),
        acknowledge=is_truthy(raw["acknowledge"]),
        resolve=is_truthy(raw["resolve"]),
        urgency=_urgency(raw["urgency"], errors),
        labels=_labels(raw["labels"]),
        raw=raw,
        errors=errors,
    )


# --- the debugger ---------------------------------------------------------------------------


class PayloadError(ValueError):
    """A debugger payload that is not a JSON object; `str()` is a message for the user."""


@dataclass
class DebugField:
    """One row of the debugger's table."""

    name: str
    template: str
    rendered: str
    error: str


@dataclass
class DebugResult:
    """Every field of a debug render and the event values it would create (nothing saved)."""

    rendered: RenderedEvent
    rows: list[DebugField]

    @property
    def errors(self) -> dict[str, str]:
        return self.rendered.errors

    def event(self) -> dict[str, Any]:
        """The final values handed to `ingest_event` (without the payload)."""
        data = asdict(self.rendered.event_data({}, None))
        for key in ("payload", "received_at", "processing", "directives"):
            data.pop(key)
        return data

    def as_dict(self) -> dict[str, Any]:
        """`{"fields": {name: rendered}, "errors": {...}, "event": {...}}` (the API body)."""
        return {
            "fields": dict(self.rendered.raw),
            "errors": dict(self.rendered.errors),
            "event": self.event(),
        }


def parse_payload(payload_text: str) -> dict[str, Any]:
    """The pasted text as a JSON object, or PayloadError saying why not."""
    if len(payload_text) > MAX_PAYLOAD_TEXT:
        raise PayloadError(f"The payload can be at most {MAX_PAYLOAD_TEXT} characters.")
    try:
        payload = json.loads(payload_text)
    except ValueError as error:
        raise PayloadError(f"The payload is not valid JSON: {error}") from None
    except RecursionError:
        raise PayloadError("The payload is nested too deeply.") from None
    if not isinstance(payload, dict):
        kind = type(payload).__name__.replace("NoneType", "null")
        raise PayloadError(f"The payload must be a JSON object, not {kind}.")
    _check_payload(payload)
    return payload


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_payload(payload: dict[str, Any]) -> None:
    """Refuse what the webhook receiver refuses and `json` lets through: nesting over
    MAX_DEPTH levels, and lone surrogates (`"\\ud800"`), which no page can be encoded with."""
    stack: list[tuple[Any, int]] = [(payload, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise PayloadError("The payload is not valid JSON: a lone surrogate (\\ud800).")
        elif depth > MAX_DEPTH:
            raise PayloadError(f"The payload nests objects and arrays over {MAX_DEPTH} levels.")
        elif isinstance(value, dict):
            stack.extend((key, depth) for key in value)
            stack.extend((child, depth + 1) for child in value.values())
        elif isinstance(value, list):
            stack.extend((child, depth + 1) for child in value)


def channel_debug_payload(*, templates: dict[str, str], payload: dict[str, Any]) -> DebugResult:
    """Render an already parsed payload (e.g. a stored raw event) for the debugger."""
    rendered = channel_render(templates=templates, payload=payload)
    rows = [
        DebugField(
            name=name,
            template=templates.get(name) or "",
            rendered=rendered.raw.get(name, ""),
            error=rendered.errors.get(name, ""),
        )
        for name in FIELDS
    ]
    return DebugResult(rendered=rendered, rows=rows)


def channel_debug(*, templates: dict[str, str], payload_text: str) -> DebugResult:
    """Parse pasted JSON and render it; PayloadError when it is not a JSON object."""
    return channel_debug_payload(templates=templates, payload=parse_payload(payload_text))
