"""Answers to a person in Slack after the 3-second acknowledgement: through the request's
`response_url` (slack_sdk's WebhookClient), or an ephemeral message in a channel."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackClientError
from slack_sdk.webhook import WebhookClient

from integrations.slack.client import slack_client
from integrations.slack.errors import failure_of
from integrations.slack.models import SlackWorkspace

__all__ = ["ephemeral_post", "response_post"]

logger = logging.getLogger(__name__)


def response_post(
    response_url: str,
    text: str,
    *,
    blocks: list[dict[str, Any]] | None = None,
    in_channel: bool = False,
    replace_original: bool = False,
) -> bool:
    """Answer through a `response_url` (ephemeral unless `in_channel`); False if it failed."""
    if not response_url:
        return False
    try:
        response = WebhookClient(response_url, timeout=10).send(
            text=text,
            blocks=blocks,
            response_type="in_channel" if in_channel else "ephemeral",
            replace_original=replace_original,
        )
    except OSError as error:
        logger.warning("slack response_url unreachable: %s", error)
        return False
    if response.status_code != 200:
        logger.warning("slack response_url answered %s", response.status_code)
        return False
    return True


def ephemeral_post(
    workspace: SlackWorkspace,
    *,
    channel: str,
    user: str,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
) -> bool:
    """An ephemeral message to `user` in `channel` (only they see it); False if it failed."""
    try:
        slack_client(workspace.bot_token).chat_postEphemeral(
            channel=channel, user=user, text=text, blocks=blocks
        )
    except (SlackClientError, OSError) as error:
        logger.warning("slack ephemeral not posted: %s", failure_of(error).message)
        return False
    return True
