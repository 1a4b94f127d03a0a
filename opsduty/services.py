"""Writes of the tenancy core. Views, API, commands and tasks all change state through here."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from auditlog.context import disable_auditlog
from django.apps import apps as django_apps
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.core.validators import EmailValidator
from django.db import models, transaction
from django.db.models import ProtectedError, Q
from django.utils import timezone
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import AccessToken, Application, set_token_value
from oauthlib.common import generate_token

from opsduty import audit
from opsduty.crypto import secret_digest
from opsduty.live import live_notice
from opsduty.models import (
    API_TOKEN_NAME_MAX,
    EMAIL_CHANGE_HOURS,
    INVITATION_DAYS,
    ApiToken,
    EmailChange,
    Invitation,
    Label,
    Organization,
    Role,
    Team,
    TeamMembership,
    User,
    normalize_email,
)
from opsduty.phones import phone_normalize
from opsduty.queue import enqueue_or_sweep
from opsduty.selectors import team_manageable_list, timezone_names
from opsduty.timebounds import LATEST, RANGE_MESSAGE, datetime_in_range


@transaction.atomic
def organization_create(*, name: str, domain: str) -> Organization:
    """Create an organization; `domain` is what its users type at sign-in."""
    organization = Organization(name=name.strip(), domain=domain.strip().lower())
    organization.full_clean()
    organization.save()
    return organization


TIME_ZONE_MESSAGE = "Choose a time zone from the list, e.g. Europe/Oslo."


@transaction.atomic
def organization_set_time_zone(*, organization: Organization, time_zone: str, by: User) -> bool:
    """Set the organization's time zone (owners only; an IANA name); whether it changed.
    Its analytics count days in it: the caller rebuilds them (the core imports no app)."""
    if not by.is_owner or by.organization_id != organization.pk:
        raise PermissionDenied("Only owners can set the organization's time zone.")
    if time_zone not in timezone_names():
        raise ValidationError({"time_zone": TIME_ZONE_MESSAGE})
    locked = Organization.objects.select_for_update().get(pk=organization.pk)
    if locked.time_zone == time_zone:
        return False
    locked.time_zone = organization.time_zone = time_zone
    locked.save(update_fields=["time_zone"])
    return True


@transaction.atomic
def user_create(
    *,
    organization: Organization,
    email: str,
    password: str | None,
    role: str = Role.MEMBER,
    first_name: str = "",
    last_name: str = "",
    phone_number: str = "",
) -> User:
    """Create a user in `organization`; the password must pass Django's validators."""
    user = User(
        organization=organization,
        email=normalize_email(email),
        role=role,
        first_name=first_name,
        last_name=last_name,
        phone_number=phone_number,
    )
    if password is not None:
        validate_password(password, user)
    user.set_password(password)
    user.full_clean(exclude=["password"])
    if User.objects.for_org(organization).filter(email=user.email).exists():
        raise ValidationError({"email": "A user with this email already exists here."})
    user.save()
    return user


@transaction.atomic
def user_set_role(*, user: User, role: str, by: User) -> User:
    """Change a user's role (owners only); at least one active owner always remains."""
    if not by.is_owner or by.organization_id != user.organization_id:
        raise PermissionDenied("Only owners can change roles.")
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    # Lock the organization's owners so two concurrent demotions cannot both pass the check.
    owners = list(
        User.objects.for_org(user.organization)
        .filter(role=Role.OWNER, is_active=True)
        .select_for_update()
        .values_list("id", flat=True)
    )
    if user.role == Role.OWNER and role != Role.OWNER and owners == [user.id]:
        raise ValidationError("The organization must keep at least one owner.")
    user.role = role
    user.save(update_fields=["role"])
    live_notice(organization_id=user.organization_id, access=True)
    return user


@transaction.atomic
def user_update_profile(
    *, user: User, first_name: str, last_name: str, phone_number: str, time_zone: str | None = None
) -> User:
    """Update the user's own name, phone number (E.164; a new number must be verified again
    before SMS or voice use it) and time zone (an IANA name; blank: the organization's;
    None: unchanged)."""
    if time_zone and time_zone not in timezone_names():
        raise ValidationError({"time_zone": TIME_ZONE_MESSAGE})
    user.first_name = first_name.strip()
    user.last_name = last_name.strip()
    if time_zone is not None:
        user.time_zone = time_zone
    try:
        number = phone_normalize(phone_number)
    except ValidationError as error:
        raise ValidationError({"phone_number": error.messages}) from error
    if number != user.phone_number:
        user.phone_verified_at = None
        user.sms_stopped_at = None
    user.phone_number = number
    user.full_clean(exclude=["password"])
    user.save(
        update_fields=[
            "first_name",
            "last_name",
            "phone_number",
            "phone_verified_at",
            "sms_stopped_at",
            "time_zone",
        ]
    )
    return user


@transaction.atomic
def user_sign_out_everywhere(*, user: User) -> None:
    """Invalidate every session of the user (the session hash includes `session_salt`)."""
    user.session_salt = secrets.token_hex(16)
    user.save(update_fields=["session_salt"])
    live_notice(organization_id=user.organization_id, access=True)


