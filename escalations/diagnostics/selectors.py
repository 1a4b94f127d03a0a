"""Reads for the owners' Diagnostics page: configurations that would miss notifications.

Every list is read in a fixed number of queries (targets prefetched), whatever the size of
the organization; the gaps of all the schedules that policies notify take two (their layer
versions and overrides, through `schedule_selectors.schedule_gaps_many`).
"Pageable" is what the engine pages (`escalations.engine.targets.step_targets`): an active user who
is not a stakeholder, named on the step, a member of a team on it, or on call in its schedule.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef
from django.utils import timezone

from escalations.models import (
    EscalationPolicy,
    EscalationStep,
    Schedule,
    ScheduleLayer,
    ScheduleOverride,
    StepKind,
)
from escalations.notifications.models import Channel
from escalations.notifications.rules import (
    PHONE_CHANNELS,
    ContactProblem,
    users_channels,
    users_without_contact,
)
from escalations.schedules.selectors import schedule_gaps_many
from opsduty.models import Organization, Role, Service, Team, TeamMembership, User

NOTIFY_KINDS = (StepKind.NOTIFY, StepKind.NOTIFY_IF_EVENTS, StepKind.NOTIFY_IF_TIME)
# How far ahead the gaps of schedules that policies notify are looked for.
GAP_HORIZON = timedelta(days=14)


@dataclass(frozen=True)
class UnreachableStep:
    """A notify step that pages nobody, and why."""

    step: EscalationStep
    reason: str

    @property
    def policy(self) -> EscalationPolicy:
        return self.step.policy


@dataclass(frozen=True)
class ScheduleGaps:
    """A schedule that policies notify, with the periods ahead when nobody is on call.

    `gaps` are (start, end) in the schedule's own zone, as its team reads them.
    """

    schedule: Schedule
    policies: list[EscalationPolicy]
    gaps: list[tuple[datetime, datetime]]


@dataclass(frozen=True)
class Diagnostics:
    """What the Diagnostics page lists; `unused_policies` is informational."""

    services_without_policy: list[Service]
    unreachable_steps: list[UnreachableStep]
    unused_policies: list[EscalationPolicy]
    users_without_contact: list[ContactProblem]
    unverified_phones: list[ContactProblem]
    schedule_gaps: list[ScheduleGaps]

    @property
    def problem_count(self) -> int:
        """Findings that would miss a notification (not the informational ones)."""
        return (
            len(self.services_without_policy)
            + len(self.unreachable_steps)
            + len(self.users_without_contact)
            + len(self.unverified_phones)
            + len(self.schedule_gaps)
        )


@dataclass(frozen=True)
class _Targets:
    """Who the organization's notify steps name, as ids (read in four queries, whatever the
    number of steps): `users` and `teams` by step, `members` by team, `pageable` the active
    people who are not stakeholders, `layered` the schedules with current layers."""

    users: dict[int, list[int]]
    teams: dict[int, list[int]]
    members: dict[int, set[int]]
    pageable: set[int]
    layered: set[int]

    def reaches_someone(self, step_id: int, schedule_id: int | None) -> bool:
        """A schedule with at least one current layer counts as a target: when it has nobody
        on call is a question of time, answered by the schedule gaps list."""
        if any(u in self.pageable for u in self.users.get(step_id, ())):
            return True
        for team_id in self.teams.get(step_id, ()):
            if any(u in self.pageable for u in self.members.get(team_id, ())):
                return True
        return schedule_id is not None and schedule_id in self.layered


def _targets(organization: Organization, step_ids: list[int]) -> _Targets:
    users: dict[int, list[int]] = defaultdict(list)
    for step_id, user_id in EscalationStep.users.through.objects.filter(
        escalationstep_id__in=step_ids
    ).values_list("escalationstep_id", "user_id"):
        users[step_id].append(user_id)
    teams: dict[int, list[int]] = defaultdict(list)
    for step_id, team_id in EscalationStep.teams.through.objects.filter(
        escalationstep_id__in=step_ids
    ).values_list("escalationstep_id", "team_id"):
        teams[step_id].append(team_id)
    members: dict[int, set[int]] = defaultdict(set)
    for team_id, user_id in TeamMembership.objects.for_org(organization).values_list(
        "team_id", "user_id"
    ):
        members[team_id].add(user_id)
    pageable = set(
        User.objects.for_org(organization)
        .filter(is_active=True)
        .exclude(role=Role.STAKEHOLDER)
        .values_list("pk", flat=True)
    )
    layered = set(
        ScheduleLayer.objects.for_org(organization)
        .filter(effective_until__isnull=True)
        .values_list("schedule_id", flat=True)
        .distinct()
    )
    return _Targets(users, teams, members, pageable, layered)


def _unreachable_reason(step: EscalationStep, targets: _Targets, names: dict[int, str]) -> str:
    """Why the step pages nobody (it does not reach anyone: `_Targets.reaches_someone`)."""
    reasons = []
    if targets.users.get(step.pk):
        reasons.append("its users are stakeholders or deactivated")
    team_ids = targets.teams.get(step.pk, [])
    if team_ids:
        listed = ", ".join(sorted(names[team_id] for team_id in team_ids))
        reasons.append(f"no pageable members in {listed}")
    if step.schedule is not None:
        reasons.append(f"its schedule “{step.schedule.name}” has no layers")
    if not reasons:
        return "it targets nobody"
    return "; ".join(reasons)


def unreachable_step_list(*, organization: Organization) -> list[UnreachableStep]:
    """Notify steps of the organization's policies that would page nobody, by policy.

    Who each step reaches is worked out from ids (four queries for every step); only the
    steps found are read whole, with their policy and schedule."""
    steps = EscalationStep.objects.for_org(organization).filter(kind__in=NOTIFY_KINDS)
    ids = list(steps.values_list("pk", "schedule_id"))
    targets = _targets(organization, [pk for pk, _ in ids])
    found = [pk for pk, schedule_id in ids if not targets.reaches_someone(pk, schedule_id)]
    if not found:
        return []
    names = dict(Team.objects.for_org(organization).values_list("pk", "name"))
    return [
        UnreachableStep(step=step, reason=_unreachable_reason(step, targets, names))
        for step in steps.filter(pk__in=found)
        .select_related("policy", "policy__team", "schedule")
        .order_by("policy__name", "policy_id", "position")
    ]


def schedule_gap_list(*, organization: Organization, now: datetime) -> list[ScheduleGaps]:
    """Schedules notified by a policy step that have nobody on call at some time in the next
    14 days, by schedule name, with those periods in the schedule's zone."""
    steps = (
        EscalationStep.objects.for_org(organization)
        .filter(kind__in=NOTIFY_KINDS, schedule__isnull=False)
        .select_related("schedule", "policy")
        .order_by("schedule__name", "schedule_id", "policy__name", "policy_id")
    )
    used: dict[int, tuple[Schedule, dict[int, EscalationPolicy]]] = {}
    for step in steps:
        if step.schedule is None:  # filtered out by the query; narrows the type
            continue
        _, policies = used.setdefault(step.schedule.pk, (step.schedule, {}))
        policies.setdefault(step.policy_id, step.policy)
    end = now + GAP_HORIZON
    found = []
    every_gap = schedule_gaps_many([schedule for schedule, _ in used.values()], now, end)
    for schedule, policies in used.values():
        zone = zoneinfo.ZoneInfo(schedule.timezone)
        gaps = [
            (max(start, now).astimezone(zone), min(stop, end).astimezone(zone))
            for start, stop in every_gap[schedule.pk]
            if stop > now and start < end
        ]
        if gaps:
            found.append(
                ScheduleGaps(schedule=schedule, policies=list(policies.values()), gaps=gaps)
            )
    return found


