"""The models of the escalations app, gathered from its feature subpackages."""

from __future__ import annotations

from escalations.engine.models import EscalationRun, RunState
from escalations.notifications.models import (
    Notification,
    NotificationRule,
    NotificationStatus,
    RuleUrgency,
)
from escalations.policies.models import (
    Channel,
    EscalationPolicy,
    EscalationStep,
    StepKind,
)
from escalations.schedules.models import (
    CalendarFeed,
    Frequency,
    Rotation,
    Schedule,
    ScheduleLayer,
    ScheduleOverride,
)

__all__ = [
    "CalendarFeed",
    "Channel",
    "EscalationPolicy",
    "EscalationRun",
    "EscalationStep",
    "Frequency",
    "Notification",
    "NotificationRule",
    "NotificationStatus",
    "RuleUrgency",
    "Rotation",
    "RunState",
    "Schedule",
    "ScheduleLayer",
    "ScheduleOverride",
    "StepKind",
]