def can_manage_team(user: User, team: Team) -> bool:
    """Whether `team` is one of `team_manageable_list` (the one rule: owners manage every
    team, members the teams they belong to); owners are answered without a query."""
    if user.organization_id != team.organization_id:
        return False
    if user.is_owner:
        return True
    return team_manageable_list(user=user).filter(pk=team.pk).exists()


@transaction.atomic
def team_create(*, organization: Organization, name: str, by: User | None) -> Team:
    """Create a team (owners only; `by=None` means the system: provisioning)."""
    if by is not None and (not by.is_owner or by.organization_id != organization.id):
        raise PermissionDenied("Only owners can create teams.")
    team = Team(organization=organization, name=name.strip())
    team.full_clean()
    team.save()
    return team


@transaction.atomic
def team_delete(*, team: Team, by: User | None) -> None:
    """Delete a team (owners only; `by=None`: the system); refused while it owns services or
    routing rules."""
    if by is not None and (not by.is_owner or by.organization_id != team.organization_id):
        raise PermissionDenied("Only owners can delete teams.")
    live_notice(organization_id=team.organization_id, access=True, oncall=True)
    try:
        with transaction.atomic():
            team.delete()
    except ProtectedError as error:
        kinds = sorted({str(obj._meta.verbose_name_plural) for obj in error.protected_objects})
        raise ValidationError(
            f"This team still owns {' and '.join(kinds)}; move or delete them first."
        ) from None


@transaction.atomic
def team_add_member(*, team: Team, user: User, by: User | None) -> TeamMembership:
    """Add `user` to `team` (idempotent); `by=None` means the system (seed, provisioning)."""
    if by is not None and not can_manage_team(by, team):
        raise PermissionDenied("You cannot manage this team.")
    if user.organization_id != team.organization_id:
        raise ValidationError("The user belongs to another organization.")
    membership, _ = TeamMembership.objects.get_or_create(
        team=team, user=user, defaults={"organization_id": team.organization_id}
    )
    live_notice(organization_id=team.organization_id, access=True, oncall=True)
    return membership


@transaction.atomic
def team_remove_member(*, team: Team, user: User, by: User | None) -> None:
    """Remove `user` from `team`; `by=None` means the system (provisioning)."""
    if by is not None and not can_manage_team(by, team):
        raise PermissionDenied("You cannot manage this team.")
    TeamMembership.objects.filter(team=team, user=user).delete()
    live_notice(organization_id=team.organization_id, access=True, oncall=True)


def sessions_clear_expired() -> int:
    """Delete expired sessions and login-failure records older than the cool-off."""
    from axes.models import AccessAttempt

    expired, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    cooloff: timedelta = settings.AXES_COOLOFF_TIME
    AccessAttempt.objects.filter(attempt_time__lt=timezone.now() - cooloff).delete()
    return expired


API_ACCESS_APPLICATION_NAME = "API tokens"
API_TOKEN_SCOPES = ("api", "api:v1")
CLI_TOKEN_NAME = "CLI"  # noqa: S105 - the default name of a token, not a secret
# A token "without expiry" expires at the end of the time OpsDuty accepts (2100-01-01 UTC):
# django-oauth-toolkit needs an expiry (no expiry reads as expired), and a bounded one keeps
# every date computation on it safe (opsduty/timebounds.py).
NEVER_EXPIRES = LATEST
# A token's last use is written at most this often: the API's hot path stays read-only.
LAST_USED_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedToken:
    """A new personal token and its raw value, which exists only here: show it once."""

    token: ApiToken
    raw: str = field(repr=False)


def _token_application(user: User) -> Application:
    """The user's own "API tokens" application, created on first use."""
    # Lock the user so two concurrent first calls do not create two applications.
    User.objects.select_for_update().filter(pk=user.pk).first()
    applications = Application.objects.filter(user=user, name=API_ACCESS_APPLICATION_NAME)
    application = applications.order_by("id").first()
    if application is None:
        application = Application.objects.create(
            user=user,
            name=API_ACCESS_APPLICATION_NAME,
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            redirect_uris="http://127.0.0.1/",
        )
    return application


MAX_API_TOKENS = 50  # unexpired personal tokens per person


def _token_errors(name: str, scope: str, expires: datetime | None) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Enter a name, e.g. what will use the token."
    elif len(name) > API_TOKEN_NAME_MAX:
        errors["name"] = f"The name may be at most {API_TOKEN_NAME_MAX} characters."
    if scope not in API_TOKEN_SCOPES:
        errors["scope"] = f"Unknown scope {scope!r}: use 'api' or 'api:v1'."
    if expires is not None:
        if timezone.is_naive(expires):
            errors["expires"] = "The expiry needs a time zone."
        elif not datetime_in_range(expires):
            errors["expires"] = RANGE_MESSAGE
        elif expires <= timezone.now():
            errors["expires"] = "The expiry must be in the future."
    return errors


