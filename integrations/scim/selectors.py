"""Reads of SCIM provisioning. Every SCIM read of people and teams starts here, scoped to the
token's organization: a person or team of another organization is never in these sets."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from integrations.scim.models import ScimToken
from opsduty.models import Organization, Team, TeamMembership, User
from opsduty.tenancy import scoped

# The people SCIM sees (of an organization already chosen): not deleted, not deprovisioned.
VISIBLE = Q(deleted_at=None) & (Q(scim_identity=None) | Q(scim_identity__deprovisioned_at=None))
_visible_members = Q(user__deleted_at=None) & (
    Q(user__scim_identity=None) | Q(user__scim_identity__deprovisioned_at=None)
)


def scim_token_get(*, organization: Organization) -> ScimToken | None:
    """The organization's SCIM token (at most one), with who created it."""
    return scoped(ScimToken, organization).select_related("created_by").first()


def scim_people(*, organization: Organization) -> QuerySet[User]:
    """The people SCIM sees: the organization's, neither deleted nor deprovisioned by the
    identity provider, with identity and teams."""
    memberships = TeamMembership.objects.select_related("team").order_by("team__name", "team_id")
    return (
        scoped(User, organization)
        .filter(VISIBLE)
        .select_related("scim_identity")
        .prefetch_related(Prefetch("memberships", queryset=memberships))
        .order_by("pk")
    )


def scim_teams(*, organization: Organization) -> QuerySet[Team]:
    """The teams SCIM sees (groups): the organization's, with their external id and people."""
    memberships = TeamMembership.objects.filter(_visible_members).order_by("user_id")
    return (
        scoped(Team, organization)
        .select_related("scim_group")
        .prefetch_related(Prefetch("memberships", queryset=memberships))
        .order_by("pk")
    )
