"""The organization's Twilio account, its numbers and their incoming-call destinations, what
was sent (SMS reply codes, calls) and what came in (SMS replies, incoming calls)."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from opsduty.crypto import EncryptedTextField
from opsduty.models import TenantModel

__all__ = [
    "CallDestination",
    "CallKind",
    "InboundMessage",
    "PhoneCall",
    "PhoneVerification",
    "SmsCode",
    "TwilioAccount",
    "TwilioNumber",
]

E164 = RegexValidator(r"^\+[1-9][0-9]{6,14}$", "Use E.164 format, e.g. +15550100.")


def _new_webhook_key() -> str:
    return secrets.token_urlsafe(18)


class TwilioAccount(TenantModel):
    """One per organization: its own Twilio account. The auth token is encrypted at rest and
    never shown again after saving (`auth_token_hint` is its last four characters)."""

    account_sid = models.CharField(
        max_length=34,
        validators=[RegexValidator(r"^AC[0-9a-f]{32}$", "An Account SID is AC + 32 hex digits.")],
    )
    auth_token = EncryptedTextField()
    auth_token_hint = models.CharField(max_length=8)
    # In every URL we give Twilio: selects the account whose token checks the signature.
    webhook_key = models.CharField(max_length=32, unique=True, default=_new_webhook_key)
    friendly_name = models.CharField(max_length=200, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    # Per person and channel, in a sliding window (GoAlert's defaults).
    sms_limit = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    call_limit = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    limit_window_minutes = models.PositiveSmallIntegerField(
        default=15, validators=[MinValueValidator(1), MaxValueValidator(1440)]
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="twilio_account_per_org"),
        ]

    def __str__(self) -> str:
        return f"Twilio account {self.account_sid}"


class TwilioNumber(TenantModel):
    """A number the organization bought through its account (inbound SMS and calls are routed
    by it, so one number belongs to one organization)."""

    account = models.ForeignKey(TwilioAccount, on_delete=models.CASCADE, related_name="numbers")
    sid = models.CharField(max_length=34, unique=True)
    phone_number = models.CharField(max_length=16, unique=True, validators=[E164])
    friendly_name = models.CharField(max_length=64, blank=True)
    sms_enabled = models.BooleanField(default=True)
    voice_enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["phone_number"]

    def __str__(self) -> str:
        return self.phone_number


class CallDestination(TenantModel):
    """Incoming calls to `number`: digit -> service (one destination: no menu)."""

    number = models.ForeignKey(TwilioNumber, on_delete=models.CASCADE, related_name="destinations")
    digit = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(9)]
    )
    service = models.ForeignKey("opsduty.Service", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["number", "digit"], name="call_destination_digit"),
        ]
        ordering = ["number_id", "digit"]

    def __str__(self) -> str:
        return f"{self.digit}: {self.service_id}"


class PhoneVerification(TenantModel):
    """A 6-digit code texted to a person's number: typed back in time, it verifies the number."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    phone_number = models.CharField(max_length=16, validators=[E164])
    code_hash = models.CharField(max_length=64)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]


class SmsCode(TenantModel):
    """The code a person answers an SMS notification with ("4a"): 1..99 per person, reused
    round-robin; the newest row of a (user, code) is the one a reply means."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    code = models.PositiveSmallIntegerField()
    notification = models.OneToOneField(
        "escalations.Notification", on_delete=models.CASCADE, related_name="+"
    )
    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="+")
    phone_number = models.CharField(max_length=16)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"], name="sms_code_latest")]


class InboundMessage(TenantModel):
    """An SMS that came in, once per MessageSid (a replayed request changes nothing)."""

    message_sid = models.CharField(max_length=34, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_number = models.CharField(max_length=32)
    to_number = models.CharField(max_length=32)
    body = models.TextField(max_length=1600)
    answer = models.TextField(blank=True)
    incident = models.ForeignKey(
        "incidents.Incident", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["from_number", "-created_at"], name="inbound_sms_from")]


class CallKind(models.TextChoices):
    NOTIFICATION = "notification", "Voice notification"
    INCOMING = "incoming", "Incoming call"


class PhoneCall(TenantModel):
    """A call we placed (a voice notification) or took (an incoming call), by CallSid.

    An incoming call carries its routing: the people to try in order (`plan`: the service's
    escalation policy, step by step) and where it stands (`position`).
    """

    kind = models.CharField(max_length=16, choices=CallKind.choices)
    call_sid = models.CharField(max_length=34, unique=True)
    number = models.ForeignKey(
        TwilioNumber, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    notification = models.OneToOneField(
        "escalations.Notification",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_number = models.CharField(max_length=32)
    to_number = models.CharField(max_length=32)
    status = models.CharField(max_length=16, default="queued")
    answered_by = models.CharField(max_length=32, blank=True)
    destination = models.ForeignKey(
        CallDestination, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Incoming calls: [{"step": 1, "user": 7}, ...] and the index of the person being dialed.
    plan = models.JSONField(default=list, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    answered_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recording_url = models.URLField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="incoming") | Q(notification__isnull=False),
                name="phone_call_notification_has_row",
            ),
        ]
