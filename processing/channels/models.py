"""Receive channels: how a raw JSON payload becomes an event (summary, dedup id, signals...).

A channel picks one built-in template (`processing.channels.builtin_templates`) and may override any
of its fields; an override that is NULL or empty means "use the built-in's value", so
clearing it reverts. Channels belong to the organization: owners manage them, owners and
members see them and use the debugger.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from opsduty.models import TenantModel

__all__ = ["OVERRIDE_FIELDS", "BaseTemplate", "ReceiveChannel"]

# The event fields a template renders, in display order (also
# `processing.channels.rendering.FIELDS`).
OVERRIDE_FIELDS = (
    "summary",
    "description",
    "source_url",
    "dedup_id",
    "acknowledge",
    "resolve",
    "urgency",
    "labels",
)


class BaseTemplate(models.TextChoices):
    GENERIC = "generic", "Generic JSON"
    ALERTMANAGER = "alertmanager", "Prometheus Alertmanager"
    GRAFANA = "grafana", "Grafana Alerting"
    CHECKLY = "checkly", "Checkly"
    DEADMANSSNITCH = "deadmanssnitch", "Dead Man's Snitch"
    SENTRY = "sentry", "Sentry"


class ReceiveChannel(TenantModel):
    """An organization's receive channel: a built-in template plus per-field overrides."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=2000)
    base_template = models.CharField(
        max_length=32, choices=BaseTemplate.choices, default=BaseTemplate.GENERIC
    )
    # Overrides of the base template's fields: NULL or "" = use the base template's value.
    # Named `<field>_template` because `description` is the channel's own description.
    summary_template = models.TextField(null=True, blank=True)  # noqa: DJ001
    description_template = models.TextField(null=True, blank=True)  # noqa: DJ001
    source_url_template = models.TextField(null=True, blank=True)  # noqa: DJ001
    dedup_id_template = models.TextField(null=True, blank=True)  # noqa: DJ001
    acknowledge_template = models.TextField(null=True, blank=True)  # noqa: DJ001
    resolve_template = models.TextField(null=True, blank=True)  # noqa: DJ001
    urgency_template = models.TextField(null=True, blank=True)  # noqa: DJ001
    labels_template = models.TextField(null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="receive_channel_name_per_org"
            )
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    def overrides(self) -> dict[str, str]:
        """The overridden fields only (field -> Jinja source); empty ones are left out."""
        found = {field: getattr(self, f"{field}_template") for field in OVERRIDE_FIELDS}
        return {field: source for field, source in found.items() if source}
