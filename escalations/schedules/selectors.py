"""Reads of schedules: visible lists, computed shifts, and who is on call (cached).

Shifts are computed by the pure `escalations.schedules.shifts` from every layer version and override
around the window. Who is on call at an instant is asked for on every escalation step and
API call, so each process keeps the final timeline of a schedule for a short window around
"now", keyed on `(schedule id, Schedule.version)`: every write bumps the version, so an edit
invalidates the cache in every process at once (the version is read with the schedule row).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import FloatField, Func, Q, QuerySet

from escalations.models import Schedule, ScheduleLayer, ScheduleOverride
from escalations.schedules import shifts
from escalations.schedules.services import layer_spec
from opsduty.models import Role, User
from opsduty.tenancy import get_for_org_or_404, scoped
from opsduty.timebounds import EARLIEST, LATEST

# How far around a window layer versions and overrides are read, so that rows crossing the
# window's edges get their real start and end (shifts are at most 366 days; overrides that
# cross the window are read whatever their length).
CONTEXT = timedelta(days=32)
# The window of the on-call cache around the asked instant.
CACHE_BEHIND, CACHE_AHEAD = timedelta(minutes=5), timedelta(days=2)
CACHE_MAX_SCHEDULES = 2048
WINDOW_MAX = timedelta(days=120)


def schedule_visible_list(*, user: User) -> QuerySet[Schedule]:
    """Schedules the user can see: all of the organization for owners, else their teams'."""
    schedules = scoped(Schedule, user.organization)
    if user.is_owner:
        return schedules
    return schedules.filter(team__in=user.teams.all())


def schedule_get(*, user: User, schedule_id: int) -> Schedule:
    """One visible schedule with its team, or 404 (also for other organizations' ids)."""
    return get_for_org_or_404(
        schedule_visible_list(user=user).select_related("team"), user.organization, pk=schedule_id
    )


def schedule_manageable(*, user: User) -> QuerySet[Schedule]:
    """Schedules the user may edit (owners: all; members: their teams')."""
    if user.role == Role.STAKEHOLDER:
        return scoped(Schedule, user.organization).none()
    return schedule_visible_list(user=user)


def current_layers(schedule: Schedule) -> list[ScheduleLayer]:
    """The layers as they are now (current versions), highest priority first."""
    return list(
        ScheduleLayer.objects.filter(schedule=schedule, effective_until__isnull=True).order_by(
            "-priority", "id"
        )
    )


def layer_get(*, schedule: Schedule, layer_id: int) -> ScheduleLayer:
    """The current version of one of the schedule's layers (by any version's id), or 404."""
    from django.http import Http404

    lineage = (
        ScheduleLayer.objects.filter(schedule=schedule, pk=layer_id)
        .values_list("lineage", flat=True)
        .first()
    )
    layer = (
        ScheduleLayer.objects.filter(
            schedule=schedule, lineage=lineage, effective_until__isnull=True
        )
        .select_related("schedule", "schedule__team")
        .first()
        if lineage is not None
        else None
    )
    if layer is None:
        raise Http404("Not found.")
    return layer


def override_list(
    *, schedule: Schedule, since: datetime | None = None, until: datetime | None = None
) -> QuerySet[ScheduleOverride]:
    """Overrides, earliest first; `since` keeps those not yet ended, `until` those started."""
    overrides = ScheduleOverride.objects.filter(schedule=schedule).select_related("user")
    if since is not None:
        overrides = overrides.filter(end__gt=since)
    if until is not None:
        overrides = overrides.filter(start__lt=until)
    return overrides.order_by("start", "id")


def schedule_inputs(
    schedule: Schedule, start: datetime, end: datetime
) -> tuple[list[shifts.LayerSpec], list[shifts.OverrideSpec]]:
    """Every layer version and override that can shape the shifts of [start, end)."""
    return schedule_inputs_many([schedule], start, end)[schedule.pk]


