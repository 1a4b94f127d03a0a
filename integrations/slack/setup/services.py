"""Writes of Settings -> Slack: the install (OAuth v2, with a single-use, expiring `state`),
the channel settings (default channel, thread replies, a service's channel), uninstall, the
events that end an installation, and pruning of spent one-time rows.

Slack is called before the database transaction that records its answer (no row lock is held
across a request to Slack). The checks of who may do what are the views' (owners only); the
functions here trust their arguments.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from slack_sdk.errors import SlackClientError

from integrations.slack import channels
from integrations.slack import selectors as slack_selectors
from integrations.slack.client import slack_client
from integrations.slack.errors import Failure, failure_of
from integrations.slack.models import (
    SlackChannel,
    SlackInstallState,
    SlackLinkRequest,
    SlackReceipt,
    SlackWorkspace,
)
from integrations.slack.setup import selectors
from opsduty.audit import audit_record
from opsduty.models import Organization, Service, User

__all__ = [
    "BOT_SCOPES",
    "InstallRefused",
    "directory_refresh",
    "event_receive",
    "install_complete",
    "install_start",
    "install_state_claim",
    "service_channel_set",
    "slack_rows_prune",
    "workspace_settings_update",
    "workspace_uninstall",
]

logger = logging.getLogger(__name__)

# The bot token's scopes, asked for by "Add to Slack" (docs/slack-app-manifest.yml lists the
# same; tests/integrations/slack/test_setup.py keeps them in sync).
BOT_SCOPES = (
    "chat:write",
    "chat:write.public",
    "commands",
    "channels:read",
    "groups:read",
    "im:write",
    "users:read",
    "users:read.email",
    "team:read",
)
STATE_TTL = timedelta(minutes=10)
DIRECTORY_REFRESH_SECONDS = 60
RECEIPT_TTL = timedelta(days=1)

OTHER_ORGANIZATION = "This Slack workspace is connected to another OpsDuty organization."
OTHER_WORKSPACE = (
    "This organization is already connected to the Slack workspace {name}: one workspace per "
    "organization. Uninstall it first to connect another."
)
SIMULTANEOUS = "Another install of Slack finished at the same time: reload the page."
TEAM_ID_MAX = 32
SERVICE_CHANNEL_MAX = Service._meta.get_field("slack_channel").max_length or 80


class InstallRefused(Exception):
    """The install cannot be completed; the message says why, for the owner."""


def state_hash(state: str) -> str:
    """What is stored of a `state` (its SHA-256, hex)."""
    return hashlib.sha256(state.encode()).hexdigest()


@transaction.atomic
def install_start(*, organization: Organization, user: User) -> str:
    """A new single-use `state` for `user`'s "Add to Slack", valid STATE_TTL; the URL of
    Slack's consent page that comes back to our callback with it."""
    state = secrets.token_urlsafe(32)
    SlackInstallState.objects.create(
        organization=organization,
        user=user,
        state_hash=state_hash(state),
        expires_at=timezone.now() + STATE_TTL,
    )
    query = urlencode(
        {
            "client_id": settings.OPSDUTY_SLACK_CLIENT_ID,
            "scope": ",".join(BOT_SCOPES),
            "redirect_uri": selectors.redirect_uri(),
            "state": state,
        }
    )
    base = settings.OPSDUTY_SLACK_AUTHORIZE_URL
    return f"{base}{'&' if '?' in base else '?'}{query}"


def install_state_claim(*, organization: Organization, user: User, state: str) -> bool:
    """Spend `state`: True only for an unused, unexpired state that `user` of `organization`
    started. One conditional UPDATE, so two callbacks with the same state cannot both win."""
    if not state:
        return False
    now = timezone.now()
    claimed = SlackInstallState.objects.filter(
        organization=organization,
        user=user,
        state_hash=state_hash(state),
        used_at__isnull=True,
        expires_at__gt=now,
    ).update(used_at=now)
    return claimed == 1


