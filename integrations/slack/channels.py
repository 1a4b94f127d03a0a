"""The workspace's channel directory (`conversations.list`), and where an incident's message
goes: its service's Slack channel (`Service.slack_channel`, "#name" or an id) or else the
workspace's default channel."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from slack_sdk.errors import SlackClientError

from integrations.slack import selectors
from integrations.slack.client import slack_client
from integrations.slack.errors import Failure, failure_of
from integrations.slack.models import SlackChannel, SlackWorkspace

if TYPE_CHECKING:
    from incidents.models import Incident

__all__ = ["channel_for_incident", "channels_refresh"]

logger = logging.getLogger(__name__)
PAGE_SIZE = 200
MAX_PAGES = 50
# A name that is not found refreshes the directory at most this often per workspace.
REFRESH_EVERY_SECONDS = 60


def channels_refresh(workspace: SlackWorkspace) -> Failure | None:
    """Replace the directory with Slack's list of public and private channels the app can
    see; the failure, if Slack refused (the directory is then left as it was)."""
    client = slack_client(workspace.bot_token)
    found: dict[str, tuple[str, bool]] = {}
    cursor = ""
    try:
        for _ in range(MAX_PAGES):
            answer = client.conversations_list(
                types="public_channel,private_channel",
                exclude_archived=True,
                limit=PAGE_SIZE,
                cursor=cursor or None,
            )
            for channel in answer.get("channels") or []:
                found[str(channel["id"])] = (
                    str(channel.get("name") or channel["id"]).lower(),
                    bool(channel.get("is_private")),
                )
            cursor = str((answer.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                break
    except (SlackClientError, OSError) as error:
        failure = failure_of(error)
        logger.warning("slack channels of %s not listed: %s", workspace.team_id, failure.message)
        return failure
    now = timezone.now()
    with transaction.atomic():
        SlackChannel.objects.filter(workspace=workspace).delete()
        SlackChannel.objects.bulk_create(
            SlackChannel(
                workspace=workspace,
                channel_id=channel_id,
                name=name,
                is_private=private,
                refreshed_at=now,
            )
            for channel_id, (name, private) in found.items()
        )
    return None


def channel_for_incident(workspace: SlackWorkspace, incident: Incident) -> str:
    """The channel id for the incident's message ("" when there is none to post to)."""
    name = selectors.service_channel_name(incident)
    if not name:
        return workspace.default_channel_id
    channel_id = selectors.channel_id_for_name(workspace, name)
    if channel_id is None and cache.add(
        f"slack:channels-refreshed:{workspace.pk}", 1, REFRESH_EVERY_SECONDS
    ):
        channels_refresh(workspace)
        channel_id = selectors.channel_id_for_name(workspace, name)
    if channel_id is None:
        logger.warning("slack channel #%s of service %s not found", name, incident.service_id)
        return workspace.default_channel_id
    return channel_id
