"""Heartbeat monitoring: a job checks in; when it misses its deadline, an incident opens.

A `Heartbeat` belongs to a service; each of its environments (`HeartbeatState`, the API's
"states") expects check-ins on a cron schedule or an interval. `next_deadline` (the next
expected check-in plus the timeout) is stored and indexed: the miss detector
(`signals.heartbeats.services.misses_detect`, Celery beat every second) claims overdue environments
with `FOR UPDATE SKIP LOCKED`. Check-ins are kept per environment (the last
`CHECKINS_KEPT`).
"""

from __future__ import annotations

import base64
import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone

from opsduty.choices import Urgency
from opsduty.crypto import EncryptedTextField, SecretDigestField
from opsduty.models import TenantModel

CHECKINS_KEPT = 100


def new_public_key() -> str:
    """The public check-in key of a heartbeat: `HB` + 120 random bits in base32."""
    return "HB" + base64.b32encode(secrets.token_bytes(15)).decode("ascii")


class HeartbeatType(models.TextChoices):
    CRON = "cron", "Cron expression"
    INTERVAL = "interval", "Interval"


class Heartbeat(TenantModel):
    """A monitored job on a service; misses open incidents there with `incident_urgency`."""

    service = models.ForeignKey(
        "opsduty.Service", on_delete=models.CASCADE, related_name="heartbeats"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=2000)
    link = models.URLField(max_length=2000, null=True, blank=True)  # noqa: DJ001 - API null
    incident_urgency = models.CharField(max_length=8, choices=Urgency.choices, default=Urgency.HIGH)
    labels = models.JSONField(default=list, blank=True)
    # The credential of its check-in URL: stored encrypted, found by its SHA-256.
    public_primary_key = EncryptedTextField(default=new_public_key)
    public_primary_key_hash = SecretDigestField(of="public_primary_key")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["service", "name"], name="heartbeat_name_per_service")
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class HeartbeatState(TenantModel):
    """One environment of a heartbeat: when check-ins are due, and what a miss does."""

    heartbeat = models.ForeignKey(Heartbeat, on_delete=models.CASCADE, related_name="states")
    environment = models.CharField(max_length=200)
    type = models.CharField(max_length=16, choices=HeartbeatType.choices)
    cron_expression = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    cron_timezone = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    interval_seconds = models.PositiveIntegerField(null=True, blank=True)
    timeout_seconds = models.PositiveIntegerField(default=0)
    muted = models.BooleanField(default=False)
    resolve_incident = models.BooleanField(default=True)
    last_checkin_at = models.DateTimeField(null=True, blank=True)
    # The next expected check-in, and that plus the timeout: past it, a miss is detected.
    next_expected_at = models.DateTimeField(null=True, blank=True)
    next_deadline = models.DateTimeField(null=True, blank=True)
    # When the last miss was detected; cleared by a check-in.
    missed_at = models.DateTimeField(null=True, blank=True)
    # The incident the last miss opened or appended to (resolved by a check-in if asked).
    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["heartbeat", "environment"], name="heartbeat_environment_unique"
            )
        ]
        indexes = [
            # The miss detector's due rows.
            models.Index(
                fields=["next_deadline"],
                condition=Q(muted=False, next_deadline__isnull=False),
                name="heartbeat_state_due",
            )
        ]
        ordering = ["heartbeat_id", "id"]

    def __str__(self) -> str:
        return self.environment


class HeartbeatCheckIn(TenantModel):
    """One check-in of an environment (the last CHECKINS_KEPT are kept)."""

    state = models.ForeignKey(HeartbeatState, on_delete=models.CASCADE, related_name="checkins")
    at = models.DateTimeField(default=timezone.now)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state", "-id"], name="heartbeat_checkin_recent")]
        ordering = ["-id"]
