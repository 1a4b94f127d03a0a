"""Profile, Slack; the one-time account link. Included by opsduty/urls_ui.py."""

from __future__ import annotations

from django.urls import path

from integrations.slack.linking import views

urlpatterns = [
    path("profile/slack/", views.profile_slack, name="profile_slack"),
    path("profile/slack/unlink/", views.profile_slack_unlink, name="profile_slack_unlink"),
    path("slack/link/<str:token>/", views.slack_link, name="slack_link"),
]
