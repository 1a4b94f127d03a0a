"""Template tags for processing pages embedded in other apps' pages (the service page)."""

from __future__ import annotations

from typing import Any

from django import template

from opsduty.models import Service
from processing.models import EventOrchestration
from processing.routing.conditions import WITHOUT_VALUE
from processing.routing.forms import OPERATION_LABELS
from processing.routing.selectors import orchestration_list

register = template.Library()


@register.simple_tag
def service_orchestrations(service: Service) -> list[EventOrchestration]:
    """The service's orchestrations in order (the caller already checked visibility)."""
    return list(orchestration_list(service=service))


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _describe(item: Any) -> str:
    if not isinstance(item, dict):
        return "?"
    kind = item.get("type")
    if kind == "match_all":
        return "every event"
    if kind == "datetime_range":
        return f"from {item.get('start')} until {item.get('end')}"
    if kind == "weekly":
        days = ", ".join(_DAYS[d] for d in item.get("days", []) if 0 <= d < len(_DAYS))
        return f"{days} {item.get('start')}–{item.get('end')} ({item.get('timezone')})"
    if kind == "filter":
        operation = OPERATION_LABELS.get(item.get("operation", ""), item.get("operation"))
        value = "" if item.get("operation") in WITHOUT_VALUE else f" “{item.get('value')}”"
        return f"{item.get('source')}.{item.get('path')} {operation}{value}"
    return str(kind)


@register.filter
def conditions_summary(spec: Any) -> str:
    """One line describing a condition spec, e.g. `payload.team matches “db” AND …`."""
    if not isinstance(spec, dict):
        return ""
    joiner = " OR " if spec.get("operator") == "or" else " AND "
    return joiner.join(_describe(item) for item in spec.get("conditions") or [])
