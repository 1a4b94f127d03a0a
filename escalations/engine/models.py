"""The escalation engine's state: one run per incident, its next step and when it is due."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from opsduty.models import TenantModel


class RunState(models.TextChoices):
    ACTIVE = "active", "Active"
    # Acknowledged with an acknowledge timeout: due_at is when it goes back to triggered.
    ACK_WAIT = "ack_wait", "Acknowledged, waiting for the acknowledge timeout"
    STOPPED = "stopped", "Stopped"
    FINISHED = "finished", "Finished"


class EscalationRun(TenantModel):
    """Where an incident is in its escalation policy (invariant 4: time is data).

    `due_at` is when `step_index` runs; `version` changes with every transition, so a task
    scheduled for an older state finds nothing to do. `policy_overridden`: someone reassigned
    the incident, so every restart walks `policy` instead of the service's current policy.
    """

    incident = models.OneToOneField(
        "incidents.Incident", on_delete=models.CASCADE, related_name="escalation_run"
    )
    policy = models.ForeignKey(
        "escalations.EscalationPolicy", null=True, blank=True, on_delete=models.SET_NULL
    )
    policy_overridden = models.BooleanField(default=False)
    state = models.CharField(max_length=16, choices=RunState.choices, default=RunState.ACTIVE)
    step_index = models.PositiveIntegerField(default=0)
    repeat_count = models.PositiveIntegerField(default=0)
    due_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=0)
    # Set by an event orchestration: acknowledged longer than this goes back to triggered.
    ack_timeout_minutes = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(
                fields=["due_at"],
                condition=Q(state__in=["active", "ack_wait"]),
                name="escalation_run_due",
            )
        ]

    def __str__(self) -> str:
        return f"run of incident {self.incident_id}: step {self.step_index + 1}, {self.state}"