@transaction.atomic
def api_token_issue(
    *, user: User, name: str, scope: str = "api:v1", expires: datetime | None = None
) -> IssuedToken:
    """Issue a named personal API token for `user`; `expires=None` means it never expires.

    The token hangs off the user's own confidential "API tokens" OAuth2 application. Only
    its checksum is stored (COMPLIANT_BCP_RFC9700_TOKEN_STORAGE), so the raw value in the
    result is the only copy: show it once, never log it.
    """
    name = name.strip()
    errors = _token_errors(name, scope, expires)
    if errors:
        raise ValidationError(errors)
    # Locked, so two requests at once cannot both take the last free place.
    User.objects.select_for_update().filter(pk=user.pk).first()
    live = ApiToken.objects.filter(user=user, access_token__expires__gt=timezone.now()).count()
    if live >= MAX_API_TOKENS:
        raise ValidationError(
            f"You have {live} tokens that have not expired, the most one person may have: "
            "revoke one you no longer use first.",
            code="too_many_tokens",
        )
    access_token = AccessToken(
        user=user,
        application=_token_application(user),
        scope=scope,
        expires=NEVER_EXPIRES if expires is None else expires,
    )
    raw = str(generate_token())
    set_token_value(access_token, raw)
    access_token.save()
    token = ApiToken.objects.create(
        organization_id=user.organization_id,
        user=user,
        access_token=access_token,
        name=name,
        created_at=access_token.created,
    )
    return IssuedToken(token=token, raw=raw)


def api_token_create(*, user: User, scope: str = "api:v1", name: str = CLI_TOKEN_NAME) -> str:
    """Issue a personal token that lasts OAUTH2_PROVIDER["ACCESS_TOKEN_EXPIRE_SECONDS"] (two
    years), as `manage.py create_api_token` does by default; return the raw bearer value."""
    lifetime = timedelta(seconds=settings.OAUTH2_PROVIDER["ACCESS_TOKEN_EXPIRE_SECONDS"])
    expires = timezone.now() + lifetime
    return api_token_issue(user=user, name=name, scope=scope, expires=expires).raw


@transaction.atomic
def api_token_revoke(*, token: ApiToken, by: User) -> None:
    """Revoke a personal token: its own user, or an owner of its organization.

    Deleting the AccessToken (django-oauth-toolkit's `revoke`) deletes the ApiToken row
    too; the next request with the token answers 401.
    """
    if by.organization_id != token.organization_id:
        raise PermissionDenied("This token belongs to another organization.")
    if token.user_id != by.pk and not by.is_owner:
        raise PermissionDenied("Only owners can revoke other people's tokens.")
    token.access_token.revoke()


def api_token_touch(*, access_token: AccessToken, now: datetime) -> None:
    """Record that a personal token was just used, at most once a minute.

    Expects `access_token.api_token` to be loaded with the token (opsduty/api/oauth.py), so
    a request within the minute costs no query. The UPDATE's condition keeps concurrent
    requests from writing more than once.
    """
    try:
        token: ApiToken = access_token.api_token
    except ObjectDoesNotExist:
        return  # an OAuth2 application's token: no personal token row
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_PRECISION:
        return
    stale = Q(last_used_at=None) | Q(last_used_at__lte=now - LAST_USED_PRECISION)
    ApiToken.objects.filter(stale, pk=token.pk).update(last_used_at=now)


@transaction.atomic
def application_create(
    *, by: User, name: str, redirect_uris: str, client_type: str
) -> tuple[Application, str]:
    """Register an authorization-code (PKCE) client; returns it with its raw secret.

    DOT hashes `client_secret` on save, so the raw value exists only in this return value:
    show it once and never store it.
    """
    if not by.is_owner:
        raise PermissionDenied("Only owners can create OAuth2 applications.")
    raw_secret: str = generate_client_secret()
    application = Application(
        user=by,
        name=name.strip(),
        redirect_uris=redirect_uris,
        client_type=client_type,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        client_secret=raw_secret,
        hash_client_secret=True,
        skip_authorization=False,
    )
    application.full_clean()
    application.save()
    return application, raw_secret


@transaction.atomic
def application_delete(*, application: Application, by: User) -> None:
    """Delete an application (owners of its organization); its tokens go with it."""
    if not by.is_owner or application.user is None:
        raise PermissionDenied("Only owners can delete OAuth2 applications.")
    if application.user.organization_id != by.organization_id:
        raise PermissionDenied("This application belongs to another organization.")
    application.delete()


@transaction.atomic
def user_change_password(*, user: User, new_password: str) -> User:
    """Set a new password (validated); every session but the caller's current one ends.

    The session hash covers the password hash, so other sessions fail their next check; the
    view keeps its own session with `update_session_auth_hash`.
    """
    validate_password(new_password, user)
    user.set_password(new_password)
    user.save(update_fields=["password"])
    live_notice(organization_id=user.organization_id, access=True)
    return user


# --- Invitations (docs/accounts.md) ----------------------------------------------------------

