"""Writes of schedules, their layers and overrides, and calendar feed tokens.

Permission: owners and members of the schedule's team; `by=None` is the system (seed).
Every write locks the schedule row and bumps `Schedule.version` (the on-call cache's key).

History is immutable (models_schedules): a layer edit that would change a shift that has
already started ends the current version now and adds a new version from now; a layer that
has not started yet is changed in place. Overrides: a future one is deleted, a running one
ends now, a past one cannot be deleted.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from escalations.models import (
    CalendarFeed,
    Frequency,
    Rotation,
    Schedule,
    ScheduleLayer,
    ScheduleOverride,
)
from escalations.policies.models import EscalationStep
from escalations.schedules import shifts
from opsduty.audit import audit_record
from opsduty.live import live_notice
from opsduty.models import Role, Team, TeamMembership, User
from opsduty.selectors import timezone_names
from opsduty.services import can_manage_team
from opsduty.timebounds import (
    DATE_RANGE_MESSAGE,
    LAST_DAY,
    RANGE_MESSAGE,
    date_in_range,
    datetime_in_range,
)

# An override may start a little before "now" (a client's clock, the time to submit a form):
# such a start is moved to now rather than refused; earlier starts would rewrite history.
OVERRIDE_START_GRACE = timedelta(minutes=5)
SHIFT_MINUTES_MAX = 366 * 24 * 60
INTERVAL_MAX = 365
TIMEZONE_MESSAGE = "Choose a time zone from the list, e.g. Europe/Oslo."


def _require_team(by: User | None, team: Team) -> None:
    if by is not None and not can_manage_team(by, team):
        raise PermissionDenied("Only owners and members of the owning team can edit its schedules.")


def _lock(schedule: Schedule) -> None:
    """Serialize writes to one schedule and invalidate its cached shifts (on commit)."""
    Schedule.objects.select_for_update().filter(pk=schedule.pk).update(version=F("version") + 1)
    schedule.refresh_from_db(fields=["version"])
    live_notice(organization_id=schedule.organization_id, oncall=True)


def localize(naive: datetime, zone: str) -> datetime:
    """A local wall-clock time in `zone` as an aware UTC instant (fold=0, gaps pushed on)."""
    tz = zoneinfo.ZoneInfo(zone)
    return naive.replace(tzinfo=tz).astimezone(zoneinfo.ZoneInfo("UTC"))


# --- schedules ------------------------------------------------------------------------------


def _clean_schedule(schedule: Schedule) -> None:
    schedule.name = schedule.name.strip()
    errors: dict[str, str] = {}
    if not schedule.name:
        errors["name"] = "Enter a name."
    elif len(schedule.name) > 200:
        errors["name"] = "The name may be at most 200 characters."
    if len(schedule.description) > 2000:
        errors["description"] = "The description may be at most 2000 characters."
    if schedule.timezone not in timezone_names():
        errors["timezone"] = TIMEZONE_MESSAGE
    clash = Schedule.objects.filter(organization_id=schedule.organization_id, name=schedule.name)
    if schedule.name and clash.exclude(pk=schedule.pk).exists():
        errors["name"] = "A schedule with this name already exists."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def schedule_create(
    *,
    team: Team,
    by: User | None,
    name: str,
    timezone_name: str = "UTC",
    description: str = "",
    now: datetime | None = None,
) -> Schedule:
    """A schedule owned by `team`, without layers (nobody is on call until one is added).

    It exists from `now` (default: the clock): its timeline shows no gap before that.
    """
    _require_team(by, team)
    schedule = Schedule(
        organization_id=team.organization_id,
        team=team,
        name=name,
        description=description,
        timezone=timezone_name,
        created_at=now or timezone.now(),
    )
    _clean_schedule(schedule)
    schedule.save()
    return schedule


@transaction.atomic
def schedule_update(
    *, schedule: Schedule, by: User | None, name: str, description: str, timezone_name: str
) -> Schedule:
    """Rename, describe or move to another zone; a new zone applies to layers from now on."""
    _require_team(by, schedule.team)
    _lock(schedule)
    old_zone = schedule.timezone
    schedule.name, schedule.description, schedule.timezone = name, description, timezone_name
    _clean_schedule(schedule)
    schedule.save(update_fields=["name", "description", "timezone"])
    if timezone_name != old_zone:
        now = timezone.now()
        for layer in _current_layers(schedule):
            _revise(layer, now, timezone=timezone_name)
    return schedule


@transaction.atomic
def schedule_delete(*, schedule: Schedule, by: User | None) -> None:
    """Delete a schedule with its layers, overrides and feeds; refused while a policy uses it."""
    _require_team(by, schedule.team)
    _lock(schedule)
    policies = sorted(
        set(EscalationStep.objects.filter(schedule=schedule).values_list("policy__name", flat=True))
    )
    if policies:
        names = ", ".join(f"“{name}”" for name in policies[:5])
        raise ValidationError(
            f"Escalation policies notify this schedule: {names}. Change their steps first."
        )
    schedule.delete()


# --- layers ---------------------------------------------------------------------------------


@dataclass
class LayerInput:
    """What the editor and API send for a layer; `groups` are lists of users."""

    name: str
    rotation: str
    groups: Sequence[Sequence[User]]
    frequency: str
    start_date: date
    handoff_time: time
    shift_minutes: int
    interval: int = 1
    by_day: Sequence[int] = field(default_factory=list)
    repeat_until: date | None = None


def _team_members(team: Team) -> set[int]:
    return set(
        TeamMembership.objects.filter(team=team, user__is_active=True)
        .exclude(user__role=Role.STAKEHOLDER)
        .values_list("user_id", flat=True)
    )


def _check_groups(schedule: Schedule, groups: Any, errors: dict[str, str]) -> list[list[int]]:
    if not isinstance(groups, Sequence) or not groups:
        errors["groups"] = "Add at least one person to the rotation."
        return []
    members = _team_members(schedule.team)
    ids: list[list[int]] = []
    for group in groups:
        if not isinstance(group, Sequence) or not group:
            errors["groups"] = "Every group of the rotation needs at least one person."
            return []
        chosen = list(dict.fromkeys(group))
        for user in chosen:
            if not isinstance(user, User) or user.organization_id != schedule.organization_id:
                errors["groups"] = "Unknown user."
                return []
            if user.pk not in members:
                errors["groups"] = (
                    f"{user.get_full_name() or user.email} is not a responder of team "
                    f"{schedule.team.name}; only the team's owners and members can be on call."
                )
                return []
        ids.append([user.pk for user in chosen])
    return ids


def _spec(
    lineage: int, priority: int, zone: str, values: dict[str, Any], **extra: Any
) -> shifts.LayerSpec:
    # Stored dates past the bound (rows older than it) are read as its last day: the renderer
    # never computes past 2100 (opsduty/timebounds.py).
    until = values.get("repeat_until")
    until = min(until, LAST_DAY) if until else None
    return shifts.LayerSpec(
        layer_id=lineage,
        priority=priority,
        timezone=zone,
        start=datetime.combine(min(values["start_date"], LAST_DAY), values["handoff_time"]),
        shift_length=timedelta(minutes=values["shift_minutes"]),
        frequency=shifts.Frequency(values["frequency"]),
        rotation=shifts.Rotation(values["rotation"]),
        groups=tuple(tuple(group) for group in values["groups"]),
        interval=values["interval"],
        by_day=tuple(values["by_day"]),
        until=datetime.combine(until + timedelta(days=1), time()) if until else None,
        **extra,
    )


def layer_spec(layer: ScheduleLayer) -> shifts.LayerSpec:
    """The pure module's view of one stored layer version."""
    values = {
        name: getattr(layer, name)
        for name in (
            "start_date",
            "handoff_time",
            "shift_minutes",
            "frequency",
            "rotation",
            "groups",
            "interval",
            "by_day",
            "repeat_until",
        )
    }
    return _spec(
        layer.lineage or layer.pk,
        layer.priority,
        layer.timezone,
        values,
        effective_from=layer.effective_from,
        effective_until=layer.effective_until,
    )


