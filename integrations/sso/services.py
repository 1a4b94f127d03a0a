"""Writes of SSO: the settings (owners), and the one decision of who an identity from an
organization's IdP signs in as (docs/accounts.md, "Single sign-on (SSO)")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from allauth.socialaccount.models import SocialAccount
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from integrations.sso import metadata
from integrations.sso.models import Method, SsoSettings
from opsduty.audit import acting_update
from opsduty.live import live_notice
from opsduty.models import AuditChannel, Invitation, Organization, Role, User, normalize_email
from opsduty.services import team_add_member, user_create

REFUSED_NO_EMAIL = (
    "Your identity provider did not tell us your email address, so we cannot tell who you "
    "are here. Ask an owner of your organization to check the SSO set-up."
)
REFUSED_UNVERIFIED = (
    "Your identity provider says your email address is not verified. Verify it there, then "
    "sign in again."
)
REFUSED_INACTIVE = (
    "Your account in {org} is deactivated. Ask an owner of {org} to reactivate it or to invite "
    "you again."
)
REFUSED_NOT_MEMBER = (
    "You are not a member of {org} yet. Ask an owner of {org} to invite you, then sign in "
    "with SSO again."
)
REFUSED_CLOSED = "This organization was closed: nobody can sign in to it any more."
REFUSED_WRONG_WORKSPACE = (
    "You signed in with a Google account outside {domain}, the Google Workspace of {org}. "
    "Sign in with your {domain} account."
)
# A message, not a password.
PASSWORD_REFUSED = (
    "{org} signs in with single sign-on: use “Sign in with SSO” below with your work email "  # noqa: S105
    "or the organization domain. (Owners may still use their password.)"
)


class SsoRefused(Exception):
    """An identity the IdP vouched for may not sign in here; the message says why."""


@dataclass(frozen=True)
class Identity:
    """What an IdP said about the person, as allauth read it (signature already checked)."""

    provider_key: str  # allauth's provider id: saml-<domain> or google-<domain>
    uid: str
    email: str
    email_verified: bool
    first_name: str = ""
    last_name: str = ""
    linked_user_id: int | None = None  # an earlier sign-in linked this identity to a person


# --- Settings -------------------------------------------------------------------------------


def _email_domain_clean(value: str, organization: Organization) -> str:
    domain = value.strip().lower().lstrip("@")
    if not domain:
        return ""
    if "." not in domain or any(c in domain for c in " /@:"):
        raise ValidationError({"email_domain": "Give a domain such as acme.com."})
    taken = SsoSettings.objects.filter(email_domain=domain).exclude(organization=organization)
    if taken.exists():
        raise ValidationError(
            {"email_domain": f"Another organization signs in people of {domain} already."}
        )
    return domain


def _saml_apply(row: SsoSettings, values: dict[str, Any]) -> None:
    """The IdP from pasted metadata, else from the metadata URL (fetched now), else from the
    entity id, sign-in URL and certificate as typed."""
    xml = str(values.get("saml_metadata_xml") or "").strip()
    url = str(values.get("saml_metadata_url") or "").strip()
    try:
        if xml:
            idp = metadata.metadata_parse(xml)
        elif url:
            idp = metadata.metadata_fetch(url)
        else:
            idp = None
    except ValidationError as error:
        field = "saml_metadata_xml" if xml else "saml_metadata_url"
        raise ValidationError({field: error.messages}) from None
    row.saml_metadata_url = url
    if idp is not None:
        row.saml_entity_id, row.saml_sso_url, row.saml_x509cert = (
            idp.entity_id,
            idp.sso_url,
            idp.x509cert,
        )
        return
    row.saml_entity_id = str(values.get("saml_entity_id") or "").strip()
    row.saml_sso_url = str(values.get("saml_sso_url") or "").strip()
    cert = str(values.get("saml_x509cert") or "").strip()
    if cert:
        try:
            row.saml_x509cert = metadata.certificate_normalize(cert)
        except ValidationError as error:
            raise ValidationError({"saml_x509cert": error.messages}) from None


def _incomplete(row: SsoSettings) -> dict[str, str]:
    if row.method == Method.GOOGLE:
        return {
            name: message
            for name, message in (
                ("google_client_id", "Google Workspace needs the client ID."),
                ("google_client_secret", "Google Workspace needs the client secret."),
                ("email_domain", "Google Workspace needs your Workspace domain (the hd claim)."),
            )
            if not getattr(row, name)
        }
    if row.method == Method.SAML:
        return {
            name: message
            for name, message in (
                ("saml_entity_id", "SAML needs the IdP's entity id (or its metadata)."),
                ("saml_sso_url", "SAML needs the IdP's sign-in URL (or its metadata)."),
                ("saml_x509cert", "SAML needs the IdP's signing certificate (or its metadata)."),
            )
            if not getattr(row, name)
        }
    return {}


@transaction.atomic
def sso_settings_save(
    *, organization: Organization, by: User, values: dict[str, Any]
) -> SsoSettings:
    """Save the organization's SSO (owners only). A blank client secret keeps the stored one;
    SAML metadata is read and checked now; require-SSO needs a working method."""
    if not by.is_owner or by.organization_id != organization.pk:
        raise PermissionDenied("Only owners can set up single sign-on.")
    row, _ = SsoSettings.objects.select_for_update().get_or_create(organization=organization)
    row.method = str(values.get("method") or Method.OFF)
    row.email_domain = _email_domain_clean(str(values.get("email_domain") or ""), organization)
    row.google_client_id = str(values.get("google_client_id") or "").strip()
    secret = str(values.get("google_client_secret") or "").strip()
    if secret:
        row.google_client_secret = secret
    _saml_apply(row, values)
    row.require_sso = bool(values.get("require_sso"))
    row.jit_enabled = bool(values.get("jit_enabled"))
    row.jit_role = str(values.get("jit_role") or Role.MEMBER)
    if row.jit_role not in Role.values:
        raise ValidationError({"jit_role": "Choose owner, member or stakeholder."})
    errors = _incomplete(row)
    if errors:
        raise ValidationError(errors)
    if row.require_sso and row.method == Method.OFF:
        raise ValidationError(
            {"require_sso": "Choose Google Workspace or SAML before requiring SSO."}
        )
    row.updated_at = timezone.now()
    row.save()
    return row


# --- Sign-in --------------------------------------------------------------------------------


def password_sign_in_refusal(user: User) -> str | None:
    """Why `user`'s correct password may not sign them in (their organization requires SSO
    and they are not an owner: owners keep the password as break-glass), or None."""
    if user.is_owner:
        return None
    row = SsoSettings.objects.filter(organization_id=user.organization_id).first()
    if row is None or not row.require_sso or not row.active:
        return None
    return PASSWORD_REFUSED.format(org=user.organization.name)


def person_data_remove(user: User) -> None:
    """A deleted person's links to IdP identities (opsduty/services.py `user_delete`)."""
    SocialAccount.objects.filter(user=user).delete()