INVITE_PATH = "/invitations/{token}/"


def _invitation_mail(invitation: Invitation, token: str, by: User) -> None:
    """Send the invitation's link after the commit (a rolled-back invitation sends nothing)."""
    organization = invitation.organization
    link = settings.OPSDUTY_PUBLIC_URL.rstrip("/") + INVITE_PATH.format(token=token)
    expires = invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    body = "\n".join(
        [
            f"{by.get_full_name()} invited you to {organization.name} on OpsDuty, as"
            f" {invitation.get_role_display().lower()}.",
            "",
            f"Accept the invitation and set your password: {link}",
            "",
            f"The link works once, until {expires}. Afterwards you sign in at"
            f" {settings.OPSDUTY_PUBLIC_URL.rstrip('/')}/login/ with the organization"
            f" {organization.domain} and the address {invitation.email}.",
            "",
            "If you did not expect this, ignore this message: nothing happens without you.",
        ]
    )
    subject = f"{by.get_full_name()} invited you to {organization.name} on OpsDuty"
    address = invitation.email
    transaction.on_commit(lambda: send_mail(subject, body, None, [address]))


def _invitation_link(invitation: Invitation) -> str:
    """A fresh link for `invitation`: its hash stored, its expiry INVITATION_DAYS away."""
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    invitation.token_hash = secret_digest(token)
    invitation.sent_at = now
    invitation.expires_at = now + timedelta(days=INVITATION_DAYS)
    return token


@transaction.atomic
def invitation_create(
    *, organization: Organization, email: str, role: str, teams: list[Team], by: User
) -> Invitation:
    """Invite `email` into the organization with `role` and `teams` (owners), and mail the
    link. An address that is a member already, or that has an invitation waiting, is
    refused with a message saying so."""
    if not by.is_owner or by.organization_id != organization.pk:
        raise PermissionDenied("Only owners can invite people.")
    address = normalize_email(email)
    try:
        EmailValidator()(address)
    except ValidationError:
        raise ValidationError({"email": "Enter a valid email address."}) from None
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    if any(team.organization_id != organization.pk for team in teams):
        raise ValidationError({"teams": "Choose teams of your organization."})
    if User.objects.for_org(organization).filter(email=address).exists():
        raise ValidationError({"email": f"{address} is already a member of {organization.name}."})
    waiting = Invitation.objects.for_org(organization).filter(
        email=address, accepted_at=None, revoked_at=None
    )
    if waiting.filter(expires_at__gt=timezone.now()).exists():
        raise ValidationError(
            {"email": f"{address} has an invitation waiting: resend it from the list below."}
        )
    now = timezone.now()
    for expired in waiting:  # an expired one gives way to the new one (the audit log says so)
        audit.audit_record(instance=expired, action="update", changes={"revoked_at": (None, now)})
    waiting.update(revoked_at=now)
    invitation = Invitation(organization=organization, email=address, role=role, invited_by=by)
    token = _invitation_link(invitation)
    invitation.save()
    invitation.teams.set(teams)
    _invitation_mail(invitation, token, by)
    return invitation


def _waiting_locked(invitation: Invitation, by: User | None) -> Invitation:
    if by is not None and (not by.is_owner or by.organization_id != invitation.organization_id):
        raise PermissionDenied("Only owners can manage invitations.")
    locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if locked.accepted_at is not None:
        raise ValidationError(f"The invitation of {locked.email} was accepted already.")
    if locked.revoked_at is not None:
        raise ValidationError(f"The invitation of {locked.email} was revoked.")
    return locked


@transaction.atomic
def invitation_resend(*, invitation: Invitation, by: User) -> Invitation:
    """Mail a new link, valid INVITATION_DAYS from now; the old link stops working."""
    locked = _waiting_locked(invitation, by)
    token = _invitation_link(locked)
    locked.save(update_fields=["token_hash", "sent_at", "expires_at"])
    _invitation_mail(locked, token, by)
    return locked


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, by: User) -> Invitation:
    """The link stops working at once."""
    locked = _waiting_locked(invitation, by)
    locked.revoked_at = timezone.now()
    locked.save(update_fields=["revoked_at"])
    return locked


INVITATION_REFUSED = {
    "used": "This invitation was used already: sign in with the address it was sent to.",
    "revoked": "This invitation was withdrawn. Ask an owner of the organization for a new one.",
    "expired": "This invitation has expired. Ask an owner of the organization to send it again.",
    "unknown": "This invitation link is not valid: it may have been replaced by a newer one."
    " Use the link of the latest invitation you received.",
}


class InvitationRefused(Exception):
    """The link is not waiting any more (or never was); `str()` says why, for the person."""


def invitation_for_token(token: str) -> Invitation | None:
    """The invitation a link's token stands for, whatever its state (None: no such link)."""
    return (
        Invitation.objects.select_related("organization", "invited_by")
        .filter(token_hash=secret_digest(token))
        .first()
    )