def layer_validate(
    *, schedule: Schedule, data: LayerInput, start_must_be_future: bool, now: datetime
) -> dict[str, Any]:
    """The stored values of a layer, or ValidationError with one message per field."""
    errors: dict[str, str] = {}
    name = (data.name or "").strip()
    if not name:
        errors["name"] = "Enter a name for the layer."
    elif len(name) > 200:
        errors["name"] = "The name may be at most 200 characters."
    if data.rotation not in Rotation.values:
        errors["rotation"] = "Rotation must be rolling or plain."
    if data.frequency not in Frequency.values:
        errors["frequency"] = "Frequency must be none, daily, weekly or monthly."
    if type(data.interval) is not int or not 1 <= data.interval <= INTERVAL_MAX:
        errors["interval"] = f"Interval must be a whole number from 1 to {INTERVAL_MAX}."
    if type(data.shift_minutes) is not int or not 1 <= data.shift_minutes <= SHIFT_MINUTES_MAX:
        errors["shift_minutes"] = (
            "Shift length must be at least one minute and at most 366 days; "
            "zero-length shifts are not allowed."
        )
    if not isinstance(data.start_date, date) or isinstance(data.start_date, datetime):
        errors["start_date"] = "Enter the date of the first shift, e.g. 2027-01-04."
    elif not date_in_range(data.start_date):
        errors["start_date"] = DATE_RANGE_MESSAGE
    if not isinstance(data.handoff_time, time):
        errors["handoff_time"] = "Enter the handoff time of day, e.g. 09:00."
    by_day = list(data.by_day or [])
    if data.frequency == Frequency.WEEKLY and not all(
        type(d) is int and 0 <= d <= 6 for d in by_day
    ):
        errors["by_day"] = "Weekdays are 0 (Monday) to 6 (Sunday)."
    elif data.frequency == Frequency.MONTHLY and not all(
        type(d) is int and 1 <= d <= 31 for d in by_day
    ):
        errors["by_day"] = "Days of the month are 1 to 31."
    if data.frequency not in (Frequency.WEEKLY, Frequency.MONTHLY):
        by_day = []
    if data.repeat_until is not None and not isinstance(data.repeat_until, date):
        errors["repeat_until"] = "Enter a date, e.g. 2027-06-30."
    elif data.repeat_until is not None and not date_in_range(data.repeat_until):
        errors["repeat_until"] = DATE_RANGE_MESSAGE
    elif (
        data.repeat_until is not None
        and isinstance(data.start_date, date)
        and data.repeat_until < data.start_date
    ):
        errors["repeat_until"] = "Repeat until must be on or after the first shift's date."
    groups = _check_groups(schedule, data.groups, errors)
    if data.rotation == Rotation.PLAIN and len(groups) > 1:
        groups = [sorted({user for group in groups for user in group})]
    if errors:
        raise ValidationError(errors)
    values: dict[str, Any] = {
        "name": name,
        "rotation": data.rotation,
        "groups": groups,
        "frequency": data.frequency,
        "interval": data.interval,
        "by_day": sorted(set(by_day)),
        "start_date": data.start_date,
        "handoff_time": data.handoff_time.replace(second=0, microsecond=0),
        "shift_minutes": data.shift_minutes,
        "repeat_until": data.repeat_until if data.frequency != Frequency.NONE else None,
    }
    pure = shifts.validate_layer(
        _spec(0, 0, schedule.timezone, values), now=now if start_must_be_future else None
    )
    if pure:
        raise ValidationError(pure)
    return values


