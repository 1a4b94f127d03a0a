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
        _audit_register()


def _audit_register() -> None:
    """The audit log (opsduty/audit.py): the account's settings, numbers and incoming-call
    destinations; not messages, calls or codes. The auth token is never recorded."""
    from integrations.twilio.models import CallDestination, TwilioAccount, TwilioNumber
    from opsduty.audit import audit_register

    audit_register(
        TwilioAccount,
        fields=[
            "account_sid",
            "auth_token",
            "webhook_key",
            "friendly_name",
            "sms_limit",
            "call_limit",
            "limit_window_minutes",
        ],
        masked=["auth_token", "webhook_key"],
    )
    audit_register(
        TwilioNumber,
        fields=["account", "sid", "phone_number", "friendly_name", "sms_enabled", "voice_enabled"],
    )
    audit_register(
        CallDestination,
        fields=["number", "digit", "service"],
        label=lambda d: f"{d.number}, key {d.digit}: {d.service.name}",
    )
