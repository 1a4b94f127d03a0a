"""Install (OAuth v2), channels, uninstall, and the events that end an installation. TO BE
WRITTEN."""

from __future__ import annotations

from typing import Any


def event_receive(*, team_id: str, body: dict[str, Any]) -> None:
    """An Events API `event_callback` (seen for the first time): `app_uninstalled` and
    `tokens_revoked` clear the workspace's installation."""
