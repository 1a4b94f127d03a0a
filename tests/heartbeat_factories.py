"""Heartbeats and their environments for tests, made through `signals.heartbeats.services`.

(Apart from tests/factories.py so that the heartbeat branches do not all edit one file.)
"""

from __future__ import annotations

from typing import Any

from opsduty.models import Service
from signals.heartbeats import services as heartbeats
from signals.models import Heartbeat, HeartbeatState


def make_heartbeat(*, service: Service, name: str = "nightly-backup", **fields: Any) -> Heartbeat:
    """A heartbeat on `service` (system-made: no permission check); label names it does not
    know are created as organization labels, as the API v1 does."""
    fields.setdefault("labels_create", True)
    return heartbeats.heartbeat_create(service=service, by=None, name=name, **fields)


def make_state(
    *, heartbeat: Heartbeat, environment: str = "prod", **settings: Any
) -> HeartbeatState:
    """An environment; an interval of 300 s unless `type="cron"` (then `0 2 * * *` in UTC)."""
    settings.setdefault("type", "interval")
    if settings["type"] == "cron":
        settings.setdefault("cron_expression", "0 2 * * *")
        settings.setdefault("cron_timezone", "UTC")
    else:
        settings.setdefault("interval_seconds", 300)
    return heartbeats.state_create(
        heartbeat=heartbeat,
        by=None,
        environment=environment,
        data=heartbeats.StateInput(**settings),
    )
