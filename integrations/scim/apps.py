from __future__ import annotations

from django.apps import AppConfig


class ScimConfig(AppConfig):
    name = "integrations.scim"
    label = "scim"
    verbose_name = "SCIM provisioning"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from integrations.scim import views
        from integrations.scim.models import ScimToken
        from integrations.scim.services import person_data_remove
        from opsduty.audit import audit_register
        from opsduty.services import person_remover_register
        from opsduty.views.organization import organization_section_register

        # The core names no integration: the token's section joins its settings page here.
        organization_section_register(views.SECTION)
        # A deleted person's SCIM identity (their IdP user name) goes with their other data.
        person_remover_register(person_data_remove)
        # The audit log: the token's creation, rotation and revocation (never its value); what
        # the identity provider changes is recorded as "SCIM" (integrations/scim/auth.py).
        audit_register(
            ScimToken,
            fields=["token_hash", "created_by"],
            masked=["token_hash"],
            label=lambda token: "SCIM token",
            kind="SCIM token",
        )
