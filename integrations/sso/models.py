"""Single sign-on per organization (docs/accounts.md, "Single sign-on (SSO)"): one row of
settings per organization. Google Workspace is OpenID Connect (client id, secret encrypted at
rest, the Workspace domain the `hd` claim must name); SAML 2.0 is the IdP's entity id, sign-in
URL and signing certificate (from pasted metadata, a metadata URL read when saved, or typed).
The protocol flows are django-allauth's; who may sign in is ours (`adapters.py`)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from opsduty.crypto import EncryptedTextField
from opsduty.models import Role, TenantModel


class Method(models.TextChoices):
    OFF = "off", "Off"
    GOOGLE = "google", "Google Workspace (OpenID Connect)"
    SAML = "saml", "SAML 2.0 (Okta, Entra ID, any SAML IdP)"


class SsoSettings(TenantModel):
    """An organization's single sign-on: which method, its IdP, and the sign-in rules."""

    method = models.CharField(max_length=8, choices=Method.choices, default=Method.OFF)
    # The people's email domain (e.g. acme.com): the sign-in page finds the organization by
    # it, and Google's `hd` claim must equal it. Unique: one organization per domain.
    email_domain = models.CharField(max_length=253, blank=True, default="")
    google_client_id = models.CharField(max_length=255, blank=True, default="")
    google_client_secret = EncryptedTextField(blank=True, default="")
    saml_metadata_url = models.URLField(max_length=1000, blank=True, default="")
    saml_entity_id = models.CharField(max_length=1000, blank=True, default="")
    saml_sso_url = models.URLField(max_length=1000, blank=True, default="")
    saml_x509cert = models.TextField(blank=True, default="")
    require_sso = models.BooleanField(default=False)
    jit_enabled = models.BooleanField(default=False)
    jit_role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="one_sso_settings_per_org"),
            models.UniqueConstraint(
                fields=["email_domain"],
                condition=~Q(email_domain=""),
                name="sso_email_domain_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"SSO of organization {self.organization_id}: {self.method}"

    @property
    def google_ready(self) -> bool:
        return bool(self.google_client_id and self.google_client_secret and self.email_domain)

    @property
    def saml_ready(self) -> bool:
        return bool(self.saml_entity_id and self.saml_sso_url and self.saml_x509cert)

    @property
    def active(self) -> bool:
        """SSO is on and its method has everything it needs."""
        if self.method == Method.GOOGLE:
            return self.google_ready
        if self.method == Method.SAML:
            return self.saml_ready
        return False