@transaction.atomic
def invitation_accept(*, token: str, first_name: str, last_name: str, password: str) -> User:
    """Create the invited person with the invitation's role and teams; the link is then
    used. A link that is not waiting any more raises InvitationRefused with the reason; a
    password the validators refuse, ValidationError on `password`."""
    found = invitation_for_token(token)
    if found is None:
        raise InvitationRefused(INVITATION_REFUSED["unknown"])
    invitation = Invitation.objects.select_for_update().get(pk=found.pk)
    state = invitation.state()
    if state != "waiting":
        raise InvitationRefused(INVITATION_REFUSED[state])
    try:
        user = user_create(
            organization=found.organization,
            email=invitation.email,
            password=password,
            role=invitation.role,
            first_name=first_name.strip(),
            last_name=last_name.strip(),
        )
    except ValidationError as error:
        if hasattr(error, "error_dict"):
            raise
        raise ValidationError({"password": error.messages}) from None
    with audit.acting_as(user):
        for team in invitation.teams.all():
            team_add_member(team=team, user=user, by=None)
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
    live_notice(organization_id=user.organization_id, access=True)
    return user


# --- Email change (docs/accounts.md) -------------------------------------------------------

EMAIL_CONFIRM_PATH = "/email-change/{token}/"


@transaction.atomic
def email_change_request(*, user: User, new_email: str, password: str) -> EmailChange:
    """Ask to use `new_email` (the current password proves it is the person): a link to
    confirm goes to the new address, a notice to the old one. Nothing changes until the
    link is followed, within EMAIL_CHANGE_HOURS; a newer request replaces an older one."""
    if not user.check_password(password):
        raise ValidationError({"password": "This is not your current password."})
    address = normalize_email(new_email)
    try:
        EmailValidator()(address)
    except ValidationError:
        raise ValidationError({"new_email": "Enter a valid email address."}) from None
    if address == user.email:
        raise ValidationError({"new_email": "This is your address already."})
    if User.objects.for_org(user.organization).filter(email=address).exists():
        raise ValidationError({"new_email": "Another person here uses this address."})
    EmailChange.objects.filter(user=user, confirmed_at=None).delete()
    token = secrets.token_urlsafe(32)
    change = EmailChange.objects.create(
        organization_id=user.organization_id,
        user=user,
        new_email=address,
        token_hash=secret_digest(token),
        expires_at=timezone.now() + timedelta(hours=EMAIL_CHANGE_HOURS),
    )
    base = settings.OPSDUTY_PUBLIC_URL.rstrip("/")
    link = base + EMAIL_CONFIRM_PATH.format(token=token)
    organization = user.organization.name
    confirm = (
        "Confirm your new address for OpsDuty",
        f"Someone signed in as {user.email} in {organization} asked to use this address"
        f" instead.\n\nConfirm it (the link works once, for {EMAIL_CHANGE_HOURS} hours):"
        f" {link}\n\nIf it was not you, ignore this message: nothing changes.",
        [address],
    )
    notice = (
        "Your OpsDuty address is about to change",
        f"Someone signed in as you in {organization} asked to use {address} instead of this"
        " address. It changes when the link mailed to the new address is followed.\n\nIf it"
        " was not you, change your password now and tell an owner of your organization.",
        [user.email],
    )
    for subject, body, to in (confirm, notice):
        transaction.on_commit(partial(send_mail, subject, body, None, to))
    return change


class EmailChangeRefused(Exception):
    """The confirmation link cannot be used; `str()` says why, for the person."""


EMAIL_CHANGE_REFUSED = {
    "unknown": "This link is not valid: it may have been replaced by a newer request.",
    "used": "This link was used already: the address is changed.",
    "expired": "This link has expired. Ask for the change again from your profile.",
}


def email_change_for_token(token: str) -> EmailChange | None:
    return (
        EmailChange.objects.select_related("user", "organization")
        .filter(token_hash=secret_digest(token))
        .first()
    )


def email_change_state(change: EmailChange | None) -> str:
    """waiting, or why the link cannot be used (a key of EMAIL_CHANGE_REFUSED)."""
    if change is None:
        return "unknown"
    if change.confirmed_at is not None:
        return "used"
    if change.expires_at <= timezone.now():
        return "expired"
    return "waiting"


@transaction.atomic
def email_change_confirm(*, token: str) -> User:
    """Use the new address of the request the link stands for. Refused (with the reason)
    when the link is unknown, used, expired, or the address was taken meanwhile."""
    found = email_change_for_token(token)
    change = None if found is None else EmailChange.objects.select_for_update().get(pk=found.pk)
    state = email_change_state(change)
    if change is None or state != "waiting":
        raise EmailChangeRefused(EMAIL_CHANGE_REFUSED[state])
    user = User.objects.select_for_update().get(pk=change.user_id)
    if User.objects.for_org(user.organization).filter(email=change.new_email).exists():
        raise EmailChangeRefused(f"{change.new_email} is used by another person here now.")
    with audit.acting_as(user):  # whoever followed the link, it is the person's change
        user.email = change.new_email
        user.save(update_fields=["email"])
        change.confirmed_at = timezone.now()
        change.save(update_fields=["confirmed_at"])
    return user


