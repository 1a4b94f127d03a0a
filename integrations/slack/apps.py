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
