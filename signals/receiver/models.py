"""The receiver's durable store: every raw event it accepts, and the reference its sender gets
back (pending until the event is processed, then its incident)."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from opsduty.models import TenantModel


class ReferenceStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    STOPPED = "stopped", "Stopped"


class IncidentReference(TenantModel):
    """What a signal's sender gets back: pending until processed, then its incident."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(
        max_length=16, choices=ReferenceStatus.choices, default=ReferenceStatus.PENDING
    )
    reason = models.TextField(blank=True)
    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # Named as when references lived in incidents (migrations moved the model, state only).
        db_table = "incidents_incidentreference"

    def __str__(self) -> str:
        return str(self.public_id)


class RawEventStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected (webhook disabled)"


class RawEvent(TenantModel):
    """A webhook POST exactly as accepted: stored before the 202, processed afterwards.

    The ingest path writes it (and its IncidentReference) with one raw SQL statement, see
    signals/receiver/ingest.py; keep the columns there in step with this model.
    """

    id = models.BigAutoField(primary_key=True)
    # Each indexed as the first column of an index in Meta (`rawevent_org_recent`,
    # `rawevent_webhook_received`): an index of their own would only slow every insert.
    organization = models.ForeignKey(
        "opsduty.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    webhook = models.ForeignKey(
        "signals.Webhook", null=True, on_delete=models.SET_NULL, db_index=False
    )
    routing_key = models.CharField(max_length=64)
    reference = models.OneToOneField(IncidentReference, on_delete=models.CASCADE)
    received_at = models.DateTimeField(default=timezone.now)
    headers = models.JSONField(default=dict)
    body = models.JSONField()
    status = models.CharField(
        max_length=16, choices=RawEventStatus.choices, default=RawEventStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    # When a drain task claimed it for processing; a claim older than a few seconds on a
    # pending event means that worker died, and the event can be claimed again.
    claimed_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.SET_NULL
    )
    # Set by the drain once the pipeline ran: a hash of the event's service and dedup id.
    # Events of one key are ingested in id order (incidents/ingest/drain.py); NULL = not yet.
    order_key = models.BigIntegerField(null=True, blank=True)
    # What each pipeline stage made of it: {"channel": ..., "routing": ..., "orchestration": ...}
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["id"], condition=Q(status="pending"), name="rawevent_pending"),
            models.Index(fields=["organization", "-id"], name="rawevent_org_recent"),
            # The webhook list's "events in the last 24 h" (signals/webhooks/selectors.py).
            models.Index(fields=["webhook", "received_at"], name="rawevent_webhook_received"),
            # The raw event browser's failed ones, newest first: a few among many.
            models.Index(
                fields=["organization", "-id"],
                condition=Q(status="failed"),
                name="rawevent_failed_recent",
            ),
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"raw event {self.pk}"
