"""Writes of escalation policies and their steps.

Permission: owners and members of the policy's team; `by=None` is the system (seed).
Steps are validated per kind (`step_validate`): only the fields of the kind are stored, the
others are cleared. Positions are dense (0..n-1); writes that change them lock the policy row
first, so concurrent adds and moves serialize.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import time
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from escalations.models import Channel, EscalationPolicy, EscalationStep, Schedule, StepKind
from escalations.policies.selectors import policy_steps_forget
from opsduty.audit import audit_record
from opsduty.live import live_notice
from opsduty.models import Team, User
from opsduty.selectors import timezone_names
from opsduty.services import can_manage_team

NOTIFY_KINDS = (StepKind.NOTIFY, StepKind.NOTIFY_IF_EVENTS, StepKind.NOTIFY_IF_TIME)
TARGET_FIELDS = ("users", "teams", "schedule_id", "channel")
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    StepKind.NOTIFY: TARGET_FIELDS,
    StepKind.NOTIFY_IF_EVENTS: (*TARGET_FIELDS, "events_count", "window_minutes"),
    StepKind.NOTIFY_IF_TIME: (*TARGET_FIELDS, "time_from", "time_to", "timezone"),
    StepKind.REPEAT: ("repeat_times",),
    StepKind.RESOLVE: (),
    StepKind.WAIT: ("wait_minutes",),
}
VALUE_FIELDS = (
    "schedule_id",
    "channel",
    "events_count",
    "window_minutes",
    "time_from",
    "time_to",
    "timezone",
    "repeat_times",
    "wait_minutes",
)
ALL_FIELDS = frozenset({"users", "teams", *VALUE_FIELDS})

WAIT_MAX, EVENTS_MAX, WINDOW_MAX, REPEAT_MAX = 1440, 1000, 1440, 5
RANGE_MESSAGES = {
    "wait_minutes": (1, WAIT_MAX, "Wait must be a whole number of minutes from 1 to 1440."),
    "events_count": (1, EVENTS_MAX, "Number of events must be a whole number from 1 to 1000."),
    "window_minutes": (
        1,
        WINDOW_MAX,
        "Time window must be a whole number of minutes from 1 to 1440 (24 hours).",
    ),
    "repeat_times": (1, REPEAT_MAX, "Repeat must be a whole number of times from 1 to 5."),
}
KIND_MESSAGE = "Step type must be one of: " + ", ".join(StepKind.values) + "."
CHANNEL_MESSAGE = "Channel must be empty (each person's own policy), email, sms, voice or slack."
SCHEDULE_MESSAGE = "Unknown schedule."
TARGET_MESSAGE = "Choose at least one user, team or schedule to notify."


def _require_team(by: User | None, team: Team) -> None:
    if by is not None and not can_manage_team(by, team):
        raise PermissionDenied(
            "Only owners and members of the owning team can manage its escalation policies."
        )


# --- validation -----------------------------------------------------------------------------


def _whole(value: Any) -> bool:
    return type(value) is int


def _check_range(name: str, value: Any, errors: dict[str, str]) -> None:
    low, high, message = RANGE_MESSAGES[name]
    if not _whole(value) or not low <= value <= high:
        errors[name] = message


def _check_users(organization_id: int, users: Any, errors: dict[str, str]) -> list[User]:
    if not isinstance(users, Iterable) or not all(isinstance(u, User) for u in users):
        errors["users"] = "Users must be a list of users."
        return []
    chosen: list[User] = list(dict.fromkeys(users))
    for user in chosen:
        if user.organization_id != organization_id or not user.is_active:
            errors["users"] = "Unknown user."
        elif user.is_stakeholder:
            errors["users"] = (
                f"{user.get_full_name()} is a stakeholder; stakeholders are never notified."
            )
    return chosen


def _check_teams(organization_id: int, teams: Any, errors: dict[str, str]) -> list[Team]:
    if not isinstance(teams, Iterable) or not all(isinstance(t, Team) for t in teams):
        errors["teams"] = "Teams must be a list of teams."
        return []
    chosen: list[Team] = list(dict.fromkeys(teams))
    if any(team.organization_id != organization_id for team in chosen):
        errors["teams"] = "Unknown team."
    return chosen


def _check_targets(organization_id: int, values: dict[str, Any], errors: dict[str, str]) -> None:
    values["users"] = _check_users(organization_id, values.get("users") or [], errors)
    values["teams"] = _check_teams(organization_id, values.get("teams") or [], errors)
    schedule_id = values.get("schedule_id")
    if schedule_id is not None and (
        type(schedule_id) is not int
        or not Schedule.objects.filter(organization_id=organization_id, pk=schedule_id).exists()
    ):
        errors["schedule_id"] = SCHEDULE_MESSAGE
    if values.get("channel") is None:
        values["channel"] = ""
    if values["channel"] not in Channel.values:
        errors["channel"] = CHANNEL_MESSAGE
    targets = values["users"] or values["teams"] or schedule_id is not None
    if not targets and not {"users", "teams", "schedule_id"} & set(errors):
        errors["users"] = TARGET_MESSAGE


def _check_time_window(values: dict[str, Any], errors: dict[str, str]) -> None:
    for name in ("time_from", "time_to"):
        if not isinstance(values.get(name), time):
            errors[name] = "Enter a time of day, e.g. 09:00."
    start, end = values.get("time_from"), values.get("time_to")
    if isinstance(start, time) and isinstance(end, time) and start == end:
        errors["time_to"] = "The window must end at another time than it starts."
    if values.get("timezone") not in timezone_names():
        errors["timezone"] = "Choose a time zone from the list, e.g. Europe/Oslo."


def step_validate(*, organization_id: int, kind: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """The step's stored values for `kind` (irrelevant fields cleared), or ValidationError.

    Every problem is reported at once, one message per field.
    """
    unknown = set(fields) - ALL_FIELDS
    if unknown:
        raise ValidationError({name: "Unknown field." for name in sorted(unknown)})
    if kind not in StepKind.values:
        raise ValidationError({"kind": KIND_MESSAGE})
    relevant = KIND_FIELDS[kind]
    values: dict[str, Any] = {name: fields.get(name) for name in relevant}
    errors: dict[str, str] = {}
    if kind in NOTIFY_KINDS:
        _check_targets(organization_id, values, errors)
    for name in RANGE_MESSAGES.keys() & set(relevant):
        _check_range(name, values[name], errors)
    if kind == StepKind.NOTIFY_IF_TIME:
        _check_time_window(values, errors)
    if errors:
        raise ValidationError(errors)
    cleared: dict[str, Any] = {name: None for name in VALUE_FIELDS}
    cleared.update(channel="", timezone="", users=[], teams=[])
    return {**cleared, **values}


def _apply(step: EscalationStep, values: dict[str, Any]) -> None:
    for name in VALUE_FIELDS:
        setattr(step, name, values[name])


# --- policies -------------------------------------------------------------------------------


def _clean_policy(policy: EscalationPolicy) -> None:
    policy.name = policy.name.strip()
    policy.full_clean(exclude=["team"], validate_constraints=False)
    clash = EscalationPolicy.objects.for_org(policy.organization).filter(name=policy.name)
    if clash.exclude(pk=policy.pk).exists():
        raise ValidationError({"name": "An escalation policy with this name already exists."})


@transaction.atomic
def policy_create(
    *, team: Team, by: User | None, name: str, description: str = ""
) -> EscalationPolicy:
    """Create a policy owned by `team`, without steps."""
    _require_team(by, team)
    policy = EscalationPolicy(
        organization_id=team.organization_id, team=team, name=name, description=description
    )
    _clean_policy(policy)
    policy.save()
    return policy


def _service_names(policy: EscalationPolicy) -> str:
    names = list(policy.services.order_by("name").values_list("name", flat=True)[:5])
    return ", ".join(f"“{name}”" for name in names)


@transaction.atomic
def policy_update(
    *, policy: EscalationPolicy, by: User | None, name: str, description: str, team: Team
) -> EscalationPolicy:
    """Rename, describe or move to another team (needs both; refused while services use it)."""
    _require_team(by, policy.team)
    if team.organization_id != policy.organization_id:
        raise ValidationError({"team": "Unknown team."})
    if team.pk != policy.team_id:
        _require_team(by, team)
        if policy.services.exists():
            raise ValidationError(
                {
                    "team": f"Services of {policy.team.name} use this policy "
                    f"({_service_names(policy)}); a service may only use its own team's "
                    "policies. Change them first."
                }
            )
    policy.name, policy.description, policy.team = name, description, team
    _clean_policy(policy)
    policy.save()
    return policy


@transaction.atomic
def policy_delete(*, policy: EscalationPolicy, by: User | None) -> None:
    """Delete a policy and its steps; refused while a service uses it."""
    _require_team(by, policy.team)
    EscalationPolicy.objects.select_for_update().filter(pk=policy.pk).first()
    if policy.services.exists():
        raise ValidationError(
            f"Services use this escalation policy: {_service_names(policy)}. "
            "Choose another policy for them first."
        )
    policy.delete()


# --- steps ----------------------------------------------------------------------------------


def _forget_on_commit(policy_id: int) -> None:
    transaction.on_commit(lambda: policy_steps_forget(policy_id))


def _locked_steps(policy: EscalationPolicy) -> list[EscalationStep]:
    EscalationPolicy.objects.select_for_update().filter(pk=policy.pk).first()
    _forget_on_commit(policy.pk)
    live_notice(organization_id=policy.organization_id, oncall=True)
    return list(EscalationStep.objects.filter(policy=policy).order_by("position", "id"))


def _renumber(steps: list[EscalationStep]) -> None:
    """Make positions 0..n-1 in the given order (the deferred unique constraint allows swaps)."""
    changed = []
    for index, step in enumerate(steps):
        if step.position != index:
            old, step.position = step.position, index
            # bulk_update sends no model signals: the audit log is written here (its label
            # names the step by its new place).
            audit_record(instance=step, action="update", changes={"position": (old, index)})
            changed.append(step)
    if changed:
        EscalationStep.objects.bulk_update(changed, ["position"])


def _set_targets(step: EscalationStep, values: dict[str, Any]) -> None:
    _forget_on_commit(step.policy_id)
    step.users.set(values["users"])
    step.teams.set(values["teams"])


@transaction.atomic
def step_add(
    *, policy: EscalationPolicy, by: User | None, kind: str, **fields: Any
) -> EscalationStep:
    """Append a step of `kind` to the policy; `fields` are the kind's settings."""
    _require_team(by, policy.team)
    values = step_validate(organization_id=policy.organization_id, kind=kind, fields=fields)
    steps = _locked_steps(policy)
    _renumber(steps)
    step = EscalationStep(
        organization_id=policy.organization_id, policy=policy, position=len(steps), kind=kind
    )
    _apply(step, values)
    step.save()
    _set_targets(step, values)
    return step


