from __future__ import annotations

from django.apps import AppConfig


class TwilioConfig(AppConfig):
    name = "integrations.twilio"
    label = "twilio"
    verbose_name = "Twilio"
    default_auto_field = "django.db.models.BigAutoField"
