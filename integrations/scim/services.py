"""Writes of SCIM provisioning: tokens and settings (the owners' page), and the people and
teams an identity provider provisions. People and teams change through the core's services
(`user_create`, `user_deactivate`, `user_reactivate`, `user_delete`, `team_*`) with
`by=None`, the system: the last active owner and person rules hold for SCIM as for owners."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import EmailValidator
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integrations.scim.models import SCIM_VALUE_MAX, ScimGroup, ScimIdentity, ScimToken
from integrations.scim.selectors import VISIBLE
from opsduty import services as core
from opsduty.crypto import secret_digest
from opsduty.models import Organization, Role, Team, TeamMembership, User, normalize_email

# Tokens start with this, so a leaked one is recognised (by people and secret scanners).
TOKEN_PREFIX = "scim_"  # noqa: S105 - a prefix, not a secret
LAST_USED_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedScimToken:
    """A new SCIM token and its raw value, which exists only here: show it once."""

    token: ScimToken
    raw: str = field(repr=False)


def _require_owner(by: User, organization: Organization) -> None:
    if not by.is_owner or by.organization_id != organization.pk:
        raise PermissionDenied("Only owners can manage SCIM provisioning.")


@transaction.atomic
def scim_token_issue(*, organization: Organization, by: User) -> IssuedScimToken:
    """Create the organization's SCIM bearer token (owners), or rotate it: the one before
    stops working in the same transaction. Only the new token's digest is kept."""
    _require_owner(by, organization)
    # The organization's row locked: two rotations at once end with one token, not an error.
    Organization.objects.select_for_update().filter(pk=organization.pk).first()
    ScimToken.objects.for_org(organization).delete()
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ScimToken.objects.create(
        organization=organization, token_hash=secret_digest(raw), created_by=by
    )
    return IssuedScimToken(token=token, raw=raw)


@transaction.atomic
def scim_token_revoke(*, organization: Organization, by: User) -> bool:
    """Revoke the organization's SCIM token (owners): the next request with it answers 401.
    False when there was none."""
    _require_owner(by, organization)
    deleted, _ = ScimToken.objects.for_org(organization).delete()
    return deleted > 0


def scim_token_authenticate(*, raw: str, now: datetime | None = None) -> ScimToken | None:
    """The token of an `Authorization: Bearer` value, of an organization that is not
    closed; None for anything else. Records its use, at most once a minute."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    token = (
        ScimToken.objects.select_related("organization")
        .filter(token_hash=secret_digest(raw), organization__closed_at=None)
        .first()
    )
    if token is None:
        return None
    now = now or timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        stale = Q(last_used_at=None) | Q(last_used_at__lte=now - LAST_USED_PRECISION)
        ScimToken.objects.filter(stale, pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def person_data_remove(user: User) -> None:
    """A deleted person's SCIM identity goes (registered with `person_remover_register`)."""
    ScimIdentity.objects.filter(user=user).delete()


# --- People -------------------------------------------------------------------------------


class ScimConflict(Exception):
    """A value that must be unique is taken (SCIM answers 409, scimType uniqueness)."""


@dataclass
class PersonInput:
    """A person as the identity provider describes them (SCIM User, already parsed)."""

    user_name: str
    email: str
    first_name: str = ""
    last_name: str = ""
    display_name: str = ""
    external_id: str = ""
    emails: list[dict[str, Any]] = field(default_factory=list)
    active: bool | None = None


def _email_checked(email: str) -> str:
    address = normalize_email(email)
    try:
        EmailValidator()(address)
    except ValidationError:
        raise ValidationError(f"{email!r} is not an email address.") from None
    return address


def _values_checked(data: PersonInput) -> None:
    for value in (data.user_name, data.external_id, data.display_name):
        if len(value) > SCIM_VALUE_MAX:
            raise ValidationError(f"A value is longer than {SCIM_VALUE_MAX} characters.")
    for value in (data.first_name, data.last_name):
        if len(value) > 150:
            raise ValidationError("A name is longer than 150 characters.")


def _identity_save(user: User, data: PersonInput) -> None:
    ScimIdentity.objects.update_or_create(
        user=user,
        defaults={
            "organization_id": user.organization_id,
            "user_name": data.user_name,
            "external_id": data.external_id,
            "display_name": data.display_name,
            "emails": data.emails,
            "deprovisioned_at": None,
        },
    )


@transaction.atomic
def scim_person_create(*, organization: Organization, data: PersonInput) -> User:
    """Create a person, role member, with no password (docs/accounts.md: they cannot sign in
    with a password until one is set). An address in use answers ScimConflict, except the
    address of a person the provider deleted (deprovisioned) before: they come back."""
    _values_checked(data)
    email = _email_checked(data.email)
    existing = User.objects.for_org(organization).filter(email=email).first()
    if existing is not None:
        gone = ScimIdentity.objects.filter(user=existing, deprovisioned_at__isnull=False)
        if existing.deleted_at is None and gone.exists():
            return scim_person_update(user=existing, data=data, returning=True)
        raise ScimConflict(f"{email} is already a person of this organization.")
    user = core.user_create(
        organization=organization,
        email=email,
        password=None,
        role=Role.MEMBER,
        first_name=data.first_name.strip(),
        last_name=data.last_name.strip(),
    )
    _identity_save(user, data)
    if data.active is False:
        core.user_deactivate(user=user, by=None)
    return user


