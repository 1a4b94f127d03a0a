"""Routing rules (a routing key whose ordered routes pick a service) and event orchestrations
(per-service conditions with transformations). Conditions are JSON specs validated by
`processing.routing.conditions.conditions_validate` in the service functions."""

from __future__ import annotations

import copy
from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from opsduty.models import Service, Team, TenantModel, new_routing_key
from processing.routing.conditions import MATCH_ALL

MAX_SILENCE_MINUTES = 10080  # one week
MAX_ACK_TIMEOUT_MINUTES = 1440  # one day


def match_all_spec() -> dict[str, Any]:
    """The default conditions: every event matches."""
    return copy.deepcopy(MATCH_ALL)


class RoutingRule(TenantModel):
    """A routing key of its own whose ordered routes pick a service (else the default)."""

    name = models.CharField(max_length=200)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="routing_rules")
    routing_key = models.CharField(max_length=64, unique=True, default=new_routing_key)
    default_service = models.ForeignKey(
        Service, on_delete=models.PROTECT, related_name="default_for_routing_rules"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="routing_rule_name_per_org"
            )
        ]
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Route(TenantModel):
    """One ordered route of a routing rule: events matching `conditions` go to `service`."""

    routing_rule = models.ForeignKey(RoutingRule, on_delete=models.CASCADE, related_name="routes")
    position = models.PositiveIntegerField()
    enabled = models.BooleanField(default=True)
    name = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True, max_length=2000)
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="routing_routes")
    conditions = models.JSONField(default=match_all_spec)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # Deferred, so a reorder can renumber every route in one transaction.
            models.UniqueConstraint(
                fields=["routing_rule", "position"],
                name="route_position_per_rule",
                deferrable=models.Deferrable.DEFERRED,
            )
        ]
        ordering = ["routing_rule_id", "position", "id"]

    def __str__(self) -> str:
        return self.name or f"Route {self.position + 1}"


class Escalate(models.TextChoices):
    UNCHANGED = "", "Unchanged"
    FORCE = "force", "Force escalation"
    BYPASS = "bypass", "Bypass escalation"


class OrchestrationUrgency(models.TextChoices):
    UNCHANGED = "", "Unchanged"
    HIGH = "high", "High"
    LOW = "low", "Low"


class AutoResolve(models.TextChoices):
    UNCHANGED = "", "Unchanged"
    ALLOW = "allow", "Allow (resolve signals resolve)"
    DENY = "deny", "Deny (ignore resolve signals)"


class EventOrchestration(TenantModel):
    """Conditions on a service's events and the transformations applied when they match.

    Every transformation is off by default (empty choice, null, False, empty list).
    """

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="orchestrations")
    # Limits the orchestration to events that came in through this routing rule.
    routing_rule = models.ForeignKey(
        RoutingRule,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="orchestrations",
    )
    position = models.PositiveIntegerField()
    enabled = models.BooleanField(default=True)
    name = models.CharField(max_length=200)
    conditions = models.JSONField(default=match_all_spec)

    escalate = models.CharField(max_length=8, choices=Escalate.choices, blank=True, default="")
    # The EscalationPolicy model arrives with the escalation engine; a plain id until then.
    escalation_policy_override_id = models.PositiveIntegerField(null=True, blank=True)
    notify_user_ids = models.JSONField(default=list, blank=True)
    silence_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_SILENCE_MINUTES)],
    )
    urgency = models.CharField(
        max_length=8, choices=OrchestrationUrgency.choices, blank=True, default=""
    )
    ack_timeout_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_ACK_TIMEOUT_MINUTES)],
    )
    note = models.TextField(blank=True, max_length=5000)
    acknowledge = models.BooleanField(default=False)
    resolve = models.BooleanField(default=False)
    auto_resolve = models.CharField(
        max_length=8, choices=AutoResolve.choices, blank=True, default=""
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["service", "position"],
                name="orchestration_position_per_service",
                deferrable=models.Deferrable.DEFERRED,
            )
        ]
        ordering = ["service_id", "position", "id"]

    def __str__(self) -> str:
        return self.name
