"""What Slack calls (no session, no CSRF: each view checks Slack's signature). Included by
opsduty/urls.py; the pages (settings, account link) are in setup/urls.py and linking/urls.py."""

from __future__ import annotations

from django.urls import path

from integrations.slack import views

urlpatterns = [
    path("integrations/slack/commands/", views.slack_commands, name="slack_commands"),
    path("integrations/slack/interactions/", views.slack_interactions, name="slack_interactions"),
    path("integrations/slack/events/", views.slack_events, name="slack_events"),
]