def schedule_inputs_many(
    schedules: Iterable[Schedule], start: datetime, end: datetime
) -> dict[int, tuple[list[shifts.LayerSpec], list[shifts.OverrideSpec]]]:
    """`schedule_inputs` of several schedules, by schedule id, in two queries (a page that
    shows many schedules reads them together, not two queries each)."""
    ids = [schedule.pk for schedule in schedules]
    inputs: dict[int, tuple[list[shifts.LayerSpec], list[shifts.OverrideSpec]]] = {
        pk: ([], []) for pk in ids
    }
    if not ids:
        return inputs
    low, high = start - CONTEXT, end + CONTEXT
    for layer in (
        ScheduleLayer.objects.filter(schedule_id__in=ids, effective_from__lt=high)
        .filter(Q(effective_until__isnull=True) | Q(effective_until__gt=low))
        .order_by("id")
    ):
        inputs[layer.schedule_id][0].append(layer_spec(layer))
    # Epoch seconds rather than timestamptz: psycopg's timestamptz parsing was half the time
    # of a 120-day timeline with 200 overrides (bench/schedules.py).
    for schedule_id, pk, o_start, o_end, user_id in (
        ScheduleOverride.objects.filter(schedule_id__in=ids, start__lt=high, end__gt=low)
        .annotate(start_epoch=_Epoch("start"), end_epoch=_Epoch("end"))
        .order_by("start", "id")
        .values_list("schedule_id", "pk", "start_epoch", "end_epoch", "user_id")
    ):
        inputs[schedule_id][1].append(
            shifts.OverrideSpec(
                override_id=pk,
                start=_bounded_instant(o_start),
                end=_bounded_instant(o_end),
                users=(user_id,),
            )
        )
    return inputs


_EARLIEST_EPOCH, _LATEST_EPOCH = EARLIEST.timestamp(), LATEST.timestamp()


def _bounded_instant(epoch: float) -> datetime:
    """A stored time read within the time bounds (opsduty/timebounds.py): a row stored before
    the bound existed, up to 9999-12-31 23:59:59.999999, reads as the bound. (As a float, the
    last microsecond of 9999 rounds up into year 10000, which Python cannot hold.)"""
    return datetime.fromtimestamp(min(max(epoch, _EARLIEST_EPOCH), _LATEST_EPOCH), UTC)


class _Epoch(Func):
    """A timestamptz as float seconds since the epoch (exact to the microsecond)."""

    template = "EXTRACT(EPOCH FROM %(expressions)s)::float8"
    output_field = FloatField()


def schedule_shifts(schedule: Schedule, start: datetime, end: datetime) -> list[shifts.Shift]:
    """The final shifts intersecting [start, end), with their real start and end."""
    layers, overrides = schedule_inputs(schedule, start, end)
    return shifts.final_shifts(layers, overrides, start, end)


@dataclass(frozen=True, slots=True)
class Timeline:
    """What the schedule page draws: each layer's own shifts, the overrides and the result."""

    layers: list[tuple[ScheduleLayer, list[shifts.Shift]]]
    overrides: list[shifts.Shift]
    final: list[shifts.Shift]
    gaps: list[tuple[datetime, datetime]]


def schedule_timeline(schedule: Schedule, start: datetime, end: datetime) -> Timeline:
    """Rows per layer (by lineage, current layers first), overrides, final row and gaps."""
    layers, overrides = schedule_inputs(schedule, start, end)
    rows = shifts.layers_rows(layers, start, end)
    current = current_layers(schedule)
    seen = {layer.lineage or layer.pk for layer in current}
    ended = list(
        ScheduleLayer.objects.filter(schedule=schedule, lineage__in=set(rows) - seen)
        .order_by("lineage", "-effective_from")
        .distinct("lineage")
    )
    return Timeline(
        layers=[(layer, rows.get(layer.lineage or layer.pk, [])) for layer in [*current, *ended]],
        overrides=[
            shifts.Shift(
                start=o.start,
                end=o.end,
                users=o.users,
                layer_id=None,
                override_ids=(o.override_id,),
            )
            for o in overrides
            if o.end > start and o.start < end
        ],
        final=shifts.final_shifts(layers, overrides, start, end),
        # Nobody was on call before the schedule existed: that is not a gap worth showing.
        gaps=shifts.gaps(layers, overrides, max(start, schedule.created_at), end)
        if end > schedule.created_at
        else [],
    )


# --- who is on call -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Cached:
    version: int
    start: datetime
    end: datetime
    starts: list[datetime]
    rows: list[shifts.Shift]


_oncall_cache: dict[int, _Cached] = {}


def oncall_user_ids(schedule: Schedule, at: datetime) -> tuple[int, ...]:
    """The ids of whoever is on call in `schedule` at `at` (a fresh `schedule` row: its
    version decides whether the cached timeline is still good)."""
    return oncall_user_ids_many([schedule], at)[schedule.pk]