PREVIEW_SHIFTS = 14
PREVIEW_HORIZON = timedelta(days=3 * 366)


def layer_preview(
    *,
    schedule: Schedule,
    data: LayerInput,
    now: datetime,
    start_must_be_future: bool,
    count: int = PREVIEW_SHIFTS,
) -> list[shifts.Shift]:
    """The next `count` shifts (running at `now` or later) the layer would have, unsaved.

    Validated exactly as `layer_create` / `layer_update` would (ValidationError per field),
    and built into the same LayerSpec, so the preview is what saving would give.
    """
    values = layer_validate(
        schedule=schedule, data=data, start_must_be_future=start_must_be_future, now=now
    )
    spec = _spec(0, 0, schedule.timezone, values)
    span = timedelta(days=31)
    while True:  # widen the window until it holds enough shifts (monthly layers, intervals)
        rows = shifts.layer_shifts(spec, now, now + span)
        if len(rows) >= count or span >= PREVIEW_HORIZON:
            return rows[:count]
        span = min(span * 4, PREVIEW_HORIZON)


def _current_layers(schedule: Schedule) -> list[ScheduleLayer]:
    return list(
        ScheduleLayer.objects.filter(schedule=schedule, effective_until__isnull=True).order_by(
            "-priority", "id"
        )
    )


