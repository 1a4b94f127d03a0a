"""Slash commands: `/opsduty help | account link | account unlink | incidents`, `/who
[service]`, `/trigger` (opens the trigger modal at once, modals.py). TO BE WRITTEN."""

from __future__ import annotations

from typing import Any

from integrations.slack.models import SlackWorkspace


def command_receive(*, workspace: SlackWorkspace, form: dict[str, str]) -> dict[str, Any] | None:
    """Answer a slash command within 3 s: an immediate JSON message, or None (empty 200) when
    the answer comes later through the `response_url` (work queued on Celery)."""
    return {"response_type": "ephemeral", "text": "Not yet."}
