"""Profile, Slack; the one-time account link. Included by opsduty/urls_ui.py. TO BE WRITTEN."""

from __future__ import annotations

urlpatterns: list[object] = []
