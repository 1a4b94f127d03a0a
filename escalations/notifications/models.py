"""Notification rules (a user's policy per urgency) and the notification outbox (invariant 5)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from opsduty.models import TenantModel

__all__ = [
    "MAX_DELAY_MINUTES",
    "MAX_RULES",
    "Channel",
    "Notification",
    "NotificationRule",
    "NotificationStatus",
    "RuleUrgency",
]

MAX_DELAY_MINUTES = 1440
MAX_RULES = 10


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    VOICE = "voice", "Voice call"
    SLACK = "slack", "Slack"


class RuleUrgency(models.TextChoices):
    # The same values as incidents.models.Urgency (incidents imports escalations, not back).
    HIGH = "high", "High"
    LOW = "low", "Low"


class NotificationRule(TenantModel):
    """One step of a user's notification policy: after `delay_minutes`, notify on `channel`."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_rules"
    )
    urgency = models.CharField(max_length=8, choices=RuleUrgency.choices)
    position = models.PositiveSmallIntegerField()
    delay_minutes = models.PositiveIntegerField(
        validators=[MinValueValidator(0), MaxValueValidator(MAX_DELAY_MINUTES)]
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "urgency", "position"], name="notification_rule_position"
            ),
            models.CheckConstraint(
                condition=Q(delay_minutes__lte=MAX_DELAY_MINUTES),
                name="notification_rule_delay_max",
            ),
        ]
        ordering = ["user_id", "urgency", "position"]

    def __str__(self) -> str:
        return f"{self.urgency}: {self.channel} after {self.delay_minutes} min"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    NOT_CONFIGURED = "not_configured", "Channel not configured"
    # The contact method's rate limit was reached: not sent, the person's next rule goes now.
    THROTTLED = "throttled", "Throttled"


class Notification(TenantModel):
    """An outbox row: written with the decision to notify, delivered by a retried task."""

    incident = models.ForeignKey(  # indexed as the first column of `notification_incident_status`
        "incidents.Incident",
        on_delete=models.CASCADE,
        related_name="notifications",
        db_index=False,
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    rule = models.ForeignKey(
        NotificationRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True)
    # When to send next (the rule's delay, then each retry's backoff): invariant 4.
    due_at = models.DateTimeField()
    idempotency_key = models.CharField(max_length=200, unique=True)
    status = models.CharField(
        max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # What the provider reported after it took the message (status callbacks): the message or
    # call id, and e.g. delivered, undelivered, busy, no_answer, not_reached, answered.
    # (Database defaults: the outbox inserts rows with plain SQL that names no new column.)
    provider_id = models.CharField(max_length=64, blank=True, default="", db_default="")
    delivery_status = models.CharField(max_length=16, blank=True, default="", db_default="")
    delivery_updated_at = models.DateTimeField(null=True, blank=True)
    # Set while a sender holds the row between its claim and the record of the provider's
    # answer (escalations/notifications/services.py, LEASE): nobody else claims it until then.
    # Still set after that time: the sender stopped mid-send, the outcome is unknown.
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # The delivery sweeper's due rows (SELECT ... FOR UPDATE SKIP LOCKED).
            models.Index(
                fields=["due_at"], condition=Q(status="pending"), name="notification_pending_due"
            ),
            models.Index(fields=["incident", "status"], name="notification_incident_status"),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.channel} to {self.user_id} for {self.incident_id}: {self.status}"