@transaction.atomic
def scim_person_update(*, user: User, data: PersonInput, returning: bool = False) -> User:
    """Apply the identity provider's description of an existing person: address, name,
    identity, and active (through `user_deactivate` / `user_reactivate`, whose rules hold:
    the last active owner or person stays, with a ValidationError). `returning`: a person
    it deprovisioned is provisioned again (active unless the description says otherwise)."""
    _values_checked(data)
    if returning:
        data = replace(data, active=data.active is not False)
    user = User.objects.select_for_update().get(pk=user.pk)
    email = _email_checked(data.email)
    if email != user.email:
        taken = User.objects.for_org(user.organization).filter(email=email).exclude(pk=user.pk)
        if taken.exists():
            raise ScimConflict(f"{email} is already a person of this organization.")
        user.email = email
        user.save(update_fields=["email"])
    first, last = data.first_name.strip(), data.last_name.strip()
    if (first, last) != (user.first_name, user.last_name):
        core.user_update_profile(
            user=user, first_name=first, last_name=last, phone_number=user.phone_number
        )
    _identity_save(user, data)
    if data.active is False and user.is_active:
        core.user_deactivate(user=user, by=None)
    elif data.active is True and not user.is_active:
        core.user_reactivate(user=user, by=None)
    return user


@transaction.atomic
def scim_person_delete(*, user: User) -> None:
    """Deprovision the person, as PagerDuty and Grafana OnCall do: deactivated through
    `user_deactivate` (sessions and tokens end, no sign-in, no paging; the last active owner
    stays), and hidden from SCIM from now on. Their account, teams and history stay; owners
    reactivate or delete them on /members/."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.is_active:
        core.user_deactivate(user=user, by=None)
    now = timezone.now()
    if not ScimIdentity.objects.filter(user=user).update(deprovisioned_at=now):
        ScimIdentity.objects.create(
            organization_id=user.organization_id,
            user=user,
            user_name=user.email,
            deprovisioned_at=now,
        )


# --- Teams (SCIM groups) --------------------------------------------------------------------


@dataclass
class TeamInput:
    """A team as the identity provider describes it (SCIM Group, already parsed)."""

    name: str
    external_id: str = ""
    member_ids: list[int] | None = None  # None: leave the members as they are


def _members_checked(organization: Organization, ids: Iterable[int]) -> list[User]:
    """The people of `organization` with these ids; any other id is refused."""
    wanted = set(ids)
    people = list(User.objects.for_org(organization).filter(VISIBLE, pk__in=wanted).order_by("pk"))
    missing = wanted - {person.pk for person in people}
    if missing:
        listed = ", ".join(str(pk) for pk in sorted(missing))
        raise ValidationError(f"No person of this organization has the id {listed}.")
    return people


def _team_name_checked(organization: Organization, name: str, team: Team | None) -> str:
    name = name.strip()
    if not name:
        raise ValidationError("A group needs a displayName.")
    if len(name) > 100:
        raise ValidationError("A group's displayName may be at most 100 characters.")
    taken = Team.objects.for_org(organization).filter(name=name)
    if team is not None:
        taken = taken.exclude(pk=team.pk)
    if taken.exists():
        raise ScimConflict(f"A team called {name!r} exists already.")
    if len(name) > SCIM_VALUE_MAX:
        raise ValidationError("Too long.")
    return name


def _team_members_set(team: Team, people: list[User]) -> None:
    wanted = {person.pk: person for person in people}
    # Only the members SCIM sees: a deprovisioned person stays in their teams until an owner
    # removes or deletes them.
    current = set(
        TeamMembership.objects.filter(team=team, user__in=User.objects.filter(VISIBLE)).values_list(
            "user_id", flat=True
        )
    )
    for person_id in sorted(set(wanted) - current):
        core.team_add_member(team=team, user=wanted[person_id], by=None)
    for user in User.objects.filter(pk__in=current - set(wanted)).order_by("pk"):
        core.team_remove_member(team=team, user=user, by=None)


@transaction.atomic
def scim_team_create(*, organization: Organization, data: TeamInput) -> Team:
    """Create a team with its members (people of the organization only)."""
    name = _team_name_checked(organization, data.name, None)
    people = _members_checked(organization, data.member_ids or [])
    team = core.team_create(organization=organization, name=name, by=None)
    ScimGroup.objects.create(organization=organization, team=team, external_id=data.external_id)
    _team_members_set(team, people)
    return team


@transaction.atomic
def scim_team_update(*, team: Team, data: TeamInput) -> Team:
    """Rename the team, keep its external id and (unless None) set its members."""
    team = Team.objects.select_for_update().get(pk=team.pk)
    name = _team_name_checked(team.organization, data.name, team)
    if name != team.name:
        team.name = name
        team.save(update_fields=["name"])
    ScimGroup.objects.update_or_create(
        team=team,
        defaults={"organization_id": team.organization_id, "external_id": data.external_id},
    )
    if data.member_ids is not None:
        _team_members_set(team, _members_checked(team.organization, data.member_ids))
    return team


@transaction.atomic
def scim_team_delete(*, team: Team) -> None:
    """Delete the team through `team_delete` (refused while it owns services or rules)."""
    core.team_delete(team=team, by=None)
