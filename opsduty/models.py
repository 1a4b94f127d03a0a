"""Tenancy core: organizations, users with roles, teams, and the scoping every tenant row uses;
and `Service`, which every stage of the pipeline needs (signals, processing, incidents,
escalations), so it lives below all of them (docs/architecture.md)."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, ClassVar, Self, TypeVar

from auditlog.models import AbstractLogEntry, LogEntryManager
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from opsduty.timebounds import LATEST

_M = TypeVar("_M", bound=models.Model)

DOMAIN_VALIDATOR = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$",
    "Use lowercase letters, digits and hyphens (1-63 characters, no leading/trailing hyphen).",
)


class Organization(models.Model):
    """The tenant: every other row belongs to exactly one organization."""

    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=63, unique=True, validators=[DOMAIN_VALIDATOR])
    # Days and weeks of the analytics are this zone's (an IANA name).
    time_zone = models.CharField(max_length=64, default="UTC", db_default="UTC")
    created_at = models.DateTimeField(default=timezone.now)
    # Set when an owner closed it: nobody signs in any more, its data is being deleted
    # (opsduty/services.py `organization_close`, then the `organization_purge` task).
    closed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.domain})"


class TenantQuerySet(models.QuerySet[_M]):
    """The one scoping mechanism: every read of tenant rows starts with `for_org`."""

    def for_org(self, organization: Organization) -> Self:
        return self.filter(organization=organization)


class TenantModel(models.Model):
    """Abstract base for every tenant row: an `organization` and a scoped manager."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")

    objects: ClassVar[Any] = models.Manager.from_queryset(TenantQuerySet)()

    class Meta:
        abstract = True


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    MEMBER = "member", "Member"
    STAKEHOLDER = "stakeholder", "Stakeholder"


class UserQuerySet(TenantQuerySet["User"]):
    def active(self) -> Self:
        return self.filter(is_active=True)


class UserManager(BaseUserManager["User"]):
    """Creates users inside an organization; emails are stored lower-cased."""

    def get_queryset(self) -> UserQuerySet:
        return UserQuerySet(self.model, using=self._db)

    def for_org(self, organization: Organization) -> UserQuerySet:
        return self.get_queryset().for_org(organization)

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        user = self.model(email=normalize_email(email), **extra)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.update(is_staff=True, is_superuser=True, role=Role.OWNER)
        return self.create_user(email, password, **extra)


def normalize_email(email: str) -> str:
    """Emails compare case-insensitively; store them lower-cased and trimmed."""
    return email.strip().lower()


def _new_session_salt() -> str:
    return secrets.token_hex(16)


class User(AbstractBaseUser, PermissionsMixin):
    """A person in exactly one organization; `email` is unique within it."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="users")
    email = models.EmailField()
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    phone_number = models.CharField(
        max_length=20,
        blank=True,
        validators=[RegexValidator(r"^\+[1-9][0-9]{6,14}$", "Use E.164 format, e.g. +15550100.")],
    )
    # Set when the person typed the SMS code sent to `phone_number` (integrations/twilio);
    # cleared when the number changes. SMS and voice notifications need it.
    phone_verified_at = models.DateTimeField(null=True, blank=True)
    # The person answered STOP to our SMS (carriers then refuse our SMS); START clears it.
    sms_stopped_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    # The person's IANA time zone (their hours in the responder load); blank: the
    # organization's.
    time_zone = models.CharField(max_length=64, blank=True, default="", db_default="")
    # is_staff: platform operator with access to the Django admin (not a tenant role).
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # Part of the session hash: rotating it signs the user out of every session.
    session_salt = models.CharField(max_length=32, default=_new_session_salt, editable=False)

    objects: ClassVar[UserManager] = UserManager()

    # Set when the person was deleted: the row stays (incidents and logs name "a deleted
    # user"), its personal data is gone (opsduty/services.py `user_delete`).
    deleted_at = models.DateTimeField(null=True, blank=True)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["organization"]

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "email"], name="user_email_per_org"),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        if self.deleted_at is not None:
            return "a deleted user"
        return f"{self.first_name} {self.last_name}".strip() or self.email

    def get_short_name(self) -> str:
        return self.first_name or self.email

    @property
    def phone_verified(self) -> bool:
        return bool(self.phone_number) and self.phone_verified_at is not None

    @property
    def is_owner(self) -> bool:
        return self.role == Role.OWNER

    @property
    def is_stakeholder(self) -> bool:
        return self.role == Role.STAKEHOLDER

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        # Django checks this hash on every request; mixing in session_salt lets us
        # invalidate every session of the user ("sign out of all devices").
        key_salt = "opsduty.models.User.session_auth_hash"
        return salted_hmac(
            key_salt, f"{self.password}:{self.session_salt}", secret=secret, algorithm="sha256"
        ).hexdigest()


class Team(TenantModel):
    """A group of users that owns services, policies, schedules and heartbeats."""

    name = models.CharField(max_length=100)
    members = models.ManyToManyField(User, through="TeamMembership", related_name="teams")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="team_name_per_org")
        ]
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class TeamMembership(TenantModel):
    """A user's membership of a team (both in the same organization)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="team_member_once")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.team_id}"