def install_complete(*, organization: Organization, user: User, code: str) -> SlackWorkspace:
    """Exchange the OAuth `code` for the bot token (`oauth.v2.access`) and store the
    organization's workspace; then list its channels. Precondition: the state was claimed.

    Raises InstallRefused when Slack refuses the code, when the workspace belongs to another
    organization, or when this organization has another workspace (nothing is stored)."""
    try:
        answer = slack_client().oauth_v2_access(
            client_id=settings.OPSDUTY_SLACK_CLIENT_ID,
            client_secret=settings.OPSDUTY_SLACK_CLIENT_SECRET,
            code=code,
            redirect_uri=selectors.redirect_uri(),
        )
    except (SlackClientError, OSError) as error:
        raise InstallRefused(f"Slack refused the install: {failure_of(error).message}.") from error
    team = answer.get("team") or {}
    fields = {
        "team_id": str(team.get("id") or ""),
        "team_name": str(team.get("name") or "")[:200],
        "app_id": str(answer.get("app_id") or "")[:32],
        "bot_user_id": str(answer.get("bot_user_id") or "")[:32],
        "bot_token": str(answer.get("access_token") or ""),
        "scopes": str(answer.get("scope") or ""),
    }
    if not fields["team_id"] or len(fields["team_id"]) > TEAM_ID_MAX or not fields["bot_token"]:
        raise InstallRefused("Slack's answer had no workspace or no bot token: try again.")
    workspace = _workspace_store(organization=organization, user=user, fields=fields)
    slack_selectors.slack_presence_forget(organization.pk)
    directory_refresh(workspace=workspace, force=True)
    return workspace


def _refreshed_key(workspace: SlackWorkspace) -> str:
    return f"slack:settings-channels:{workspace.pk}"


def directory_refresh(*, workspace: SlackWorkspace, force: bool = False) -> Failure | None:
    """List the workspace's channels from Slack (`channels.channels_refresh`): at most once
    per DIRECTORY_REFRESH_SECONDS unless `force` (the settings page lists them each time it
    opens; a failed listing is tried again by the next page after that). Slack's refusal,
    if it refused (the directory is then left as it was)."""
    key = _refreshed_key(workspace)
    if force:
        cache.set(key, 1, DIRECTORY_REFRESH_SECONDS)
    elif not cache.add(key, 1, DIRECTORY_REFRESH_SECONDS):
        return None
    failure = channels.channels_refresh(workspace)
    if failure is not None and force:
        cache.delete(key)  # the page opened next tries again
    return failure


def _workspace_store(
    *, organization: Organization, user: User, fields: dict[str, str]
) -> SlackWorkspace:
    """Create the organization's workspace, or give the same workspace its new token."""
    try:
        with transaction.atomic():
            bound = (
                SlackWorkspace.objects.select_for_update()
                .filter(team_id=fields["team_id"])
                .exclude(organization=organization)
                .exists()
            )
            if bound:
                raise InstallRefused(OTHER_ORGANIZATION)
            workspace = (
                SlackWorkspace.objects.select_for_update().filter(organization=organization).first()
            )
            if workspace is None:
                workspace = SlackWorkspace(organization=organization)
            elif workspace.team_id != fields["team_id"]:
                raise InstallRefused(OTHER_WORKSPACE.format(name=workspace))
            for name, value in fields.items():
                setattr(workspace, name, value)
            workspace.installed_by = user
            workspace.installed_at = timezone.now()
            # A new token: the old one's failure is history.
            workspace.last_error, workspace.last_error_at = "", None
            workspace.save()
    except IntegrityError as error:
        # Another install finished meanwhile: another organization's, or this one's (a tab).
        same_team = SlackWorkspace.objects.filter(team_id=fields["team_id"])
        if same_team.exclude(organization=organization).exists():
            raise InstallRefused(OTHER_ORGANIZATION) from error
        raise InstallRefused(SIMULTANEOUS) from error
    return workspace


