from __future__ import annotations

from django.apps import AppConfig


class SsoConfig(AppConfig):
    name = "integrations.sso"
    label = "sso"
    verbose_name = "Single sign-on"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from integrations.sso import views
        from integrations.sso.models import SsoSettings
        from integrations.sso.selectors import sso_active
        from integrations.sso.services import password_sign_in_refusal, person_data_remove
        from opsduty.audit import audit_register
        from opsduty.auth import password_sign_in_check_register
        from opsduty.navigation import organization_link_register, settings_page_register
        from opsduty.services import person_remover_register
        from opsduty.views.auth import login_section_register

        # The core names no integration: our page joins its navigation and the sign-in page
        # gets the "Sign in with SSO" form here.
        settings_page_register(views.SETTINGS_PAGE)
        organization_link_register(views.SETTINGS_PAGE)
        login_section_register("integrations/sso/_login_sso.html", applies=sso_active)
        # "Require SSO": a member's right password is refused (owners keep it: break-glass).
        password_sign_in_check_register(password_sign_in_refusal)
        # A deleted person's links to identities at the IdP go with their other data.
        person_remover_register(person_data_remove)
        # The audit log: every change of the organization's SSO settings (the secret hidden).
        audit_register(
            SsoSettings,
            fields=[
                "method",
                "email_domain",
                "google_client_id",
                "google_client_secret",
                "saml_metadata_url",
                "saml_entity_id",
                "saml_sso_url",
                "saml_x509cert",
                "require_sso",
                "jit_enabled",
                "jit_role",
            ],
            masked=["google_client_secret"],
            label=lambda row: "Single sign-on",
            kind="SSO settings",
        )
