"""Settings -> Slack (owners); included by opsduty/urls_ui.py. Int kwargs: `service_id`
(registered in the tenancy walk, tests/opsduty/test_tenancy_walk.py). The OAuth callback is
the redirect URL of docs/slack-app-manifest.yml."""

from __future__ import annotations

from django.urls import path

from integrations.slack.setup import views

urlpatterns = [
    path("settings/slack/", views.slack_settings, name="slack_settings"),
    path("settings/slack/install/", views.install_start, name="slack_install"),
    path("settings/slack/oauth/callback/", views.oauth_callback, name="slack_oauth_callback"),
    path("settings/slack/channels/", views.settings_update, name="slack_settings_update"),
    path(
        "settings/slack/channels/refresh/",
        views.channels_refresh,
        name="slack_channels_refresh",
    ),
    path(
        "settings/slack/services/<int:service_id>/channel/",
        views.service_channel_update,
        name="slack_service_channel",
    ),
    path("settings/slack/uninstall/", views.uninstall, name="slack_uninstall"),
]
