"""Settings, Slack (owners). TO BE WRITTEN."""

from __future__ import annotations

from opsduty.navigation import SettingsPage

ACTIVE = "slack_settings"
SETTINGS_PAGE = SettingsPage(label="Slack", url_name="slack_settings", active=ACTIVE)
