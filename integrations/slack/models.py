"""The organization's Slack workspace (one each, a workspace bound to one organization), the
channels its incidents go to, who is who on both sides, and the messages we posted (so each
is updated in place)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from opsduty.crypto import EncryptedTextField
from opsduty.models import Organization, TenantModel

__all__ = [
    "MessageKind",
    "SlackChannel",
    "SlackInstallState",
    "SlackLinkRequest",
    "SlackMessage",
    "SlackReceipt",
    "SlackUserLink",
    "SlackWorkspace",
]


class SlackWorkspace(models.Model):
    """The installation of our Slack app in one workspace, for one organization.

    The bot token (from `oauth.v2.access`) is encrypted at rest and never shown. A workspace
    (`team_id`) belongs to one organization only, and an organization has one workspace.
    """

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="slack_workspace"
    )
    team_id = models.CharField(max_length=32, unique=True)
    team_name = models.CharField(max_length=200, blank=True)
    app_id = models.CharField(max_length=32, blank=True)
    bot_user_id = models.CharField(max_length=32, blank=True)
    bot_token = EncryptedTextField()
    scopes = models.TextField(blank=True)
    installed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    installed_at = models.DateTimeField(default=timezone.now)
    # Where new incidents are posted unless their service names its own channel.
    default_channel_id = models.CharField(max_length=32, blank=True)
    default_channel_name = models.CharField(max_length=200, blank=True)
    # Timeline lines as thread replies under each incident message (off by default).
    thread_replies = models.BooleanField(default=False)
    # Slack answered 429: nothing is sent before this instant (shown on the settings page).
    rate_limited_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.team_name or self.team_id


class SlackInstallState(TenantModel):
    """The `state` of one "Add to Slack": single use, valid a few minutes, tied to the owner
    who started it (only its hash is stored)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    state_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)


class SlackChannel(models.Model):
    """The workspace's channels as `conversations.list` last named them: a service's Slack
    channel (`Service.slack_channel`, "#name" or an id) is looked up here, and the settings
    page offers them. Refreshed from Slack when the page opens or a name is not found."""

    workspace = models.ForeignKey(SlackWorkspace, on_delete=models.CASCADE, related_name="channels")
    channel_id = models.CharField(max_length=32)
    name = models.CharField(max_length=200)
    is_private = models.BooleanField(default=False)
    refreshed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "channel_id"], name="slack_channel_once_per_workspace"
            )
        ]

    def __str__(self) -> str:
        return f"#{self.name}"


class SlackUserLink(TenantModel):
    """This OpsDuty person is that Slack user (bound through `/opsduty account link`)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="slack_link"
    )
    workspace = models.ForeignKey(SlackWorkspace, on_delete=models.CASCADE, related_name="links")
    slack_user_id = models.CharField(max_length=32)
    slack_name = models.CharField(max_length=200, blank=True)
    linked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "slack_user_id"], name="slack_link_one_user_per_slack_user"
            )
        ]


class SlackLinkRequest(TenantModel):
    """A one-time sign-in link that binds a Slack user to whoever opens it signed in (only the
    token's hash is stored; valid a few minutes, single use)."""

    workspace = models.ForeignKey(SlackWorkspace, on_delete=models.CASCADE, related_name="+")
    slack_user_id = models.CharField(max_length=32)
    slack_name = models.CharField(max_length=200, blank=True)
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)


class MessageKind(models.TextChoices):
    CHANNEL = "channel", "Channel message"
    DM = "dm", "Direct message"


class SlackMessage(TenantModel):
    """A message we posted about an incident: the channel's one, or a DM that paged someone.
    Every change to the incident re-renders it (`rendered_hash` says what Slack shows now)."""

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="slack_messages"
    )
    workspace = models.ForeignKey(SlackWorkspace, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=MessageKind.choices)
    notification = models.OneToOneField(
        "escalations.Notification",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="slack_message",
    )
    channel_id = models.CharField(max_length=32)
    ts = models.CharField(max_length=32, blank=True)  # blank until Slack accepted the post
    rendered_hash = models.CharField(max_length=64, blank=True)
    # The last incident log line posted as a thread reply (thread replies setting).
    thread_log_id = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["incident"],
                condition=Q(kind="channel"),
                name="slack_one_channel_message_per_incident",
            )
        ]
        indexes = [models.Index(fields=["channel_id", "ts"], name="slack_message_by_ts")]


class SlackReceipt(models.Model):
    """An inbound request already handled (an Events API `event_id`): Slack's retries
    (`X-Slack-Retry-Num`) and duplicates are acknowledged without being handled twice."""

    key = models.CharField(max_length=128, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.key