def _started(layer: ScheduleLayer, now: datetime) -> bool:
    """Whether this version may already have produced a shift (so it must stay as it is)."""
    first = localize(datetime.combine(layer.start_date, layer.handoff_time), layer.timezone)
    return first <= now and layer.effective_from <= now


def _revise(layer: ScheduleLayer, now: datetime, **changes: Any) -> ScheduleLayer:
    """Apply `changes` from `now` on: in place if nothing happened yet, else as a new version."""
    if not _started(layer, now):
        for name, value in changes.items():
            setattr(layer, name, value)
        layer.save()
        return layer
    _layer_end(layer, now)
    new = ScheduleLayer.objects.get(pk=layer.pk)
    new.pk = None
    new.effective_until = None
    new.effective_from = now
    new.created_at = now
    for name, value in changes.items():
        setattr(new, name, value)
    new.save()
    return new


@transaction.atomic
def layer_create(*, schedule: Schedule, by: User | None, data: LayerInput) -> ScheduleLayer:
    """A new layer on top of the others (highest priority); it must start in the future."""
    _require_team(by, schedule.team)
    _lock(schedule)
    now = timezone.now()
    values = layer_validate(schedule=schedule, data=data, start_must_be_future=True, now=now)
    top = ScheduleLayer.objects.filter(schedule=schedule, effective_until__isnull=True).aggregate(
        top=Max("priority")
    )["top"]
    layer = ScheduleLayer.objects.create(
        organization_id=schedule.organization_id,
        schedule=schedule,
        priority=0 if top is None else top + 1,
        timezone=schedule.timezone,
        effective_from=now,
        created_by=by,
        **values,
    )
    ScheduleLayer.objects.filter(pk=layer.pk).update(lineage=layer.pk)
    layer.lineage = layer.pk
    return layer


def _current(layer: ScheduleLayer) -> ScheduleLayer:
    current = (
        ScheduleLayer.objects.filter(
            schedule_id=layer.schedule_id,
            lineage=layer.lineage or layer.pk,
            effective_until__isnull=True,
        )
        .select_related("schedule", "schedule__team")
        .first()
    )
    if current is None:
        raise ValidationError("This layer has been deleted.")
    return current


@transaction.atomic
def layer_update(*, layer: ScheduleLayer, by: User | None, data: LayerInput) -> ScheduleLayer:
    """Change a layer from now on; shifts that already started stay as they were."""
    schedule = layer.schedule
    _require_team(by, schedule.team)
    _lock(schedule)
    layer = _current(layer)
    now = timezone.now()
    moved = (data.start_date, data.handoff_time) != (layer.start_date, layer.handoff_time)
    values = layer_validate(schedule=schedule, data=data, start_must_be_future=moved, now=now)
    return _revise(layer, now, **values, timezone=schedule.timezone, created_by=by)


@transaction.atomic
def layer_delete(*, layer: ScheduleLayer, by: User | None) -> None:
    """End a layer now (its past shifts stay); a layer that never started is removed."""
    schedule = layer.schedule
    _require_team(by, schedule.team)
    _lock(schedule)
    layer = _current(layer)
    now = timezone.now()
    if _started(layer, now):
        _layer_end(layer, now)
    else:
        layer.delete()


def _layer_end(layer: ScheduleLayer, now: datetime) -> None:
    """This version of the layer ends `now` (an UPDATE: the audit log is written here)."""
    audit_record(instance=layer, action="update", changes={"effective_until": (None, now)})
    ScheduleLayer.objects.filter(pk=layer.pk).update(effective_until=now)