def _phone_problems(user: User, used: set[str]) -> list[str]:
    phone = used & set(PHONE_CHANNELS)
    if not phone or not user.phone_number:
        return []  # nothing to reach by phone, or no number at all (users_without_contact)
    problems = []
    if user.phone_verified_at is None:
        names = " and ".join(Channel(c).label for c in PHONE_CHANNELS if c in phone)
        problems.append(f"{names} rules but the phone number is not verified")
    if Channel.SMS in phone and user.sms_stopped_at is not None:
        problems.append("SMS rules but they answered STOP to our SMS")
    return problems


def unverified_phone_list(
    *, organization: Organization, channels: list[tuple[User, set[str]]] | None = None
) -> list[ContactProblem]:
    """Active responders whose SMS or voice rules need a verified phone number they lack
    (the providers skip an unverified number), or who answered STOP to our SMS. People with
    no number at all are in `users_without_contact`."""
    found = []
    for user, used in channels if channels is not None else users_channels(organization):
        problems = _phone_problems(user, used)
        if problems:
            found.append(ContactProblem(user=user, problems=problems))
    return found


def diagnostics_for(*, organization: Organization, now: datetime | None = None) -> Diagnostics:
    """Every diagnostics finding of one organization (about a dozen queries)."""
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
    channels = users_channels(organization)  # who uses which channels, read once
    return Diagnostics(
        services_without_policy=list(services),
        unreachable_steps=unreachable_step_list(organization=organization),
        unused_policies=list(unused),
        users_without_contact=users_without_contact(organization, channels),
        unverified_phones=unverified_phone_list(organization=organization, channels=channels),
        schedule_gaps=schedule_gap_list(organization=organization, now=now or timezone.now()),
    )


def user_duty_list(user: User) -> list[str]:
    """Where `user` is on duty, for the warning before they are deactivated or deleted: the
    escalation steps that name them, the schedules whose current layers hold them, and their
    overrides not over yet (opsduty/services.py `duty_finder_register`)."""
    duties = [
        f"escalation policy “{step.policy.name}”, step {step.position + 1}"
        for step in EscalationStep.objects.for_org(user.organization)
        .filter(users=user)
        .select_related("policy")
        .order_by("policy__name", "position")
    ]
    schedules = (
        Schedule.objects.for_org(user.organization)
        .filter(layers__groups__contains=[[user.pk]], layers__effective_until__isnull=True)
        .distinct()
        .order_by("name")
    )
    duties += [f"schedule “{schedule.name}”" for schedule in schedules]
    overrides = (
        ScheduleOverride.objects.for_org(user.organization)
        .filter(user=user, end__gt=timezone.now())
        .select_related("schedule")
        .order_by("start")
    )
    duties += [
        f"an override of schedule “{override.schedule.name}” from"
        f" {override.start:%Y-%m-%d %H:%M} to {override.end:%Y-%m-%d %H:%M} UTC"
        for override in overrides
    ]
    return duties