@transaction.atomic
def step_update(
    *, step: EscalationStep, by: User | None, kind: str | None = None, **fields: Any
) -> EscalationStep:
    """Replace a step's settings (and, given `kind`, its type); its position stays."""
    _require_team(by, step.policy.team)
    kind = step.kind if kind is None else kind
    values = step_validate(organization_id=step.organization_id, kind=kind, fields=fields)
    step.kind = kind
    _apply(step, values)
    # Never write `position` from a possibly stale object: moves own it.
    step.save(update_fields=["kind", *VALUE_FIELDS])
    _set_targets(step, values)
    return step


@transaction.atomic
def step_move(*, step: EscalationStep, position: int, by: User | None = None) -> EscalationStep:
    """Move a step to `position` (0-based, clamped); the others keep their order."""
    _require_team(by, step.policy.team)
    steps = _locked_steps(step.policy)
    current = next((s for s in steps if s.pk == step.pk), None)
    if current is None:
        raise ValidationError("This step no longer exists.")
    others = [s for s in steps if s.pk != step.pk]
    position = max(0, min(position, len(others)))
    _renumber([*others[:position], current, *others[position:]])
    step.position = current.position
    return step


@transaction.atomic
def step_reorder(
    *, policy: EscalationPolicy, step_ids: list[int], by: User | None = None
) -> list[EscalationStep]:
    """Put every step of the policy in the order of `step_ids` (the editor's drag and drop).

    The ids must be exactly the policy's steps: a stale page (a step added or deleted
    meanwhile) is refused rather than guessed at.
    """
    _require_team(by, policy.team)
    steps = _locked_steps(policy)
    by_id = {step.pk: step for step in steps}
    if len(step_ids) != len(set(step_ids)) or set(step_ids) != set(by_id):
        raise ValidationError(
            {"order": "The steps changed since the page was loaded; reload and try again."}
        )
    ordered = [by_id[step_id] for step_id in step_ids]
    _renumber(ordered)
    return ordered


@transaction.atomic
def step_delete(*, step: EscalationStep, by: User | None) -> None:
    """Delete a step; the steps after it move up."""
    _require_team(by, step.policy.team)
    steps = _locked_steps(step.policy)
    EscalationStep.objects.filter(pk=step.pk).delete()
    _renumber([s for s in steps if s.pk != step.pk])
