"""Reads of the tenancy core; every selector takes the organization explicitly."""

from __future__ import annotations

from django.db.models import Count, QuerySet
from django.http import Http404
from oauth2_provider.models import Application

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


def application_list(*, organization: Organization) -> QuerySet[Application]:
    """OAuth2 applications created by users of `organization`, newest first."""
    if not isinstance(organization, Organization):
        raise TypeError("application_list() needs an Organization")
    applications: QuerySet[Application] = (
        Application.objects.filter(user__organization=organization)
        .select_related("user")
        .order_by("-created", "-id")
    )
    return applications


def application_get_or_404(*, organization: Organization, application_id: int) -> Application:
    """One application of `organization`; the same 404 for missing and foreign ids."""
    application = application_list(organization=organization).filter(pk=application_id).first()
    if application is None:
        raise Http404("Not found.")
    return application