# --- Labels (docs/accounts.md) -----------------------------------------------------------

LABEL_NAME_MAX = 64
# Where an app keeps labels by name rather than by row (heartbeats: the API v1 sends names):
# told of a rename (new name) or a deletion (None) in the change's transaction.
LabelRenamer = Callable[[Label, str, str | None], None]
_label_renamers: list[LabelRenamer] = []


def label_renamer_register(renamer: LabelRenamer) -> None:
    if renamer not in _label_renamers:
        _label_renamers.append(renamer)


def can_manage_label(user: User, label: Label) -> bool:
    """Owners manage every label; members the labels of their teams."""
    if user.organization_id != label.organization_id:
        return False
    if user.is_owner:
        return True
    return label.team is not None and can_manage_team(user, label.team)


def _label_clean(label: Label) -> None:
    label.name, label.group = label.name.strip(), label.group.strip()
    errors: dict[str, str] = {}
    if not label.name or len(label.name) > LABEL_NAME_MAX:
        errors["name"] = f"A label name has 1 to {LABEL_NAME_MAX} characters."
    elif (
        Label.objects.filter(organization_id=label.organization_id, name__iexact=label.name)
        .exclude(pk=label.pk)
        .exists()
    ):
        errors["name"] = f"A label named “{label.name}” already exists."
    if len(label.group) > LABEL_NAME_MAX:
        errors["group"] = f"A group name has at most {LABEL_NAME_MAX} characters."
    try:
        Label._meta.get_field("color").run_validators(label.color)
    except ValidationError:
        errors["color"] = "Use a hex color like #ff8800."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def label_create(
    *,
    organization: Organization,
    by: User,
    name: str,
    color: str,
    group: str = "",
    team: Team | None = None,
) -> Label:
    """An organization label (owners) or a label of `team` (its managers)."""
    if team is None and not by.is_owner:
        raise PermissionDenied("Only owners create organization labels.")
    if team is not None and not can_manage_team(by, team):
        raise PermissionDenied("You do not manage this team.")
    label = Label(organization=organization, name=name, color=color, group=group, team=team)
    _label_clean(label)
    label.save()
    return label


@transaction.atomic
def label_update(*, label: Label, by: User, name: str, color: str, group: str) -> Label:
    """Rename, recolour or regroup a label; what carries it keeps it (by row, or renamed)."""
    if not can_manage_label(by, label):
        raise PermissionDenied("You cannot change this label.")
    old_name = label.name
    label.name, label.color, label.group = name, color, group
    _label_clean(label)
    label.save(update_fields=["name", "color", "group"])
    if label.name != old_name:
        for renamer in _label_renamers:
            renamer(label, old_name, label.name)
    return label


@transaction.atomic
def label_promote(*, label: Label, by: User) -> Label:
    """Make a team label an organization label (owners): usable on every team's resources."""
    if not by.is_owner or by.organization_id != label.organization_id:
        raise PermissionDenied("Only owners promote labels.")
    if label.team_id is None:
        raise ValidationError({"label": f"“{label.name}” is already an organization label."})
    label.team = None
    label.save(update_fields=["team"])
    return label


@transaction.atomic
def label_delete(*, label: Label, by: User) -> None:
    """Delete a label: it comes off every incident, service and heartbeat carrying it."""
    if not can_manage_label(by, label):
        raise PermissionDenied("You cannot delete this label.")
    for renamer in _label_renamers:
        renamer(label, label.name, None)
    label.delete()


def labels_check(
    *, organization: Organization, team_id: int | None, labels: list[Label]
) -> list[Label]:
    """The labels, if all may be carried by a resource of `team_id` (organization labels and
    that team's); otherwise a ValidationError naming the others."""
    foreign = [
        label.name
        for label in labels
        if label.organization_id != organization.pk
        or (label.team_id is not None and label.team_id != team_id)
    ]
    if foreign:
        raise ValidationError(
            {"labels": "Not a label of this team or the organization: " + ", ".join(foreign)}
        )
    return labels


def labels_by_name(
    *, organization: Organization, team_id: int | None, names: list[str], create: bool
) -> list[Label]:
    """The usable labels of these names (any case; repeats dropped, order kept). Unknown names
    are refused, or created as organization labels with `create` (the API v1's heartbeats,
    whose 0.0.x clients send free names, as alerts do)."""
    wanted: list[str] = []
    for given in names:
        name = given.strip()
        if not name or len(name) > LABEL_NAME_MAX:
            raise ValidationError({"labels": f"A label name has 1 to {LABEL_NAME_MAX} characters."})
        if name.casefold() not in {w.casefold() for w in wanted}:
            wanted.append(name)
    found = {
        label.name.casefold(): label
        for label in Label.objects.filter(organization=organization, name__in=wanted)
    }
    missing = [name for name in wanted if name.casefold() not in found]
    if missing:
        # Another case of an existing name: the existing label.
        for label in Label.objects.filter(organization=organization).filter(_iexact_any(missing)):
            found[label.name.casefold()] = label
        missing = [name for name in wanted if name.casefold() not in found]
    if missing and not create:
        raise ValidationError(
            {"labels": "No such label: " + ", ".join(missing) + ". Create it on the labels page."}
        )
    for name in missing:
        found[name.casefold()], _ = Label.objects.get_or_create(
            organization=organization, name=name
        )
    labels = [found[name.casefold()] for name in wanted]
    return labels_check(organization=organization, team_id=team_id, labels=labels)


