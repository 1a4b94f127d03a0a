"""Webhook integrations and the durable store of every raw event they accept."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from incidents.models import Incident, IncidentReference
from opsduty.models import TenantModel

DEFAULT_RATE_LIMIT_PER_MINUTE = 600
MAX_RATE_LIMIT_PER_MINUTE = 1_000_000
MIN_RATE_LIMIT_PER_MINUTE = 1


class BuiltinTemplate(models.TextChoices):
    """The built-in receive-channel templates a webhook can use.

    Kept off the model field's `choices` on purpose (no migration); signals/webhooks/services.py
    validates against it.
    """

    GENERIC = "generic", "Generic JSON"
    ALERTMANAGER = "alertmanager", "Prometheus Alertmanager"
    CHECKLY = "checkly", "Checkly"
    DEADMANSSNITCH = "deadmanssnitch", "Dead Man's Snitch"
    SENTRY = "sentry", "Sentry"


class Webhook(TenantModel):
    """An integration endpoint: senders POST JSON to its key + a routing key."""

    name = models.CharField(max_length=200)
    enabled = models.BooleanField(default=True)
    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # A built-in receive-channel template (see processing.channels.builtin_templates), used when no
    # organization channel is chosen.
    builtin_template = models.CharField(max_length=32, default=BuiltinTemplate.GENERIC)
    # An organization receive channel; when set it is used instead of `builtin_template`.
    receive_channel = models.ForeignKey(
        "processing.ReceiveChannel",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="webhooks",
    )
    rate_limit_per_minute = models.PositiveIntegerField(default=DEFAULT_RATE_LIMIT_PER_MINUTE)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="webhook_name_per_org")
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    def get_builtin_template_display(self) -> str:
        """The template's human name (the field has no `choices`, see BuiltinTemplate)."""
        try:
            return str(BuiltinTemplate(self.builtin_template).label)
        except ValueError:
            return self.builtin_template


class RawEventStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected (webhook disabled)"


class RawEvent(TenantModel):
    """A webhook POST exactly as accepted: stored before the 202, processed afterwards.

    The ingest path writes it (and its IncidentReference) with one raw SQL statement, see
    signals/receiver/ingest.py; keep the columns there in step with this model.
    """

    id = models.BigAutoField(primary_key=True)
    webhook = models.ForeignKey(Webhook, null=True, on_delete=models.SET_NULL)
    routing_key = models.CharField(max_length=64)
    reference = models.OneToOneField(IncidentReference, on_delete=models.CASCADE)
    received_at = models.DateTimeField(default=timezone.now)
    headers = models.JSONField(default=dict)
    body = models.JSONField()
    status = models.CharField(
        max_length=16, choices=RawEventStatus.choices, default=RawEventStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    # When a drain task claimed it for processing; a claim older than a few seconds on a
    # pending event means that worker died, and the event can be claimed again.
    claimed_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.SET_NULL)
    # What each pipeline stage made of it: {"channel": ..., "routing": ..., "orchestration": ...}
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["id"], condition=Q(status="pending"), name="rawevent_pending"),
            models.Index(fields=["organization", "-id"], name="rawevent_org_recent"),
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"raw event {self.pk}"


# Imported last: these models live in their own module but belong to this app.
from signals.heartbeats.models import (  # noqa: E402
    Heartbeat,
    HeartbeatCheckIn,
    HeartbeatState,
    HeartbeatType,
)

__all__ = [
    "BuiltinTemplate",
    "Heartbeat",
    "HeartbeatCheckIn",
    "HeartbeatState",
    "HeartbeatType",
    "RawEvent",
    "RawEventStatus",
    "Webhook",
]
