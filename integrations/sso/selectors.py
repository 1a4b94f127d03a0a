"""Reads of the SSO settings."""

from __future__ import annotations

from integrations.sso.models import SsoSettings
from opsduty.models import Organization


def sso_settings_get(*, organization: Organization) -> SsoSettings | None:
    """The organization's SSO settings row, if it has one."""
    return SsoSettings.objects.for_org(organization).first()


def sso_settings_for_key(key: str) -> SsoSettings | None:
    """The SSO settings of the organization named by a provider key (`saml-<domain>`,
    `google-<domain>`) or by its bare domain; None for anything else."""
    domain = key.split("-", 1)[1] if key.startswith(("saml-", "google-")) else key
    return (
        SsoSettings.objects.select_related("organization")
        .filter(organization__domain=domain, organization__closed_at=None)
        .first()
    )


def sso_settings_for_sign_in(who: str) -> SsoSettings | None:
    """The active SSO of the organization a person named on the sign-in page: by the domain
    of their work email (`ines@acme.com`) or by the organization's domain (`acme`)."""
    who = who.strip().lower()
    if "@" in who:
        found = (
            SsoSettings.objects.select_related("organization")
            .filter(email_domain=who.rsplit("@", 1)[1], organization__closed_at=None)
            .first()
        )
    else:
        found = sso_settings_for_key(who) if who else None
    return found if found is not None and found.active else None


def sso_active(organization: Organization) -> bool:
    """Whether the organization's people can sign in through its SSO now."""
    found = sso_settings_get(organization=organization)
    return found is not None and found.active
