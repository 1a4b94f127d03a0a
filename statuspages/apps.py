from __future__ import annotations

from django.apps import AppConfig


class StatusPagesConfig(AppConfig):
    name = "statuspages"
    verbose_name = "Status pages"
    default_auto_field = "django.db.models.BigAutoField"
