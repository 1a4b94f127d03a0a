"""Reads of SCIM provisioning. Every SCIM read of people and teams starts here, scoped to the
token's organization: a person or team of another organization is never in these sets."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from integrations.scim.models import ScimToken
from opsduty.models import Organization, Team, TeamMembership, User
from opsduty.tenancy import scoped


def scim_token_list(*, organization: Organization) -> QuerySet[ScimToken]:
    """The organization's SCIM tokens, newest first, with who created them."""
    return scoped(ScimToken, organization).select_related("created_by")


def scim_people(*, organization: Organization) -> QuerySet[User]:
    """The people SCIM sees: the organization's, not deleted, with identity and teams."""
    memberships = TeamMembership.objects.select_related("team").order_by("team__name", "team_id")
    return (
        scoped(User, organization)
        .filter(deleted_at=None)
        .select_related("scim_identity")
        .prefetch_related(Prefetch("memberships", queryset=memberships))
        .order_by("pk")
    )


def scim_teams(*, organization: Organization) -> QuerySet[Team]:
    """The teams SCIM sees (groups): the organization's, with their external id and people."""
    memberships = TeamMembership.objects.filter(user__deleted_at=None).order_by("user_id")
    return (
        scoped(Team, organization)
        .select_related("scim_group")
        .prefetch_related(Prefetch("memberships", queryset=memberships))
        .order_by("pk")
    )
