"""Reads for the owners' Diagnostics page: configurations that would miss notifications.

Every list is read in a fixed number of queries (targets prefetched), whatever the size of
the organization. "Pageable" is what the engine pages (`escalations.engine._targets`): an
active user who is not a stakeholder, named on the step or a member of a team on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Prefetch

from escalations.models import EscalationPolicy, EscalationStep, Service, StepKind
from escalations.notification_rules import ContactProblem, users_without_contact
from opsduty.models import Organization, Role, Team, User

NOTIFY_KINDS = (StepKind.NOTIFY, StepKind.NOTIFY_IF_EVENTS, StepKind.NOTIFY_IF_TIME)


@dataclass(frozen=True)
class UnreachableStep:
    """A notify step that pages nobody, and why."""

    step: EscalationStep
    reason: str

    @property
    def policy(self) -> EscalationPolicy:
        return self.step.policy


@dataclass(frozen=True)
class Diagnostics:
    """What the Diagnostics page lists; `unused_policies` is informational."""

    services_without_policy: list[Service]
    unreachable_steps: list[UnreachableStep]
    unused_policies: list[EscalationPolicy]
    users_without_contact: list[ContactProblem]

    @property
    def problem_count(self) -> int:
        """Findings that would miss a notification (not the informational ones)."""
        return (
            len(self.services_without_policy)
            + len(self.unreachable_steps)
            + len(self.users_without_contact)
        )


def _pageable(user: User) -> bool:
    return user.is_active and user.role != Role.STAKEHOLDER


def _unreachable_reason(step: EscalationStep) -> str | None:
    """Why the step pages nobody, or None when someone would be paged."""
    users = list(step.users.all())
    teams = list(step.teams.all())
    if any(_pageable(u) for u in users) or any(
        _pageable(u) for team in teams for u in team.members.all()
    ):
        return None
    reasons = []
    if users:
        reasons.append("its users are stakeholders or deactivated")
    if teams:
        names = ", ".join(team.name for team in teams)
        reasons.append(f"no pageable members in {names}")
    if step.schedule_id is not None:
        reasons.append("its schedule pages nobody yet (schedules arrive later)")
    if not reasons:
        return "it targets nobody"
    return "; ".join(reasons)


def unreachable_step_list(*, organization: Organization) -> list[UnreachableStep]:
    """Notify steps of the organization's policies that would page nobody, by policy."""
    members = User.objects.filter(is_active=True).only("id", "role", "is_active")
    steps = (
        EscalationStep.objects.for_org(organization)
        .filter(kind__in=NOTIFY_KINDS)
        .select_related("policy", "policy__team")
        .prefetch_related(
            Prefetch("users", queryset=User.objects.only("id", "role", "is_active")),
            Prefetch(
                "teams",
                queryset=Team.objects.prefetch_related(Prefetch("members", queryset=members)),
            ),
        )
        .order_by("policy__name", "policy_id", "position")
    )
    found = []
    for step in steps:
        reason = _unreachable_reason(step)
        if reason is not None:
            found.append(UnreachableStep(step=step, reason=reason))
    return found


def diagnostics_for(*, organization: Organization) -> Diagnostics:
    """Every diagnostics finding of one organization (bounded: about ten queries)."""
    services = (
        Service.objects.for_org(organization)
        .filter(escalation_policy__isnull=True)
        .select_related("team")
        .order_by("name")
    )
    used = Service.objects.filter(escalation_policy=OuterRef("pk"))
    unused = (
        EscalationPolicy.objects.for_org(organization)
        .filter(~Exists(used))
        .select_related("team")
        .order_by("name", "id")
    )
    return Diagnostics(
        services_without_policy=list(services),
        unreachable_steps=unreachable_step_list(organization=organization),
        unused_policies=list(unused),
        users_without_contact=users_without_contact(organization),
    )
