"""Who a notify step pages: its users, its teams' members and whoever is on call in its
schedule, at an instant. The escalation engine, a service's "on call now" (API #20, the
service page) and diagnostics all resolve steps here, so they always agree."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from escalations.models import EscalationStep, Schedule
from escalations.policies.models import StepKind
from escalations.policies.selectors import policy_steps_cached
from escalations.schedules.selectors import oncall_next_change, oncall_user_ids
from opsduty.models import Role, Service, TeamMembership, User

NOTIFY_KINDS = (StepKind.NOTIFY, StepKind.NOTIFY_IF_EVENTS, StepKind.NOTIFY_IF_TIME)


@dataclass
class StepTargets:
    """The pageable users of a step (by id), and what its schedule contributed."""

    users: list[User] = field(default_factory=list)
    schedule: Schedule | None = None
    schedule_user_ids: tuple[int, ...] = ()


def step_targets(step: EscalationStep, at: datetime) -> StepTargets:
    """The step's users, its teams' members and its schedule's on-call people at `at`."""
    users: dict[int, User | None] = {user.pk: user for user in step.users.all()}
    team_ids = [team.pk for team in step.teams.all()]
    if team_ids:
        for membership in TeamMembership.objects.filter(team_id__in=team_ids).select_related(
            "user"
        ):
            users.setdefault(membership.user_id, membership.user)
    result = StepTargets()
    if step.schedule_id is not None:
        result.schedule = Schedule.objects.filter(pk=step.schedule_id).first()
        if result.schedule is not None:
            result.schedule_user_ids = oncall_user_ids(result.schedule, at)
            for user_id in result.schedule_user_ids:
                users.setdefault(user_id, None)
    missing = [pk for pk, user in users.items() if user is None]
    if missing:
        users.update({user.pk: user for user in User.objects.filter(pk__in=missing)})
    result.users = [
        user
        for _, user in sorted(users.items())
        if user is not None and user.is_active and user.role != Role.STAKEHOLDER
    ]
    return result


def _first_notify_step(service: Service) -> EscalationStep | None:
    if service.escalation_policy_id is None:
        return None
    steps = policy_steps_cached(service.escalation_policy_id) or []
    return next((step for step in steps if step.kind in NOTIFY_KINDS), None)


def service_oncall(service: Service, at: datetime) -> list[User]:
    """Who the first notify step of the service's policy resolves to at `at` (spec #20)."""
    first = _first_notify_step(service)
    return [] if first is None else step_targets(first, at).users


def service_oncall_next_change(service: Service, at: datetime) -> datetime | None:
    """When `service_oncall` next changes by itself: the next handoff in the first notify
    step's schedule (edits are announced as they happen, docs/live-updates.md)."""
    first = _first_notify_step(service)
    if first is None or first.schedule_id is None:
        return None
    schedule = Schedule.objects.filter(pk=first.schedule_id).first()
    return None if schedule is None else oncall_next_change(schedule, at)
