"""The models of the signals app, gathered from its feature subpackages."""

from __future__ import annotations

from signals.heartbeats.models import (
    Heartbeat,
    HeartbeatCheckIn,
    HeartbeatState,
    HeartbeatType,
)
from signals.receiver.models import IncidentReference, RawEvent, RawEventStatus, ReferenceStatus
from signals.webhooks.models import BuiltinTemplate, Webhook

__all__ = [
    "BuiltinTemplate",
    "Heartbeat",
    "HeartbeatCheckIn",
    "HeartbeatState",
    "HeartbeatType",
    "IncidentReference",
    "RawEvent",
    "RawEventStatus",
    "ReferenceStatus",
    "Webhook",
]