class Label(TenantModel):
    """A name + color carried by incidents, services and heartbeats.

    `team` set: a team label, usable only on that team's resources; empty: an org label.
    """

    name = models.CharField(max_length=64)
    color = models.CharField(
        max_length=7,
        default="#6b7280",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a hex color like #ff8800.")],
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE)
    # Groups only organize the labels page and the pickers (e.g. "Environment", "Component").
    group = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="label_name_per_org")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


INVITATION_DAYS = 7


class Invitation(TenantModel):
    """An owner's invitation of an email address into the organization with a role and
    teams: one link, valid INVITATION_DAYS, used once (docs/accounts.md). Only the link's
    SHA-256 is kept; a resend makes a new link and the old one stops working."""

    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    teams = models.ManyToManyField(Team, blank=True, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One waiting invitation per address: a second one is a resend.
            models.UniqueConstraint(
                fields=["organization", "email"],
                condition=Q(accepted_at=None, revoked_at=None),
                name="one_waiting_invitation_per_email",
            )
        ]
        ordering = ["-sent_at", "-id"]

    def __str__(self) -> str:
        return self.email

    def state(self, now: datetime | None = None) -> str:
        """waiting, expired, revoked or used."""
        if self.accepted_at is not None:
            return "used"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= (now or timezone.now()):
            return "expired"
        return "waiting"


EMAIL_CHANGE_HOURS = 24


