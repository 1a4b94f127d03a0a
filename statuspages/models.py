"""Status pages: the customer-facing side of an incident (docs/status-pages.md; API v1 §D).

A page (owned by a team) holds ordered component groups, each of ordered components that
stand for OpsDuty services. A status-page incident ("notice" in the code, so that it is never
confused with the operational `incidents.Incident`) tells customers what happens, with a
timeline of updates and at most one postmortem; planned maintenance is a notice whose status
is one of the planned ones. What each component showed, and when, is kept as periods: the
uptime of the last 90 days is read from them, to the second. Visitors subscribe by email.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from incidents.models import Incident
from opsduty.crypto import EncryptedTextField
from opsduty.models import Service, Team, TenantModel

NAME_MAX = 200
TITLE_MAX = 255


class AccessMode(models.TextChoices):
    PUBLIC = "public", "Anyone with the link"
    OPSDUTY_MEMBERS = "opsduty_members", "People of the organization (signed in)"
    CUSTOM_BACKEND = "custom_backend", "Your own login (a signed token)"


class ComponentStatus(models.TextChoices):
    OPERATIONAL = "operational", "Operational"
    DEGRADED_PERFORMANCE = "degraded_performance", "Degraded performance"
    PARTIAL_OUTAGE = "partial_outage", "Partial outage"
    MAJOR_OUTAGE = "major_outage", "Major outage"
    UNDER_MAINTENANCE = "under_maintenance", "Under maintenance"


# Worst first: the page's headline is the worst status of its components.
STATUS_SEVERITY = {
    ComponentStatus.MAJOR_OUTAGE: 4,
    ComponentStatus.PARTIAL_OUTAGE: 3,
    ComponentStatus.DEGRADED_PERFORMANCE: 2,
    ComponentStatus.UNDER_MAINTENANCE: 1,
    ComponentStatus.OPERATIONAL: 0,
}
# §D S17: these count as downtime; announced maintenance does not.
DOWNTIME_STATUSES = frozenset(
    {
        ComponentStatus.DEGRADED_PERFORMANCE,
        ComponentStatus.PARTIAL_OUTAGE,
        ComponentStatus.MAJOR_OUTAGE,
    }
)


class NoticeStatus(models.TextChoices):
    """`IncidentStatus` of §D.3 (status-page incidents)."""

    INVESTIGATING = "investigating", "Investigating"
    IDENTIFIED = "identified", "Identified"
    MONITORING = "monitoring", "Monitoring"
    RESOLVED = "resolved", "Resolved"
    SCHEDULED = "scheduled", "Scheduled"
    IN_PROGRESS = "in_progress", "In progress"
    VERIFYING = "verifying", "Verifying"
    COMPLETED = "completed", "Completed"


PLANNED_STATUSES = frozenset(
    {
        NoticeStatus.SCHEDULED,
        NoticeStatus.IN_PROGRESS,
        NoticeStatus.VERIFYING,
        NoticeStatus.COMPLETED,
    }
)
CLOSED_STATUSES = frozenset({NoticeStatus.RESOLVED, NoticeStatus.COMPLETED})


class Impact(models.TextChoices):
    NONE = "none", "None"
    MINOR = "minor", "Minor"
    MAJOR = "major", "Major"
    CRITICAL = "critical", "Critical"
    MAINTENANCE = "maintenance", "Maintenance"


# §D S10: what a synced component shows while an open notice of this impact covers it.
IMPACT_STATUS = {
    Impact.NONE: ComponentStatus.OPERATIONAL,
    Impact.MINOR: ComponentStatus.DEGRADED_PERFORMANCE,
    Impact.MAJOR: ComponentStatus.PARTIAL_OUTAGE,
    Impact.CRITICAL: ComponentStatus.MAJOR_OUTAGE,
    Impact.MAINTENANCE: ComponentStatus.UNDER_MAINTENANCE,
}


class StatusPage(TenantModel):
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="status_pages")
    name = models.CharField(max_length=NAME_MAX)
    # The public page is /status/<slug>/; a custom domain (Host header) serves it too.
    slug = models.SlugField(max_length=64, unique=True)
    domain = models.CharField(max_length=253, blank=True)
    description = models.TextField(blank=True, default="")
    enabled = models.BooleanField(default=True)
    calculate_uptime = models.BooleanField(default=True)
    access_mode = models.CharField(
        max_length=20, choices=AccessMode.choices, default=AccessMode.PUBLIC
    )
    # custom_backend: the HMAC key of the visitors' signed tokens (shown once on rotation).
    access_secret = EncryptedTextField(blank=True, default="")
    # Bumped by every change that shows on the public page: the page's cache key.
    version = models.PositiveBigIntegerField(default=1)
    # The version of the last change that took something off the page (a published
    # postmortem unpublished or rewritten): no body rendered before it is served again, not
    # even while its next version renders (statuspages/public/cache.py).
    retracted_version = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["domain"], condition=~Q(domain=""), name="status_page_domain_unique"
            )
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class ComponentGroup(TenantModel):
    status_page = models.ForeignKey(
        StatusPage, on_delete=models.CASCADE, related_name="component_groups"
    )
    name = models.CharField(max_length=NAME_MAX)
    description = models.TextField(blank=True, default="")
    order = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["status_page", "order"],
                name="component_group_order_unique",
                deferrable=models.Deferrable.DEFERRED,
            )
        ]
        ordering = ["order"]

    def __str__(self) -> str:
        return self.name


class Component(TenantModel):
    group = models.ForeignKey(ComponentGroup, on_delete=models.CASCADE, related_name="components")
    # Denormalized from the group: a page's components in one index.
    status_page = models.ForeignKey(StatusPage, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=NAME_MAX)
    description = models.TextField(blank=True, default="")
    position = models.PositiveIntegerField()
    services = models.ManyToManyField(Service, blank=True, related_name="status_components")
    # What someone set (S8, the UI); an open synced notice may show another (`shown_status`).
    manual_status = models.CharField(
        max_length=24, choices=ComponentStatus.choices, default=ComponentStatus.OPERATIONAL
    )
    # What the page shows now: the manual status, or the worst of the open synced notices.
    shown_status = models.CharField(
        max_length=24, choices=ComponentStatus.choices, default=ComponentStatus.OPERATIONAL
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["group", "position"],
                name="component_position_unique",
                deferrable=models.Deferrable.DEFERRED,
            )
        ]
        ordering = ["position"]

    def __str__(self) -> str:
        return self.name


class ComponentPeriod(TenantModel):
    """A stretch of time a component showed one status; the open one has no `ended_at`."""

    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="periods")
    status = models.CharField(max_length=24, choices=ComponentStatus.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["component", "started_at"], name="component_period_start")]
        constraints = [
            models.UniqueConstraint(
                fields=["component"],
                condition=Q(ended_at__isnull=True),
                name="component_period_one_open",
            )
        ]


class Notice(TenantModel):
    """A status-page incident (`IncidentSchema` of §D), or planned maintenance."""

    status_page = models.ForeignKey(StatusPage, on_delete=models.CASCADE, related_name="notices")
    title = models.CharField(max_length=TITLE_MAX)
    body = models.TextField(blank=True, default="")
    status = models.CharField(
        max_length=16, choices=NoticeStatus.choices, default=NoticeStatus.INVESTIGATING
    )
    impact = models.CharField(max_length=12, choices=Impact.choices, default=Impact.MINOR)
    components = models.ManyToManyField(Component, blank=True, related_name="notices")
    sync_component_status = models.BooleanField(default=False)
    draft = models.BooleanField(default=False)
    # The operational incident it tells customers about.
    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="notices"
    )
    created_at = models.DateTimeField(default=timezone.now)
    monitoring_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    scheduled_start = models.DateTimeField(null=True, blank=True)
    scheduled_end = models.DateTimeField(null=True, blank=True)
    # Planned maintenance moves by itself: the next time it must (start, end), swept as the
    # rest of the product's deadlines are (a Celery ETA task, and a periodic sweeper).
    due_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status_page", "-created_at"], name="notice_page_newest"),
            models.Index(fields=["due_at"], condition=Q(due_at__isnull=False), name="notice_due"),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title

    @property
    def duration_seconds(self) -> int | None:
        if self.resolved_at is None:
            return None
        return max(0, int((self.resolved_at - self.created_at).total_seconds()))

    @property
    def planned(self) -> bool:
        return self.status in PLANNED_STATUSES

    @property
    def open(self) -> bool:
        return self.status not in CLOSED_STATUSES


class NoticeUpdate(TenantModel):
    """An update of a notice's timeline (`IncidentUpdateSchema`); a future `display_at`
    waits (not visible, its status change not applied) until it is due."""

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="updates")
    body = models.TextField()
    # The status it moves the notice to ("" keeps it), and the notice's status right after it
    # (`status` of the schema): while it waits, the status when it was posted; set again when
    # it is published. "" (answered as null) only for rows without a recorded status.
    requested_status = models.CharField(max_length=16, choices=NoticeStatus.choices, blank=True)
    status = models.CharField(max_length=16, choices=NoticeStatus.choices, blank=True)
    visible = models.BooleanField(default=True)
    display_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(
                fields=["display_at"],
                condition=Q(visible=False),
                name="notice_update_waiting",
            )
        ]
        ordering = ["-created_at", "-id"]


class Postmortem(TenantModel):
    notice = models.OneToOneField(Notice, on_delete=models.CASCADE, related_name="postmortem")
    body = models.TextField()  # Markdown; rendered with markdown-it-py, sanitized with nh3
    published = models.BooleanField(default=False)
    published_at = models.DateTimeField(null=True, blank=True)
    # The operational incident's timeline is told the first time it is published.
    announced = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)


class Subscriber(TenantModel):
    """An email address following a page (all of it, or chosen components): double opt-in
    (`confirmed_at`), one-click unsubscribe by its token."""

    status_page = models.ForeignKey(
        StatusPage, on_delete=models.CASCADE, related_name="subscribers"
    )
    email = models.EmailField()
    components = models.ManyToManyField(Component, blank=True, related_name="subscribers")
    token_digest = models.CharField(max_length=64, unique=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["status_page", "email"], name="subscriber_email_per_page"
            )
        ]


# --- Subscribers' outbox (statuspages/subscribers/, docs/status-pages.md "Subscribers") ------


class SubscriberMailKind(models.TextChoices):
    CONFIRM = "confirm", "Confirm the subscription"
    ALREADY = "already", "Already subscribed"
    NOTICE_PUBLISHED = "notice_published", "A notice was published"
    UPDATE_VISIBLE = "update_visible", "An update was posted"
    MAINTENANCE_STARTED = "maintenance_started", "Maintenance started"
    POSTMORTEM_PUBLISHED = "postmortem_published", "A postmortem was published"


class SubscriberMailStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class SubscriberMail(TenantModel):
    """An outbox row: one mail to one subscriber, written in the transaction that decided it
    (an announcement, a subscription), delivered after the commit by a retried task."""

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="mails")
    kind = models.CharField(max_length=24, choices=SubscriberMailKind.choices)
    notice = models.ForeignKey(
        Notice, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    update = models.ForeignKey(
        NoticeUpdate, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    idempotency_key = models.CharField(max_length=200, unique=True)
    status = models.CharField(
        max_length=12, choices=SubscriberMailStatus.choices, default=SubscriberMailStatus.PENDING
    )
    due_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    # Held by a sender between its claim and the record of the answer; still set after that
    # time: the sender stopped mid-send (the next attempt may send it a second time).
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(
                fields=["due_at"],
                condition=Q(status="pending"),
                name="subscriber_mail_pending_due",
            )
        ]
        ordering = ["id"]


class SubscriberMailAttempt(TenantModel):
    """The log of deliveries: one row per attempt with its outcome."""

    mail = models.ForeignKey(SubscriberMail, on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=12)  # sent, retry, failed, cancelled
    detail = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["id"]