def _link(user: User, identity: Identity) -> None:
    SocialAccount.objects.update_or_create(
        provider=identity.provider_key, uid=identity.uid, defaults={"user": user}
    )


def _invitation_accept(invitation: Invitation, identity: Identity) -> User:
    """An open invitation accepted by signing in through SSO: the person gets its role and
    teams and no password (they sign in with SSO)."""
    locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
    user = user_create(
        organization=locked.organization,
        email=locked.email,
        password=None,
        role=locked.role,
        first_name=identity.first_name[:150],
        last_name=identity.last_name[:150],
    )
    for team in locked.teams.all():
        team_add_member(team=team, user=user, by=None)
    locked.accepted_at = timezone.now()
    locked.accepted_by = user
    locked.save(update_fields=["accepted_at", "accepted_by"])
    return user


def _waiting_invitation(organization: Organization, email: str) -> Invitation | None:
    for invitation in Invitation.objects.for_org(organization).filter(
        email=email, accepted_at=None, revoked_at=None
    ):
        if invitation.state() == "waiting":
            return invitation
    return None


@transaction.atomic
def sso_sign_in(*, sso: SsoSettings, identity: Identity) -> User:
    """The person of `sso`'s organization that `identity` signs in as, linked to it from now
    on: the person linked before; else the active person with its email; else a person made
    from an open invitation or, with just-in-time creation on, with the default role.
    SsoRefused otherwise (deactivated or deleted, not a member, no email)."""
    organization = sso.organization
    name = organization.name
    if organization.closed_at is not None:
        raise SsoRefused(REFUSED_CLOSED)
    # The audit log: a person made or linked here was made through SSO, not by whoever acted.
    method = "Google Workspace" if sso.method == Method.GOOGLE else "SAML"
    acting_update(actor_label=f"SSO ({method})", channel=AuditChannel.SSO)
    if identity.linked_user_id is not None:
        linked = User.objects.filter(pk=identity.linked_user_id, organization=organization).first()
        if linked is not None:
            if not linked.is_active or linked.deleted_at is not None:
                raise SsoRefused(REFUSED_INACTIVE.format(org=name))
            return linked
    email = normalize_email(identity.email or "")
    if not email:
        raise SsoRefused(REFUSED_NO_EMAIL)
    if not identity.email_verified:
        raise SsoRefused(REFUSED_UNVERIFIED)
    user = User.objects.for_org(organization).filter(email=email).first()
    if user is not None:
        if not user.is_active or user.deleted_at is not None:
            raise SsoRefused(REFUSED_INACTIVE.format(org=name))
    elif (invitation := _waiting_invitation(organization, email)) is not None:
        user = _invitation_accept(invitation, identity)
        live_notice(organization_id=organization.pk, access=True)
    elif sso.jit_enabled:
        user = user_create(
            organization=organization,
            email=email,
            password=None,
            role=sso.jit_role,
            first_name=identity.first_name[:150],
            last_name=identity.last_name[:150],
        )
        live_notice(organization_id=organization.pk, access=True)
    else:
        raise SsoRefused(REFUSED_NOT_MEMBER.format(org=name))
    _link(user, identity)
    return user
