from __future__ import annotations

from django.apps import AppConfig


class SlackConfig(AppConfig):
    name = "integrations.slack"
    label = "slack"
    verbose_name = "Slack"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from incidents.hooks import log_subscribe
        from integrations.slack.linking import views as linking_views
        from integrations.slack.linking.services import person_data_remove
        from integrations.slack.messages.services import incident_touched
        from integrations.slack.setup import views as setup_views
        from opsduty.navigation import settings_page_register
        from opsduty.services import person_remover_register
        from opsduty.views.profile import profile_section_register

        # The core names no integration: our pages join its navigation and profile here.
        settings_page_register(setup_views.SETTINGS_PAGE)
        profile_section_register(linking_views.PROFILE_SECTION)
        # Every incident change re-renders its Slack messages (after the commit).
        log_subscribe(incident_touched)
        # A deleted person's link to their Slack user goes with their other data.
        person_remover_register(person_data_remove)
        _audit_register()


def _audit_register() -> None:
    """The audit log (opsduty/audit.py): the workspace's settings and people's links; not
    its channel directory, messages or receipts. The bot token is never recorded."""
    from integrations.slack.models import SlackUserLink, SlackWorkspace
    from opsduty.audit import audit_register, person_label

    audit_register(
        SlackWorkspace,
        fields=[
            "team_id",
            "team_name",
            "bot_token",
            "installed_by",
            "default_channel_id",
            "default_channel_name",
            "thread_replies",
        ],
        masked=["bot_token"],
        label=lambda workspace: f"Slack workspace {workspace}",
    )
    audit_register(
        SlackUserLink,
        fields=["user", "workspace", "slack_user_id", "slack_name"],
        label=lambda link: f"Slack link of {person_label(link.user)}",
    )
