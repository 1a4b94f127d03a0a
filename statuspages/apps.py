from __future__ import annotations

from django.apps import AppConfig


class StatusPagesConfig(AppConfig):
    name = "statuspages"
    verbose_name = "Status pages"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from statuspages.events import announcement_register
        from statuspages.subscribers.services import announcement_mail

        # Subscribers are mailed about what the page announces (statuspages/subscribers/).
        announcement_register(announcement_mail)
