"""What the analytics read: one fact row per incident (its contribution, as of now) and rollups
that add the facts up per organization, service, team, escalation policy, day (in the
organization's time zone) and urgency, with histograms for percentiles; and the responder
load per person, day (in their time zone) and period of the day.

Dimension ids are plain integers (0: none), not foreign keys: a rollup row is keyed by them,
and they stay meaningful for past days after a service or team is deleted.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models

__all__ = [
    "HISTOGRAM_BOUNDS",
    "IncidentFact",
    "IncidentRollup",
    "IncidentSpanRollup",
    "PendingChange",
    "Period",
    "ResponderLast",
    "ResponderRollup",
    "Span",
]


def _bounds() -> tuple[int, ...]:
    """Upper bounds (seconds) of the histogram buckets: 10 s growing by 25% to 30 days; the
    last bucket holds everything longer. About 1 bucket per 25%: percentiles within that."""
    bounds, value = [], 10.0
    while value < 30 * 86400:
        bounds.append(round(value))
        value *= 1.25
    return tuple(bounds)


HISTOGRAM_BOUNDS = _bounds()
BUCKETS = len(HISTOGRAM_BOUNDS) + 1


class IncidentFact(models.Model):
    """One incident's contribution to the rollups, as it stands after its latest change."""

    incident_id = models.BigIntegerField(primary_key=True)
    organization_id = models.BigIntegerField(db_index=True)
    service_id = models.BigIntegerField()
    team_id = models.BigIntegerField()
    policy_id = models.BigIntegerField()
    day = models.DateField()
    urgency = models.CharField(max_length=8)
    created_at = models.DateTimeField()
    # Created -> first acknowledgement by a person (None: never acknowledged by one).
    ack_seconds = models.FloatField(null=True)
    # Created -> resolved, while it is resolved (None: open).
    resolve_seconds = models.FloatField(null=True)
    # Resolved by the system (an event, a policy step) without a person's acknowledgement.
    auto_resolved = models.BooleanField(default=False)
    # Resolved by a person without anyone's acknowledgement.
    resolved_without_ack = models.BooleanField(default=False)
    # Reached escalation level 2 or later because nobody acknowledged in time.
    escalated = models.BooleanField(default=False)
    # Reassigned to another escalation policy by a person.
    reassigned = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["organization_id", "day"], name="analytics_fact_org_day")]

    def __str__(self) -> str:
        return f"fact of incident {self.incident_id}"


class IncidentRollup(models.Model):
    """The sum of the facts of one key (organization, service, team, policy, day, urgency).

    A change appends its difference as new rows (`compacted` false), here and in the week and
    month rows: no row is written by two transactions, so incidents changing together never
    wait for each other. `rollups_compact` (every few seconds) folds them into the key's one
    compacted row; readers sum every row of a key, so the figures are the same either way."""

    organization_id = models.BigIntegerField()
    service_id = models.BigIntegerField()
    team_id = models.BigIntegerField()
    policy_id = models.BigIntegerField()
    day = models.DateField()
    urgency = models.CharField(max_length=8)
    incidents = models.IntegerField(default=0)
    acknowledged = models.IntegerField(default=0)
    ack_seconds_sum = models.FloatField(default=0)
    ack_within_5m = models.IntegerField(default=0)
    ack_histogram = ArrayField(models.IntegerField(), size=BUCKETS)
    resolved = models.IntegerField(default=0)
    resolve_seconds_sum = models.FloatField(default=0)
    resolve_histogram = ArrayField(models.IntegerField(), size=BUCKETS)
    auto_resolved = models.IntegerField(default=0)
    resolved_without_ack = models.IntegerField(default=0)
    escalated = models.IntegerField(default=0)
    reassigned = models.IntegerField(default=0)
    # False: a change's difference, appended by the upkeep; True: the key's folded row.
    compacted = models.BooleanField(default=False, db_default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization_id", "day", "service_id", "team_id", "policy_id", "urgency"],
                condition=models.Q(compacted=True),
                name="analytics_rollup_key",
            )
        ]
        indexes = [
            # Incidents over time: the day's counts by urgency from the index alone (an
            # index-only scan of a year's rows instead of reading the rows with histograms).
            models.Index(
                fields=["organization_id", "day"],
                include=["urgency", "incidents", "team_id", "service_id"],
                name="analytics_rollup_series",
            ),
            models.Index(
                fields=["id"], condition=models.Q(compacted=False), name="analytics_rollup_new"
            ),
        ]

    def __str__(self) -> str:
        return f"rollup {self.organization_id}/{self.day}/{self.service_id}/{self.urgency}"


