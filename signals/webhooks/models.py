"""Webhook integrations: endpoints that senders POST JSON to, each with its receive channel."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.db.models import QuerySet
from django.utils import timezone

from opsduty.crypto import EncryptedTextField, SecretDigestField
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
    GRAFANA = "grafana", "Grafana Alerting"
    CHECKLY = "checkly", "Checkly"
    DEADMANSSNITCH = "deadmanssnitch", "Dead Man's Snitch"
    SENTRY = "sentry", "Sentry"


def new_webhook_key() -> str:
    """A webhook's key: a random UUID (122 bits), the credential of its URL."""
    return str(uuid.uuid4())


class Webhook(TenantModel):
    """An integration endpoint: senders POST JSON to its key + a routing key."""

    name = models.CharField(max_length=200)
    enabled = models.BooleanField(default=True)
    # The credential of its URL (a UUID): stored encrypted, found by its SHA-256.
    key = EncryptedTextField(default=new_webhook_key, editable=False)
    key_hash = SecretDigestField(of="key")
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


# A processing.ReceiveChannel. signals sits first in the flow and imports no later app: the
# webhook reaches the model through the foreign key that declares it.
ReceiveChannel = Any


def receive_channel_model() -> type[models.Model]:
    """The model of `Webhook.receive_channel` (processing's receive channels)."""
    model = Webhook._meta.get_field("receive_channel").related_model
    assert isinstance(model, type) and issubclass(model, models.Model)
    return model


def receive_channels_of(organization_id: int) -> QuerySet[Any]:
    """The receive channels a webhook of the organization may read with, by name."""
    manager = receive_channel_model()._default_manager
    return manager.filter(organization_id=organization_id).order_by("name", "id")