def _iexact_any(names: list[str]) -> Q:
    query = Q()
    for name in names:
        query |= Q(name__iexact=name)
    return query


# --- People: deactivate, reactivate, delete (docs/accounts.md) ------------------------------

# Where a person is on duty (a schedule, an escalation step), as the apps that own those
# know it: each app registers a finder in its AppConfig.ready. The warning before a
# deactivation or deletion lists what they return.
DutyFinder = Callable[[User], list[str]]
_duty_finders: list[DutyFinder] = []
# What an app removes of a deleted person's data (their notification rules, calendar feeds,
# links to other services), in the deletion's transaction.
PersonRemover = Callable[[User], None]
_person_removers: list[PersonRemover] = []


def duty_finder_register(finder: DutyFinder) -> None:
    if finder not in _duty_finders:
        _duty_finders.append(finder)


def person_remover_register(remover: PersonRemover) -> None:
    if remover not in _person_removers:
        _person_removers.append(remover)


def user_duties(user: User) -> list[str]:
    """Where the person is on duty: the schedules and escalation steps that name them."""
    return [duty for finder in _duty_finders for duty in finder(user)]


def _removal_check(user: User, by: User | None, what: str) -> None:
    """Owners remove others (`by=None`: the system, provisioning); the last active owner and
    the last active person stay."""
    if by is not None and (not by.is_owner or by.organization_id != user.organization_id):
        raise PermissionDenied(f"Only owners can {what} people.")
    if by is not None and user.pk == by.pk:
        raise ValidationError(f"You cannot {what} yourself: ask another owner.")
    # The other active people, their rows locked: two owners removing each other wait.
    active = User.objects.for_org(user.organization).filter(is_active=True).exclude(pk=user.pk)
    others = dict(active.select_for_update().values_list("pk", "role"))
    if not others:
        raise ValidationError("The organization must keep at least one person.")
    if user.role == Role.OWNER and user.is_active and Role.OWNER not in others.values():
        raise ValidationError("The organization must keep at least one owner.")


def _credentials_end(user: User) -> None:
    """End every session and API token of the person."""
    user.session_salt = secrets.token_hex(16)
    AccessToken.objects.filter(user=user).delete()  # their ApiToken rows go with them


@transaction.atomic
def user_deactivate(*, user: User, by: User | None) -> User:
    """The person can no longer sign in, use a token or be paged; their account, teams and
    duties stay (a schedule shift or a step that named only them pages nobody: diagnostics
    shows it). Reactivate undoes it."""
    _removal_check(user, by, "deactivate")
    user.is_active = False
    _credentials_end(user)
    user.save(update_fields=["is_active", "session_salt"])
    live_notice(organization_id=user.organization_id, access=True, oncall=True)
    return user


@transaction.atomic
def user_reactivate(*, user: User, by: User | None) -> User:
    """The person can sign in and be paged again (`by=None`: the system, provisioning)."""
    if by is not None and (not by.is_owner or by.organization_id != user.organization_id):
        raise PermissionDenied("Only owners can reactivate people.")
    if user.deleted_at is not None:
        raise ValidationError("A deleted person cannot come back: invite them again.")
    user.is_active = True
    user.save(update_fields=["is_active"])
    live_notice(organization_id=user.organization_id, access=True, oncall=True)
    return user


@transaction.atomic
def user_delete(*, user: User, by: User | None) -> User:
    """Delete the person's personal data: their name, address, phone and password, teams,
    sessions, tokens, and what the apps keep of them. The row stays, deactivated, so that
    incidents, timelines and analytics still name "a deleted user"."""
    _removal_check(user, by, "delete")
    personal = audit.person_values(user)
    for remover in _person_removers:
        remover(user)
    TeamMembership.objects.filter(user=user).delete()
    Invitation.objects.filter(accepted_by=user).update(email=f"deleted-{user.pk}@deleted.invalid")
    _credentials_end(user)
    was_active = user.is_active
    user.first_name = user.last_name = user.phone_number = ""
    user.email = f"deleted-{user.pk}@deleted.invalid"
    user.phone_verified_at = None
    user.is_active = False
    user.deleted_at = timezone.now()
    user.set_unusable_password()
    # Recorded by hand: the automatic entry would keep the old address and names.
    with disable_auditlog():
        user.save()
    removed = {name: (audit.REMOVED, "") for name in ("email", "first_name", "last_name")}
    audit.audit_record(
        instance=user,
        action="update",
        changes={
            **removed,
            "is_active": (was_active, False),
            "deleted_at": (None, user.deleted_at),
        },
    )
    # Last, when every row of theirs that an entry names is gone: the entries keep what
    # happened and say "a deleted user" (every address, name and phone they had is removed).
    audit.person_audit_scrub(user, personal)
    live_notice(organization_id=user.organization_id, access=True, oncall=True)
    return user


