"""Escalation policies: ordered steps that say who is notified, when, and how often.

The engine that runs a policy against an incident comes later; it reads the steps through
`escalations.policies.selectors.policy_steps`.
"""

from __future__ import annotations

from django.db import models
from django.utils.timezone import now

from opsduty.models import Team, TenantModel, User


class StepKind(models.TextChoices):
    NOTIFY = "notify", "Notify"
    NOTIFY_IF_EVENTS = "notify_if_events", "Notify if N events in a time window"
    NOTIFY_IF_TIME = "notify_if_time", "Notify if within a daily time window"
    REPEAT = "repeat", "Repeat from step 1"
    RESOLVE = "resolve", "Resolve the incident"
    WAIT = "wait", "Wait"


class Channel(models.TextChoices):
    DEFAULT = "", "Each person's notification policy"
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    VOICE = "voice", "Voice call"
    SLACK = "slack", "Slack"


class EscalationPolicy(TenantModel):
    """A team's ordered list of escalation steps; services of that team may use it."""

    name = models.CharField(max_length=200)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="escalation_policies")
    description = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="escalation_policy_name_per_org"
            )
        ]
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class EscalationStep(TenantModel):
    """One step of a policy; which fields matter depends on `kind` (policy_services checks)."""

    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=32, choices=StepKind.choices)
    # repeat: how many times the policy starts over from step 1 (then the step does nothing)
    repeat_times = models.PositiveSmallIntegerField(null=True, blank=True)
    # wait
    wait_minutes = models.PositiveIntegerField(null=True, blank=True)
    # notify, notify_if_events, notify_if_time: the targets and an optional channel override
    users = models.ManyToManyField(User, blank=True, related_name="+")
    teams = models.ManyToManyField(Team, blank=True, related_name="+")
    # Whoever is on call in the schedule when the step fires.
    schedule = models.ForeignKey(
        "escalations.Schedule", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices, blank=True, default="")
    # notify_if_events
    events_count = models.PositiveIntegerField(null=True, blank=True)
    window_minutes = models.PositiveIntegerField(null=True, blank=True)
    # notify_if_time: a daily window in `timezone` (from > to spans midnight)
    time_from = models.TimeField(null=True, blank=True)
    time_to = models.TimeField(null=True, blank=True)
    timezone = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            # Deferred, so a reorder can renumber every step in one transaction.
            models.UniqueConstraint(
                fields=["policy", "position"],
                name="escalation_step_position_per_policy",
                deferrable=models.Deferrable.DEFERRED,
            )
        ]
        ordering = ["policy_id", "position", "id"]

    def __str__(self) -> str:
        return f"Step {self.position + 1}"