def workspace_uninstall(*, workspace: SlackWorkspace) -> None:
    """Remove the app from the workspace (`apps.uninstall`; a refusal is logged, as the
    token may be dead already), then forget the workspace with its channels, links and
    messages."""
    try:
        slack_client(workspace.bot_token).apps_uninstall(
            client_id=settings.OPSDUTY_SLACK_CLIENT_ID,
            client_secret=settings.OPSDUTY_SLACK_CLIENT_SECRET,
        )
    except (SlackClientError, OSError) as error:
        logger.warning(
            "slack apps.uninstall of %s failed: %s", workspace.team_id, failure_of(error).message
        )
    _workspace_forget(workspace)


def _workspace_forget(workspace: SlackWorkspace) -> None:
    organization_id = workspace.organization_id
    with transaction.atomic():
        SlackWorkspace.objects.filter(pk=workspace.pk).delete()
    slack_selectors.slack_presence_forget(organization_id)


def _channel(workspace: SlackWorkspace, channel_id: str, field: str) -> SlackChannel:
    """The directory's channel `channel_id`, or a ValidationError at `field`."""
    channel = selectors.channel_get(workspace=workspace, channel_id=channel_id)
    if channel is None:
        raise ValidationError({field: "This channel is not in the workspace's channel list."})
    return channel


@transaction.atomic
def workspace_settings_update(
    *, workspace: SlackWorkspace, default_channel_id: str, thread_replies: bool
) -> SlackWorkspace:
    """The default channel (from the directory; "" for none) and whether timeline lines are
    thread replies under each incident message."""
    name = ""
    if default_channel_id:
        name = _channel(workspace, default_channel_id, "default_channel").name
    workspace.default_channel_id, workspace.default_channel_name = default_channel_id, name
    workspace.thread_replies = thread_replies
    workspace.save(update_fields=["default_channel_id", "default_channel_name", "thread_replies"])
    return workspace


@transaction.atomic
def service_channel_set(*, workspace: SlackWorkspace, service: Service, channel_id: str) -> str:
    """Post the service's incidents to the directory's channel `channel_id` ("" for the
    organization's default). Returns what the service now says: "#name" as people write it,
    or the id for a name too long for the field (Slack allows 80 characters, "#" makes 81)."""
    value = ""
    if channel_id:
        value = f"#{_channel(workspace, channel_id, 'channel').name}"
        if len(value) > SERVICE_CHANNEL_MAX:
            value = channel_id
    updated = Service.objects.filter(pk=service.pk, organization_id=workspace.organization_id)
    if updated.update(slack_channel=value) and value != service.slack_channel:
        # An UPDATE sends no model signal: the audit log is written here.
        changes = {"slack_channel": (service.slack_channel, value)}
        audit_record(instance=service, action="update", changes=changes)
        service.slack_channel = value
    return value


def event_receive(*, team_id: str, body: dict[str, Any]) -> None:
    """An Events API `event_callback` (seen for the first time): `app_uninstalled`, and
    `tokens_revoked` naming our bot user, forget the workspace (its token no longer works).
    Other events are ignored."""
    event = body.get("event")
    if not isinstance(event, dict):
        return
    workspace = slack_selectors.workspace_for_team(team_id)
    if workspace is None:
        return
    kind = event.get("type")
    if kind == "tokens_revoked":
        tokens = event.get("tokens")
        bots = tokens.get("bot") if isinstance(tokens, dict) else None
        if not isinstance(bots, list) or workspace.bot_user_id not in bots:
            return
    elif kind != "app_uninstalled":
        return
    logger.info("slack %s of %s: workspace forgotten", kind, team_id)
    _workspace_forget(workspace)


@transaction.atomic
def slack_rows_prune() -> int:
    """Delete expired install states and link requests, and event receipts older than a day
    (Slack stops retrying an event within the hour). Returns how many rows went."""
    now = timezone.now()
    states, _ = SlackInstallState.objects.filter(expires_at__lt=now).delete()
    requests, _ = SlackLinkRequest.objects.filter(expires_at__lt=now).delete()
    receipts, _ = SlackReceipt.objects.filter(created_at__lt=now - RECEIPT_TTL).delete()
    return states + requests + receipts