# --- The organization: rename, close (docs/accounts.md) -------------------------------------

# What must be done before an organization can be closed, as the apps know it (registered
# in their AppConfig.ready): each check returns the reasons it is not yet possible.
CloseCheck = Callable[[Organization], list[str]]
_close_checks: list[CloseCheck] = []


def organization_close_check_register(check: CloseCheck) -> None:
    if check not in _close_checks:
        _close_checks.append(check)


def organization_close_blockers(organization: Organization) -> list[str]:
    return [reason for check in _close_checks for reason in check(organization)]


@transaction.atomic
def organization_rename(*, organization: Organization, name: str, by: User) -> Organization:
    if not by.is_owner or by.organization_id != organization.pk:
        raise PermissionDenied("Only owners can rename the organization.")
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the organization a name."})
    if len(name) > 200:
        raise ValidationError({"name": "At most 200 characters."})
    organization.name = name
    organization.save(update_fields=["name"])
    return organization


@transaction.atomic
def organization_close(
    *, organization: Organization, by: User, typed_domain: str, password: str
) -> Organization:
    """Close the organization for good: every session and token ends, nobody signs in or is
    paged any more, and its data is deleted in the background (`organization_purge`).
    Refused while a check says it is not possible yet, without the organization's domain
    typed out, or without the owner's password."""
    if not by.is_owner or by.organization_id != organization.pk:
        raise PermissionDenied("Only owners can close the organization.")
    locked = Organization.objects.select_for_update().get(pk=organization.pk)
    if locked.closed_at is not None:
        raise ValidationError("The organization is closed already.")
    blockers = organization_close_blockers(locked)
    if blockers:
        raise ValidationError(blockers)
    if typed_domain.strip().lower() != locked.domain:
        raise ValidationError({"typed_domain": f"Type {locked.domain} to confirm."})
    if not by.check_password(password):
        raise ValidationError({"password": "This is not your current password."})
    locked.closed_at = timezone.now()
    locked.save(update_fields=["closed_at"])
    people = User.objects.for_org(locked)
    # No entry per person: closing is recorded on the organization (closed_at), and the
    # purge deletes every entry with the rest of its rows.
    AccessToken.objects.filter(user__in=people).delete()
    # A new session salt signs everyone out (one shared value: it only has to change).
    people.update(session_salt=secrets.token_hex(16), is_active=False)
    transaction.on_commit(
        partial(enqueue_or_sweep, "opsduty.tasks.organization_purge", [locked.pk])
    )
    return locked


def _purge_order() -> list[type[models.Model]]:
    """Every model with an `organization`, each before the models it protects itself from
    (`on_delete=PROTECT`: an incident before its service, a service before its policy and
    team): deleting the organization in one go would stop at the first protected row. The
    core imports no app: the models come from the registry."""
    tenant = [
        model
        for model in django_apps.get_models()
        if any(f.name == "organization" and f.is_relation for f in model._meta.concrete_fields)
        and model is not Organization
    ]
    before: dict[type[models.Model], set[type[models.Model]]] = {model: set() for model in tenant}
    for model in tenant:
        for column in model._meta.concrete_fields:
            target = column.related_model if column.is_relation else None
            protected = getattr(column.remote_field, "on_delete", None) is models.PROTECT
            if protected and target in before and target is not model:
                before[target].add(model)  # `model` goes first
    order: list[type[models.Model]] = []
    while before:
        ready = sorted((m for m, firsts in before.items() if not firsts), key=str)
        if not ready:
            raise RuntimeError(f"protected foreign keys in a cycle: {sorted(map(str, before))}")
        for model in ready:
            order.append(model)
            del before[model]
        for firsts in before.values():
            firsts.difference_update(ready)
    return order


@transaction.atomic
def organization_purge(organization_id: int) -> bool:
    """Delete a closed organization and everything it holds, model by model in the order of
    their protected foreign keys, then the organization (in one transaction)."""
    organization = (
        Organization.objects.select_for_update()
        .filter(pk=organization_id, closed_at__isnull=False)
        .first()
    )
    if organization is None:
        return False
    # Nothing is recorded: the audit log is deleted with the rest (an entry per deleted row
    # would be written into the organization being deleted).
    with disable_auditlog():
        for model in _purge_order():
            model._base_manager.filter(organization_id=organization_id).delete()
        organization.delete()
    return True


def organizations_purge_closed() -> int:
    """Purge the closed organizations still there; how many."""
    closed = list(Organization.objects.filter(closed_at__isnull=False).values_list("pk", flat=True))
    return sum(organization_purge(pk) for pk in closed)