class EmailChange(TenantModel):
    """A person's request to use another email address, waiting for the link mailed to that
    address (its SHA-256 here); the old address is told when it is asked for."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    new_email = models.EmailField()
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.new_email


API_TOKEN_NAME_MAX = 100


class ApiToken(TenantModel):
    """A personal API token: its name and last use, over django-oauth-toolkit's AccessToken.

    The AccessToken holds the scope, the expiry and the token's SHA-256 checksum (the token
    itself is not stored: `COMPLIANT_BCP_RFC9700_TOKEN_STORAGE`). Revoking deletes the
    AccessToken, and this row with it (opsduty/services.py `api_token_revoke`).
    """

    # Not swappable: OpsDuty uses the toolkit's own AccessToken model.
    access_token = models.OneToOneField(
        "oauth2_provider.AccessToken",
        on_delete=models.CASCADE,
        related_name="api_token",
        swappable=False,
    )
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=API_TOKEN_NAME_MAX)
    created_at = models.DateTimeField(default=timezone.now)
    # Written by the API's authentication at most once a minute (`api_token_touch`).
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    @property
    def never_expires(self) -> bool:
        """Issued without an expiry (stored as the end of the accepted time range)."""
        return bool(self.access_token.expires >= LATEST)

    @property
    def is_expired(self) -> bool:
        """Past its expiry: the API answers 401 "The access token has expired."."""
        return bool(self.access_token.is_expired())


def new_routing_key() -> str:
    """An unguessable routing key (192 bits)."""
    return secrets.token_urlsafe(24)


class ServiceType(models.TextChoices):
    TECHNICAL = "technical", "Technical"
    BUSINESS = "business", "Business"


class MaintenanceMode(models.TextChoices):
    DEBUG = "debug", "Debug (escalations paused)"
    MAINTENANCE = "maintenance", "Maintenance (maintenance incident)"


class Service(TenantModel):
    """A technical component or business unit that incidents are raised on."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=2000)
    service_type = models.CharField(
        max_length=16, choices=ServiceType.choices, default=ServiceType.TECHNICAL
    )
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="services")
    routing_key = models.CharField(max_length=64, unique=True, default=new_routing_key)
    slack_channel = models.CharField(max_length=80, blank=True)
    # Maintenance (escalations/catalog/services.py): the mode and its window; the window's end is a
    # due time (invariant 4) and a passed end reads as "not in maintenance".
    maintenance_mode = models.CharField(  # noqa: DJ001 - the API reports "no mode" as null
        max_length=16, choices=MaintenanceMode.choices, null=True, blank=True
    )
    maintenance_window_start = models.DateTimeField(null=True, blank=True)
    maintenance_window_end = models.DateTimeField(null=True, blank=True)
    # Who gets paged: a policy of the service's own team (escalations.catalog.services checks).
    escalation_policy = models.ForeignKey(
        "escalations.EscalationPolicy",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="services",
    )
    # Organization labels and labels of the service's own team (opsduty.services.labels_check).
    labels = models.ManyToManyField(Label, blank=True, related_name="services")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # The table keeps the name it had when services lived in escalations (migrations
        # opsduty 0003 / escalations 0009 moved the model without touching the database).
        db_table = "escalations_service"
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="service_name_per_org")
        ]
        indexes = [
            # The maintenance sweeper's due rows (SELECT ... FOR UPDATE SKIP LOCKED).
            models.Index(
                fields=["maintenance_window_end"],
                condition=Q(maintenance_mode__isnull=False),
                name="service_maintenance_due",
            ),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class AuditChannel(models.TextChoices):
    """Where a configuration change came from (opsduty/audit.py `acting`)."""

    WEB = "web", "Web"
    API = "api", "API"
    SCIM = "scim", "SCIM"
    SSO = "sso", "SSO"
    SLACK = "slack", "Slack"
    PHONE = "phone", "Phone"
    TASK = "task", "Background task"
    SHELL = "shell", "Shell"


class AuditLogEntryManager(LogEntryManager):  # type: ignore[misc]
    """django-auditlog's manager; each new entry also gets its organization, who acted and
    from where, and the row's label (opsduty/audit.py `entry_fields`). A row of no
    organization is not recorded."""

    def log_create(self, instance: models.Model, force_log: bool = False, **kwargs: Any) -> Any:
        from opsduty.audit import entry_fields

        fields = entry_fields(instance)
        if fields is None:
            return None
        return super().log_create(instance, force_log, **{**fields, **kwargs})

    def log_m2m_changes(
        self,
        changed_queryset: Any,
        instance: models.Model,
        operation: str,
        field_name: str,
        **kwargs: Any,
    ) -> Any:
        from opsduty.audit import entry_fields

        fields = entry_fields(instance)
        if fields is None:
            return None
        return super().log_m2m_changes(
            changed_queryset, instance, operation, field_name, **{**fields, **kwargs}
        )


class AuditLogEntry(AbstractLogEntry):  # type: ignore[misc]
    """One configuration change (django-auditlog's entry, `AUDITLOG_LOGENTRY_MODEL`) in one
    organization: who (`actor`, or `actor_label` when no person acted: "system", a SCIM
    client), when, from where (`channel`, `remote_addr`), what (`content_type`, `object_id`,
    `object_repr`) and the field changes (`changes`: {field: [old, new]}, secrets masked).
    Written by opsduty/audit.py; browsed at /settings/audit/ (owners)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(
        max_length=16, choices=AuditChannel.choices, default=AuditChannel.SHELL
    )
    actor_label = models.CharField(max_length=200, blank=True, default="")

    objects: ClassVar[Any] = AuditLogEntryManager()

    class Meta(AbstractLogEntry.Meta):  # type: ignore[misc]
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log entries"
        ordering = ["-timestamp", "-id"]
        indexes = [
            # The owners' page: one organization's entries, newest first.
            models.Index(fields=["organization", "-timestamp", "-id"], name="audit_org_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.object_repr}"
