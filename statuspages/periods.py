"""What each component shows, kept as periods (`ComponentPeriod`): the one place that changes a
component's shown status, so that the uptime (statuspages/uptime.py) reads every second of it.

Callers decide what a component must show (its manual status, or the worst of the open synced
notices covering it: statuspages/services.py) and call `components_show` in their
transaction; a status that does not change writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from statuspages.models import Component, ComponentPeriod, ComponentStatus


def component_period_open(component: Component, at: datetime) -> None:
    """A new component's first period (what it shows from its creation)."""
    ComponentPeriod.objects.create(
        organization_id=component.organization_id,
        component=component,
        status=component.shown_status,
        started_at=at,
    )


def components_show(wanted: Mapping[int, str], at: datetime) -> list[int]:
    """Make each component (by id) show its wanted status from `at`: its open period ends and
    a new one starts. Answers the ids that changed. Rows are locked in id order."""
    changed: list[int] = []
    components = Component.objects.filter(pk__in=list(wanted)).order_by("pk").select_for_update()
    for component in components:
        status = wanted[component.pk]
        if status not in ComponentStatus.values:
            raise ValueError(f"not a component status: {status}")
        if component.shown_status == status:
            continue
        ComponentPeriod.objects.filter(component=component, ended_at__isnull=True).update(
            ended_at=at
        )
        ComponentPeriod.objects.create(
            organization_id=component.organization_id,
            component=component,
            status=status,
            started_at=at,
        )
        Component.objects.filter(pk=component.pk).update(shown_status=status)
        component.shown_status = status
        changed.append(component.pk)
    return changed
