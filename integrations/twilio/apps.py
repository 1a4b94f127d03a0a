from __future__ import annotations

from django.apps import AppConfig


class TwilioConfig(AppConfig):
    name = "integrations.twilio"
    label = "twilio"
    verbose_name = "Twilio"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from integrations.twilio.setup import views as setup_views
        from integrations.twilio.verification import views as verification_views
        from opsduty.navigation import settings_page_register
        from opsduty.views.profile import profile_section_register

        # The core names no integration: our pages join its navigation and profile here.
        settings_page_register(setup_views.SETTINGS_PAGE)
        profile_section_register(verification_views.PROFILE_SECTION)