@transaction.atomic
def layer_move(*, layer: ScheduleLayer, by: User | None, up: bool) -> None:
    """Swap a layer's priority with the next higher (up) or lower layer, from now on."""
    schedule = layer.schedule
    _require_team(by, schedule.team)
    _lock(schedule)
    layer = _current(layer)
    layers = _current_layers(schedule)  # highest first
    index = next(i for i, item in enumerate(layers) if item.pk == layer.pk)
    other_index = index - 1 if up else index + 1
    if not 0 <= other_index < len(layers):
        return
    other = layers[other_index]
    now = timezone.now()
    mine, theirs = layer.priority, other.priority
    if mine == theirs:
        theirs = mine + (1 if up else -1)
    _revise(layer, now, priority=theirs, created_by=by)
    _revise(other, now, priority=mine, created_by=by)


# --- overrides ------------------------------------------------------------------------------


@transaction.atomic
def override_create(
    *,
    schedule: Schedule,
    by: User | None,
    user: User,
    start: datetime,
    end: datetime,
    now: datetime | None = None,
) -> ScheduleOverride:
    """Put `user` on call from `start` to `end` over every layer.

    A start up to OVERRIDE_START_GRACE ago is moved to `now`: the clock, or the caller's
    instant (within the grace) when it creates several rows at one instant (seed_demo).
    """
    _require_team(by, schedule.team)
    errors: dict[str, str] = {}
    if user.organization_id != schedule.organization_id or user.pk not in _team_members(
        schedule.team
    ):
        errors["user_id"] = (
            f"The user is not a responder of team {schedule.team.name}, which owns this "
            "schedule; only its owners and members can be on call."
        )
    if timezone.is_naive(start) or timezone.is_naive(end):
        errors["start"] = "Start and end need a time zone offset, e.g. 2027-01-04T09:00:00+01:00."
    elif not datetime_in_range(start):
        errors["start"] = RANGE_MESSAGE
    elif not datetime_in_range(end):
        errors["end"] = RANGE_MESSAGE
    elif end <= start:
        errors["end"] = "The end must be after the start."
    else:
        clock = timezone.now()
        # A caller's `now` (one instant for several rows) may lag the clock, within the grace.
        now = clock if now is None else max(min(now, clock), clock - OVERRIDE_START_GRACE)
        if end <= clock:
            errors["end"] = "The override would be over already; shifts in the past never change."
        elif start < clock - OVERRIDE_START_GRACE:
            errors["start"] = (
                "An override cannot start in the past (shifts that happened never change); "
                "start it now or later."
            )
        start = max(start, now)
    if errors:
        raise ValidationError(errors)
    _lock(schedule)
    return ScheduleOverride.objects.create(
        organization_id=schedule.organization_id,
        schedule=schedule,
        user=user,
        start=start,
        end=end,
        created_by=by,
    )


@transaction.atomic
def override_delete(*, override: ScheduleOverride, by: User | None) -> None:
    """Give the time back to the rotation: a future override goes, a running one ends now."""
    schedule = override.schedule
    _require_team(by, schedule.team)
    _lock(schedule)
    now = timezone.now()
    if override.end <= now:
        raise ValidationError("This override is over; shifts in the past never change.")
    if override.start >= now:
        override.delete()
    else:
        # An UPDATE sends no model signal: the audit log is written here.
        audit_record(instance=override, action="update", changes={"end": (override.end, now)})
        ScheduleOverride.objects.filter(pk=override.pk).update(end=now)


# --- calendar feeds -------------------------------------------------------------------------


def feed_get_or_create(*, user: User, schedule: Schedule | None) -> CalendarFeed:
    """The user's feed of `schedule` (None: their own shifts over every schedule)."""
    feed, _ = CalendarFeed.objects.get_or_create(
        organization_id=user.organization_id, user=user, schedule=schedule
    )
    return feed


def feed_rotate(*, user: User, schedule: Schedule | None) -> CalendarFeed:
    """A new token for the feed; the old URL stops working at once."""
    feed = feed_get_or_create(user=user, schedule=schedule)
    feed.token = CalendarFeed._meta.get_field("token").get_default()
    feed.save(update_fields=["token", "token_hash"])
    return feed
