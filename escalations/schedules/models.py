"""On-call schedules: layers (versioned, so history never changes), overrides, calendar feeds.

Shifts are computed, never stored: `escalations.schedules.shifts` turns the rows below into shifts.
History is immutable because layer rows are versions: an edit ends the current version at
"now" (`effective_until`) and adds a new one from "now" (`effective_from`) under the same
`lineage`; a version's shifts are clipped to its effective range. Priority, users and the
time zone are version fields, so nothing an edit changes reaches back before it.
"""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from opsduty.crypto import EncryptedTextField, SecretDigestField
from opsduty.models import Team, TenantModel, User


def new_feed_token() -> str:
    """An unguessable calendar feed token (256 bits)."""
    return secrets.token_urlsafe(32)


class Schedule(TenantModel):
    """A team's on-call schedule in one time zone."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=2000)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="schedules")
    timezone = models.CharField(max_length=64, default="UTC")
    # Bumped by every write to the schedule, its layers or overrides: the who-is-on-call
    # cache (schedule_selectors) keys on (id, version), so an edit invalidates it everywhere.
    version = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="schedule_name_per_org")
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Rotation(models.TextChoices):
    ROLLING = "rolling", "Rolling (next group each shift)"
    PLAIN = "plain", "Plain (the same people every shift)"


class Frequency(models.TextChoices):
    NONE = "none", "Once (no repeat)"
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"


class ScheduleLayer(TenantModel):
    """One version of a layer; the versions of one layer share `lineage`."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="layers")
    # The pk of the layer's first version (set right after it is inserted).
    lineage = models.PositiveBigIntegerField(null=True, db_index=True)
    name = models.CharField(max_length=200)
    priority = models.IntegerField(default=0)  # higher wins
    rotation = models.CharField(max_length=16, choices=Rotation.choices, default=Rotation.ROLLING)
    # [[user id, ...], ...]: Rolling takes the next group each shift; Plain all of them.
    groups = models.JSONField(default=list)
    frequency = models.CharField(max_length=16, choices=Frequency.choices)
    interval = models.PositiveSmallIntegerField(default=1)
    # weekly: weekdays 0=Monday..6=Sunday; monthly: days of the month 1..31
    by_day = models.JSONField(default=list, blank=True)
    # The first shift starts at start_date + handoff_time in `timezone` (local wall clock).
    start_date = models.DateField()
    handoff_time = models.TimeField()
    shift_minutes = models.PositiveIntegerField()
    # No shift starts after this local date (inclusive); null repeats forever.
    repeat_until = models.DateField(null=True, blank=True)
    timezone = models.CharField(max_length=64)
    effective_from = models.DateTimeField(default=now)
    effective_until = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [
            models.Index(
                fields=["schedule", "priority"],
                condition=Q(effective_until__isnull=True),
                name="schedule_layer_current",
            )
        ]
        ordering = ["schedule_id", "-priority", "id"]

    def __str__(self) -> str:
        return self.name


class ScheduleOverride(TenantModel):
    """One person on call from `start` to `end`, over every layer; overlaps merge people."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="schedule_overrides")
    start = models.DateTimeField()
    end = models.DateTimeField()
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="override_end")
        ]
        indexes = [models.Index(fields=["schedule", "end"], name="schedule_override_end")]
        ordering = ["start", "id"]


class CalendarFeed(TenantModel):
    """A user's webcal feed: one schedule's shifts, or (schedule null) only their own shifts."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="calendar_feeds")
    schedule = models.ForeignKey(
        Schedule, on_delete=models.CASCADE, null=True, blank=True, related_name="feeds"
    )
    # The credential of its URL: stored encrypted, found by its SHA-256.
    token = EncryptedTextField(default=new_feed_token)
    token_hash = SecretDigestField(of="token")
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "schedule"], name="calendar_feed_per_user", nulls_distinct=False
            )
        ]
