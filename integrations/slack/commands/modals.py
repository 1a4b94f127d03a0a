"""The trigger modal (`/trigger`, the "Create incident from message" shortcut) and its
submission. TO BE WRITTEN."""

from __future__ import annotations

from typing import Any

from integrations.slack.models import SlackWorkspace


def view_submission_receive(
    *, workspace: SlackWorkspace, payload: dict[str, Any]
) -> dict[str, Any] | None:
    """A modal was submitted: per-field errors (`response_action: errors`) or None (close)."""
    return None


def shortcut_receive(
    *, workspace: SlackWorkspace, payload: dict[str, Any]
) -> dict[str, Any] | None:
    """A message shortcut: open the trigger modal prefilled from the message (at once)."""
    return None
