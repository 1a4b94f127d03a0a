"""Reads: the installation of an organization or a workspace, who a Slack user is here, and
where an incident's message goes."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from django.conf import settings

from integrations.slack.models import SlackChannel, SlackUserLink, SlackWorkspace

if TYPE_CHECKING:
    from incidents.models import Incident

__all__ = [
    "channel_id_for_name",
    "link_for_slack_user",
    "organization_has_slack",
    "public_url",
    "service_channel_name",
    "slack_configured",
    "slack_presence_forget",
    "workspace_for_organization",
    "workspace_for_team",
]

# organization id -> (checked at, installed?): the incidents hook asks on every log line.
PRESENCE_TTL_SECONDS = 5.0
_presence: dict[int, tuple[float, bool]] = {}


def slack_configured() -> bool:
    """Whether this server has a Slack app (client id, secret and signing secret)."""
    return bool(
        settings.OPSDUTY_SLACK_CLIENT_ID
        and settings.OPSDUTY_SLACK_CLIENT_SECRET
        and settings.OPSDUTY_SLACK_SIGNING_SECRET
    )


def public_url(path: str) -> str:
    """`path` on this server's public address (`OPSDUTY_PUBLIC_URL`): links in messages."""
    return settings.OPSDUTY_PUBLIC_URL + path


def workspace_for_organization(organization_id: int) -> SlackWorkspace | None:
    return SlackWorkspace.objects.filter(organization_id=organization_id).first()


def workspace_for_team(team_id: str) -> SlackWorkspace | None:
    if not team_id:
        return None
    return SlackWorkspace.objects.select_related("organization").filter(team_id=team_id).first()


def organization_has_slack(organization_id: int) -> bool:
    """Whether the organization has a workspace, from a per-process memo of a few seconds (the
    incidents hook asks on every change; an install is seen by every process within
    PRESENCE_TTL_SECONDS, and at once by the process that made it)."""
    now = time.monotonic()
    known = _presence.get(organization_id)
    if known is not None and now - known[0] < PRESENCE_TTL_SECONDS:
        return known[1]
    present = SlackWorkspace.objects.filter(organization_id=organization_id).exists()
    _presence[organization_id] = (now, present)
    return present


def slack_presence_forget(organization_id: int | None = None) -> None:
    """Drop the memo (after an install or uninstall; tests)."""
    if organization_id is None:
        _presence.clear()
    else:
        _presence.pop(organization_id, None)


def link_for_slack_user(workspace: SlackWorkspace, slack_user_id: str) -> SlackUserLink | None:
    """The OpsDuty person bound to this Slack user of the workspace, if any (an inactive
    person counts as unlinked)."""
    return (
        SlackUserLink.objects.select_related("user", "user__organization")
        .filter(
            workspace=workspace,
            slack_user_id=slack_user_id,
            user__organization_id=workspace.organization_id,
            user__is_active=True,
        )
        .first()
    )


CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")


def service_channel_name(incident: Incident) -> str:
    """The service's own Slack channel as written on the service ("#name" or an id), bare."""
    return incident.service.slack_channel.strip().lstrip("#")


def channel_id_for_name(workspace: SlackWorkspace, name: str) -> str | None:
    """The id of the workspace's channel `name` (an id is its own answer), from the
    directory (None when unknown there)."""
    if CHANNEL_ID.match(name):
        return name
    return (
        SlackChannel.objects.filter(workspace=workspace, name=name.lower())
        .values_list("channel_id", flat=True)
        .first()
    )
