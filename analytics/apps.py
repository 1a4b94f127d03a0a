from __future__ import annotations

from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        from analytics.services import incident_line
        from incidents.hooks import log_subscribe

        # Facts and rollups change in the transaction of each incident change (switched off
        # only to measure what that costs: bench/README.md).
        if settings.OPSDUTY_ANALYTICS_UPKEEP:
            log_subscribe(incident_line)
