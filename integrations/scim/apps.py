from __future__ import annotations

from django.apps import AppConfig


class ScimConfig(AppConfig):
    name = "integrations.scim"
    label = "scim"
    verbose_name = "SCIM provisioning"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from integrations.scim import views
        from integrations.scim.services import person_data_remove
        from opsduty.navigation import settings_page_register
        from opsduty.services import person_remover_register

        # The core names no integration: our page joins its navigation here.
        settings_page_register(views.SETTINGS_PAGE)
        # A deleted person's SCIM identity (their IdP user name) goes with their other data.
        person_remover_register(person_data_remove)
