"""Reads of the tenancy core; every selector takes the organization explicitly."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from opsduty.models import Organization, Team, User
from opsduty.tenancy import scoped


def user_list(*, organization: Organization) -> QuerySet[User]:
    """Members of the organization, oldest first."""
    return scoped(User, organization).order_by("id")


def team_list(*, organization: Organization) -> QuerySet[Team]:
    """Teams of the organization with their member counts, by name."""
    return scoped(Team, organization).annotate(member_count=Count("memberships")).order_by("name")


def team_members(*, team: Team) -> QuerySet[User]:
    """Members of one team, by email."""
    return User.objects.filter(memberships__team=team).order_by("email")
