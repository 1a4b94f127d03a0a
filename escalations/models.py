"""Services: what incidents belong to, owned by a team, addressed by a routing key."""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone

from opsduty.models import Team, TenantModel


def new_routing_key() -> str:
    """An unguessable routing key (192 bits)."""
    return secrets.token_urlsafe(24)


class ServiceType(models.TextChoices):
    TECHNICAL = "technical", "Technical"
    BUSINESS = "business", "Business"


class MaintenanceMode(models.TextChoices):
    DEBUG = "debug", "Debug (escalations paused)"
    MAINTENANCE = "maintenance", "Maintenance (maintenance incident)"


class Service(TenantModel):
    """A technical component or business unit that incidents are raised on."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=2000)
    service_type = models.CharField(
        max_length=16, choices=ServiceType.choices, default=ServiceType.TECHNICAL
    )
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="services")
    routing_key = models.CharField(max_length=64, unique=True, default=new_routing_key)
    slack_channel = models.CharField(max_length=80, blank=True)
    # Maintenance (escalations/maintenance.py): the mode and its window; the window's end is a
    # due time (invariant 4) and a passed end reads as "not in maintenance".
    maintenance_mode = models.CharField(  # noqa: DJ001 - the API reports "no mode" as null
        max_length=16, choices=MaintenanceMode.choices, null=True, blank=True
    )
    maintenance_window_start = models.DateTimeField(null=True, blank=True)
    maintenance_window_end = models.DateTimeField(null=True, blank=True)
    # Who gets paged: a policy of the service's own team (escalations.catalog.services checks).
    escalation_policy = models.ForeignKey(
        "escalations.EscalationPolicy",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="services",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="service_name_per_org")
        ]
        indexes = [
            # The maintenance sweeper's due rows (SELECT ... FOR UPDATE SKIP LOCKED).
            models.Index(
                fields=["maintenance_window_end"],
                condition=Q(maintenance_mode__isnull=False),
                name="service_maintenance_due",
            ),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


# Imported last: these models live in their own modules but belong to this app.
from escalations.engine.models import EscalationRun, RunState  # noqa: E402
from escalations.notifications.models import (  # noqa: E402
    Notification,
    NotificationRule,
    NotificationStatus,
    RuleUrgency,
)
from escalations.policies.models import (  # noqa: E402
    Channel,
    EscalationPolicy,
    EscalationStep,
    StepKind,
)
from escalations.schedules.models import (  # noqa: E402
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
    "MaintenanceMode",
    "Notification",
    "NotificationRule",
    "NotificationStatus",
    "RuleUrgency",
    "Rotation",
    "RunState",
    "Schedule",
    "ScheduleLayer",
    "ScheduleOverride",
    "Service",
    "ServiceType",
    "StepKind",
    "new_routing_key",
]
