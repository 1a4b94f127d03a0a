"""Incidents, the events that formed them, notes, the log, responders and references.

`Status`, `Urgency` and `OPEN_STATUSES` are defined in `opsduty.choices` (every stage speaks
them) and re-exported here for the incidents app's own code."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from opsduty.choices import (
    DEDUP_ID_MAX_LENGTH,
    OPEN_STATUSES,
    SUMMARY_MAX_LENGTH,
    Status,
    Urgency,
)
from opsduty.models import Label, Organization, Service, TenantModel

NOTE_MAX_LENGTH = 10_000


__all__ = [
    "DEDUP_ID_MAX_LENGTH",
    "OPEN_STATUSES",
    "SUMMARY_MAX_LENGTH",
    "Status",
    "Urgency",
]  # re-exported from opsduty.choices


class IncidentCounter(models.Model):
    """Per-organization incident numbers: one row per organization, bumped under a row lock."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, primary_key=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.organization_id}: {self.last_number}"


# The number of an incident between its insert and `incident_number_assign`, in the
# transaction that opens it; never committed.
UNNUMBERED = 0


class Incident(TenantModel):
    """An incident group: events with one dedup id on one service, and what responders did."""

    number = models.PositiveIntegerField()  # UNNUMBERED only inside the opening transaction
    # Both indexed as the first column of an index in Meta (`incident_org_created`,
    # `incident_dedup_latest`): an index of their own would only slow every insert and
    # status change.
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    service = models.ForeignKey(
        Service, on_delete=models.PROTECT, related_name="incidents", db_index=False
    )
    summary = models.CharField(max_length=SUMMARY_MAX_LENGTH)
    description = models.TextField(blank=True)
    source_url = models.URLField(max_length=2000, blank=True)
    urgency = models.CharField(max_length=8, choices=Urgency.choices, default=Urgency.HIGH)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRIGGERED)
    dedup_id = models.CharField(max_length=DEDUP_ID_MAX_LENGTH)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    labels = models.ManyToManyField(Label, blank=True, related_name="incidents")
    created_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    silenced_at = models.DateTimeField(null=True, blank=True)
    # The silence's due time: a Celery ETA task and the sweeper end it (invariant 4).
    silenced_until = models.DateTimeField(null=True, blank=True)
    last_status_change_at = models.DateTimeField(default=timezone.now)
    archived_at = models.DateTimeField(null=True, blank=True)
    # The incident that maintenance mode `maintenance` opens on its service (escalations/
    # maintenance.py); the service's incidents are attached to it while maintenance lasts.
    is_maintenance = models.BooleanField(default=False)
    # Bumped on every state change; guards compare-and-set transitions.
    version = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            # Checked at commit: an incident is inserted UNNUMBERED and numbered at the end of
            # the transaction that opens it (incidents.services.incident_number_assign).
            models.UniqueConstraint(
                fields=["organization", "number"],
                name="incident_number_per_org",
                deferrable=models.Deferrable.DEFERRED,
            ),
            # Invariant 3: at most one open incident per (service, dedup id).
            models.UniqueConstraint(
                fields=["service", "dedup_id"],
                condition=~Q(status=Status.RESOLVED),
                name="one_open_incident_per_dedup_id",
            ),
            # One open maintenance incident per service; ingest_event finds it through this.
            models.UniqueConstraint(
                fields=["service"],
                condition=Q(is_maintenance=True) & ~Q(status=Status.RESOLVED),
                name="one_open_maintenance_incident",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="incident_org_created"),
            # An organization's newest first (the incident list, API v1's pages): without it
            # the list walked the primary key back through every newer incident of the other
            # organizations (150,000 of them: 50 ms; the planner cannot know they come first).
            models.Index(fields=["organization", "-id"], name="incident_org_recent"),
            # The dedup id's latest incident (an acknowledge or resolve with none open).
            models.Index(fields=["service", "dedup_id", "-id"], name="incident_dedup_latest"),
            # Open incidents by service: the services list's counts, a service's open ones.
            models.Index(
                fields=["service"],
                condition=Q(status__in=OPEN_STATUSES, archived_at=None),
                name="incident_open_by_service",
            ),
            # Open incidents of an organization: the open count in every page's tab title
            # (the index above, by service, also holds every other organization's).
            models.Index(
                fields=["organization"],
                condition=Q(status__in=OPEN_STATUSES, archived_at=None),
                name="incident_open_by_org",
            ),
            models.Index(
                fields=["silenced_until"],
                condition=Q(status=Status.SILENCED),
                name="incident_silence_due",
            ),
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"#{self.number} {self.summary}"

    # Set by `ingest_event` on the instance it returns: True when that event opened it.
    opened_by_event: bool = False
    # Set with it: what the escalation engine did for the directives of the opening event.
    escalation_effects: tuple[str, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.status != Status.RESOLVED


class IncidentEvent(TenantModel):
    """One event (alert) that formed or joined an incident, with its raw payload."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="events")
    summary = models.CharField(max_length=SUMMARY_MAX_LENGTH)
    description = models.TextField(blank=True)
    source_url = models.URLField(max_length=2000, blank=True)
    dedup_id = models.CharField(max_length=DEDUP_ID_MAX_LENGTH)
    acknowledge = models.BooleanField(default=False)
    resolve = models.BooleanField(default=False)
    payload = models.JSONField(default=dict, blank=True)
    # The pipeline's stages for this event: receive channel, routing, orchestration.
    processing = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.summary


class IncidentNote(TenantModel):
    """A responder's note on the timeline."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    text = models.TextField(max_length=NOTE_MAX_LENGTH)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.text[:40]


class LogAction(models.TextChoices):
    CREATED = "created", "Created"
    EVENT = "event", "Event appended"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    UNACKNOWLEDGED = "unacknowledged", "Unacknowledged"
    SILENCED = "silenced", "Silenced"
    UNSILENCED = "unsilenced", "Silence ended"
    RESOLVED = "resolved", "Resolved"
    REOPENED = "reopened", "Reopened"
    ATTACHED = "attached", "Attached"
    DETACHED = "detached", "Detached"
    NOTE = "note", "Note added"
    URGENCY = "urgency", "Urgency changed"
    LABEL_ADDED = "label_added", "Label added"
    LABEL_REMOVED = "label_removed", "Label removed"
    ARCHIVED = "archived", "Archived"
    SIGNAL_IGNORED = "signal_ignored", "Signal ignored"
    MAINTENANCE = "maintenance", "Maintenance"
    NOTIFICATION = "notification", "Notification"
    ESCALATION = "escalation", "Escalation"
    # SMS replies and calls (integrations/twilio): what the person sent or pressed.
    PHONE = "phone", "Phone"


class IncidentLogEntry(TenantModel):
    """One operation on an incident: who (a user, or the system when empty), when, what."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="log")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    action = models.CharField(max_length=24, choices=LogAction.choices)
    message = models.TextField()
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.message


class ResponderStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PENDING = "pending", "Pending"


class IncidentResponder(TenantModel):
    """A user involved in an incident: `pending` when paged, `active` once they responded."""

    # Indexed as the first column of `responder_once`.
    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="responders", db_index=False
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    status = models.CharField(max_length=8, choices=ResponderStatus.choices)
    last_notified = models.DateTimeField(null=True, blank=True)
    status_updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["incident", "user"], name="responder_once")]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.incident_id}"
