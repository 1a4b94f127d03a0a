"""Reads of escalation policies and their steps.

Visibility follows services: owners see every policy of the organization, everyone else the
policies of their teams; another organization's (or an invisible team's) id answers 404.
"""

from __future__ import annotations

from django.db.models import Count, Prefetch, QuerySet

from escalations.models import EscalationPolicy, EscalationStep
from opsduty.models import Role, Team, User
from opsduty.tenancy import get_for_org_or_404, scoped


def policy_visible_list(*, user: User) -> QuerySet[EscalationPolicy]:
    """Policies the user can see: all of the organization for owners, else their teams'."""
    policies = scoped(EscalationPolicy, user.organization)
    if user.is_owner:
        return policies
    return policies.filter(team__in=user.teams.all())


def policy_list(*, user: User) -> QuerySet[EscalationPolicy]:
    """Visible policies with their team and numbers of steps and services, by name."""
    return (
        policy_visible_list(user=user)
        .select_related("team")
        .annotate(
            step_count=Count("steps", distinct=True),
            service_count=Count("services", distinct=True),
        )
        .order_by("name", "id")
    )


def _steps_queryset() -> QuerySet[EscalationStep]:
    return EscalationStep.objects.order_by("position", "id").prefetch_related("users", "teams")


def policy_get(*, user: User, policy_id: int) -> EscalationPolicy:
    """One visible policy with its ordered steps and their targets prefetched, or 404."""
    policies = policy_visible_list(user=user).select_related("team")
    return get_for_org_or_404(
        policies.prefetch_related(Prefetch("steps", queryset=_steps_queryset())),
        user.organization,
        pk=policy_id,
    )


def policy_steps(policy: EscalationPolicy) -> list[EscalationStep]:
    """The policy's steps in order, users and teams prefetched (what the engine walks)."""
    return list(_steps_queryset().filter(organization_id=policy.organization_id, policy=policy))


def step_get(*, user: User, step_id: int) -> EscalationStep:
    """One step of a visible policy, or 404."""
    steps = EscalationStep.objects.filter(policy__in=policy_visible_list(user=user))
    return get_for_org_or_404(
        steps.select_related("policy", "policy__team").prefetch_related("users", "teams"),
        user.organization,
        pk=step_id,
    )


def policy_choices_for_team(*, team: Team) -> QuerySet[EscalationPolicy]:
    """The policies a service of `team` may use."""
    return scoped(EscalationPolicy, team.organization).filter(team=team).order_by("name", "id")


def policy_manageable_teams(*, user: User) -> QuerySet[Team]:
    """Teams whose policies the user may create or manage (owners: all; members: theirs)."""
    teams = scoped(Team, user.organization).order_by("name")
    if user.is_owner:
        return teams
    if user.role != Role.MEMBER:
        return teams.none()
    return teams.filter(memberships__user=user)