def _cache_good(schedule: Schedule, at: datetime) -> bool:
    hit = _oncall_cache.get(schedule.pk)
    return hit is not None and hit.version == schedule.version and hit.start <= at < hit.end


def oncall_user_ids_many(schedules: Iterable[Schedule], at: datetime) -> dict[int, tuple[int, ...]]:
    """`oncall_user_ids` of several schedules, by id; the timelines not cached are read
    together (`schedule_inputs_many`: two queries, whatever their number)."""
    chosen = list(schedules)
    missing = [schedule for schedule in chosen if not _cache_good(schedule, at)]
    if missing:
        if len(_oncall_cache) + len(missing) > CACHE_MAX_SCHEDULES:
            _oncall_cache.clear()
            missing = chosen
        start, end = at - CACHE_BEHIND, at + CACHE_AHEAD
        inputs = schedule_inputs_many(missing, start, end)
        for schedule in missing:
            layers, overrides = inputs[schedule.pk]
            rows = shifts.final_shifts(layers, overrides, start, end)
            _oncall_cache[schedule.pk] = _Cached(
                schedule.version, start, end, [row.start for row in rows], rows
            )
    found: dict[int, tuple[int, ...]] = {}
    for schedule in chosen:
        hit = _oncall_cache[schedule.pk]
        index = bisect.bisect_right(hit.starts, at) - 1
        found[schedule.pk] = (
            hit.rows[index].users if index >= 0 and hit.rows[index].end > at else ()
        )
    return found


def oncall_next_change(schedule: Schedule, at: datetime) -> datetime | None:
    """When who is on call next changes after `at` (a handoff, within the cached window),
    or None; a page showing who is on call refreshes then."""
    oncall_user_ids(schedule, at)  # fills the cache for `at`
    hit = _oncall_cache[schedule.pk]
    index = bisect.bisect_right(hit.starts, at) - 1
    if index >= 0 and hit.rows[index].end > at:
        return hit.rows[index].end
    return hit.starts[index + 1] if index + 1 < len(hit.starts) else None


def oncall_forget() -> None:
    """Drop every cached timeline (tests)."""
    _oncall_cache.clear()


def responders(user_ids: Iterable[int]) -> list[User]:
    """The users among `user_ids` who can be paged (active, not stakeholders), by id."""
    ids = set(user_ids)
    if not ids:
        return []
    return list(
        User.objects.filter(pk__in=ids, is_active=True)
        .exclude(role=Role.STAKEHOLDER)
        .order_by("id")
    )


def oncall_users(schedule: Schedule, at: datetime) -> list[User]:
    """Who is on call in the schedule at `at` (pageable users only)."""
    return responders(oncall_user_ids(schedule, at))


def user_shifts(
    *, user: User, start: datetime, end: datetime
) -> list[tuple[Schedule, shifts.Shift]]:
    """The user's own final shifts in [start, end) over every schedule of the organization."""
    mine: list[tuple[Schedule, shifts.Shift]] = []
    # jsonb containment: some group of some layer version holds the user.
    schedules = scoped(Schedule, user.organization).filter(
        Q(layers__groups__contains=[[user.pk]]) | Q(overrides__user=user)
    )
    chosen = {schedule.pk: schedule for schedule in schedules.distinct().order_by("id")}
    for pk, (layers, overrides) in schedule_inputs_many(chosen.values(), start, end).items():
        for row in shifts.final_shifts(layers, overrides, start, end):
            if user.pk in row.users:
                mine.append((chosen[pk], row))
    mine.sort(key=lambda item: (item[1].start, item[0].pk))
    return mine


def schedule_gaps(
    schedule: Schedule, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """Periods in [start, end) when nobody is on call."""
    return schedule_gaps_many([schedule], start, end)[schedule.pk]


def schedule_gaps_many(
    schedules: Iterable[Schedule], start: datetime, end: datetime
) -> dict[int, list[tuple[datetime, datetime]]]:
    """`schedule_gaps` of several schedules, by id, in three queries. A shift of people who
    cannot be paged (deactivated, stakeholders) is a gap."""
    chosen = list(schedules)
    inputs = schedule_inputs_many(chosen, start, end)
    pageable = set(
        User.objects.filter(
            organization_id__in={schedule.organization_id for schedule in chosen}, is_active=True
        )
        .exclude(role=Role.STAKEHOLDER)
        .values_list("pk", flat=True)
    )
    return {
        pk: shifts.gaps(layers, overrides, start, end, pageable)
        for pk, (layers, overrides) in inputs.items()
    }
