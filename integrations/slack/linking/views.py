"""Profile, Slack: the one-time link that binds a Slack user, and unlinking. TO BE WRITTEN."""

from __future__ import annotations

from opsduty.views.profile import ProfileSection

PROFILE_SECTION = ProfileSection(label="Slack", url_name="profile_slack")
