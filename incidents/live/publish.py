"""Announce incident changes to open pages (after commit, through `opsduty/live.py`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsduty.live import live_notice

if TYPE_CHECKING:
    from incidents.models import Incident


def incident_changed(incident: Incident) -> None:
    """The incident changed (state, fields, timeline): refresh it, its parent and the lists."""
    live_notice(
        organization_id=incident.organization_id,
        service_id=incident.service_id,
        incident_ids=(incident.pk, incident.parent_id),
    )