class Span(models.TextChoices):
    WEEK = "week", "ISO week, from Monday"
    MONTH = "month", "Calendar month"


class IncidentSpanRollup(models.Model):
    """The daily rollups of one key added up over a week or a month (`day`: its first day),
    kept by the same upkeep: a long range reads its whole months and weeks here and only the
    days at its ends from IncidentRollup (a year is about 40 rows a key instead of 365)."""

    organization_id = models.BigIntegerField()
    span = models.CharField(max_length=5, choices=Span.choices)
    day = models.DateField()
    service_id = models.BigIntegerField()
    team_id = models.BigIntegerField()
    policy_id = models.BigIntegerField()
    urgency = models.CharField(max_length=8)
    incidents = models.IntegerField(default=0)
    acknowledged = models.IntegerField(default=0)
    ack_seconds_sum = models.FloatField(default=0)
    ack_within_5m = models.IntegerField(default=0)
    ack_histogram = ArrayField(models.IntegerField(), size=BUCKETS)
    resolved = models.IntegerField(default=0)
    resolve_seconds_sum = models.FloatField(default=0)
    resolve_histogram = ArrayField(models.IntegerField(), size=BUCKETS)
    auto_resolved = models.IntegerField(default=0)
    resolved_without_ack = models.IntegerField(default=0)
    escalated = models.IntegerField(default=0)
    reassigned = models.IntegerField(default=0)
    # False: a change's difference, appended by the upkeep; True: the key's folded row.
    compacted = models.BooleanField(default=False, db_default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "organization_id",
                    "span",
                    "day",
                    "service_id",
                    "team_id",
                    "policy_id",
                    "urgency",
                ],
                condition=models.Q(compacted=True),
                name="analytics_span_rollup_key",
            )
        ]
        indexes = [
            models.Index(
                fields=["id"], condition=models.Q(compacted=False), name="analytics_span_new"
            ),
            # The tabs read a range's weeks and months, compacted or not (the key above is
            # partial): without it, every tab scanned the whole table.
            models.Index(fields=["organization_id", "span", "day"], name="analytics_span_series"),
        ]

    def __str__(self) -> str:
        return f"{self.span} rollup {self.organization_id}/{self.day}/{self.service_id}"


class Period(models.TextChoices):
    BUSINESS = "business", "Business hours (08-18 Mon-Fri)"
    OFF = "off", "Off hours"
    SLEEP = "sleep", "Sleep hours (22-08)"


class ResponderRollup(models.Model):
    """Interrupting notifications (SMS, voice, Slack) of one person, day and period (in the
    person's time zone): `interruptions` counts those more than 60 s after the previous one,
    `notifications` all of them."""

    organization_id = models.BigIntegerField()
    user_id = models.BigIntegerField()
    day = models.DateField()
    period = models.CharField(max_length=8, choices=Period.choices)
    interruptions = models.IntegerField(default=0)
    notifications = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization_id", "day", "user_id", "period"],
                name="analytics_responder_key",
            )
        ]

    def __str__(self) -> str:
        return f"responder {self.user_id}/{self.day}/{self.period}"


class ResponderLast(models.Model):
    """When the person was last interrupted (the 60-second rule)."""

    user_id = models.BigIntegerField(primary_key=True)
    last_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.user_id} last interrupted at {self.last_at}"


class PendingChange(models.Model):
    """Analytics work left for the `analytics.compact` sweep (and `analytics.rebuild`), written
    in the transaction of the change that asks for it, so that it is never lost:

    - a rebuild of the organization's analytics (`rebuild`; e.g. its time zone changed);
    - a change the upkeep could not count because a rebuild of its organization was running
      (services.analytics_rebuild holds the organization's rebuild lock): the incident whose
      fact to recompute, or the interrupting notification to add to the responder load."""

    organization = models.ForeignKey(
        "opsduty.Organization", on_delete=models.CASCADE, related_name="+"
    )
    incident_id = models.BigIntegerField(null=True)
    notification_id = models.BigIntegerField(null=True)
    user_id = models.BigIntegerField(null=True)
    rebuild = models.BooleanField(default=False)
    at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(
                fields=["notification_id"],
                condition=models.Q(notification_id__isnull=False),
                name="analytics_pending_notified",
            )
        ]

    def __str__(self) -> str:
        return f"pending {self.incident_id or self.notification_id} of {self.organization_id}"
