"""Reads of escalation policies and their steps.

Visibility follows services: owners see every policy of the organization, everyone else the
policies of their teams; another organization's (or an invisible team's) id answers 404.
"""

from __future__ import annotations

import time

from django.db.models import Count, Prefetch, QuerySet

from escalations.models import EscalationPolicy, EscalationStep
from opsduty.models import Team, User
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
    return (
        EscalationStep.objects.order_by("position", "id")
        .select_related("schedule")
        .prefetch_related("users", "teams")
    )


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


# The engine reads a policy's steps for every incident it opens; they change rarely. Writes
# in `policy_services` forget the policy on commit; other processes see a change within
# STEPS_CACHE_SECONDS.
STEPS_CACHE_SECONDS = 5.0
_steps_cache: dict[int, tuple[float, list[EscalationStep]]] = {}


def policy_steps_cached(policy_id: int) -> list[EscalationStep] | None:
    """`policy_steps` of a policy by id, cached briefly per process (None: no such policy)."""
    hit = _steps_cache.get(policy_id)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    policy = EscalationPolicy.objects.filter(pk=policy_id).first()
    if policy is None:
        return None
    steps = policy_steps(policy)
    _steps_cache[policy_id] = (time.monotonic() + STEPS_CACHE_SECONDS, steps)
    return steps


def policy_steps_forget(policy_id: int | None = None) -> None:
    """Drop cached steps (of one policy, or all)."""
    if policy_id is None:
        _steps_cache.clear()
    else:
        _steps_cache.pop(policy_id, None)


def step_get(*, user: User, step_id: int) -> EscalationStep:
    """One step of a visible policy, or 404."""
    steps = EscalationStep.objects.filter(policy__in=policy_visible_list(user=user))
    return get_for_org_or_404(
        steps.select_related("policy", "policy__team", "schedule").prefetch_related(
            "users", "teams"
        ),
        user.organization,
        pk=step_id,
    )


def policy_choices_for_team(*, team: Team) -> QuerySet[EscalationPolicy]:
    """The policies a service of `team` may use."""
    return scoped(EscalationPolicy, team.organization).filter(team=team).order_by("name", "id")
