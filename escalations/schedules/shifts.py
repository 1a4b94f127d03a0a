"""Pure on-call shift computation: layers, overrides and the final timeline.

No Django and no database here: the schedule services load rows, build the specs below and
call these functions. Everything returned is aware UTC.

Recurrence happens on local wall-clock dates in the layer's zone, so a 09:00 handoff stays
09:00 local across DST changes and a 24 h shift over a spring-forward night lasts 23 real
hours. Local times are turned into instants with zoneinfo's fold=0 and UTC normalisation:
a time inside a spring-forward gap lands after the gap (02:30 in Oslo on the change night is
03:30 CEST), an ambiguous autumn time means its first occurrence (still summer time).

Occurrences are computed arithmetically from the layer's start rather than by iterating a
dateutil rrule: rrule walks from dtstart on every call (years of occurrences for an old
layer), the rolling index needs arithmetic anyway, and rrule cannot express the monthly
"day 31 means the last day of a short month" clamp. The tests check this arithmetic
against dateutil.rrule.
"""

from __future__ import annotations

import calendar
import heapq
from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_SHIFT_LENGTH = timedelta(days=366)
# Generous bound on how far a local wall-clock time can sit from the instant it names relative
# to another local time in the same zone (UTC offsets within one zone differ by < 2 days).
_LOCAL_MARGIN = timedelta(days=2)
_TICK = timedelta(microseconds=1)
_MIN = datetime.min.replace(tzinfo=UTC)
_MAX = datetime.max.replace(tzinfo=UTC)


class Frequency(StrEnum):
    NONE = "none"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class Rotation(StrEnum):
    ROLLING = "rolling"
    PLAIN = "plain"


@dataclass(frozen=True, slots=True)
class LayerSpec:
    layer_id: int
    priority: int
    timezone: str
    start: datetime
    shift_length: timedelta
    frequency: Frequency
    rotation: Rotation
    groups: tuple[tuple[int, ...], ...]
    interval: int = 1
    by_day: tuple[int, ...] = ()
    until: datetime | None = None
    effective_from: datetime | None = None
    effective_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class OverrideSpec:
    override_id: int
    start: datetime
    end: datetime
    users: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Shift:
    start: datetime
    end: datetime
    users: tuple[int, ...]
    layer_id: int | None
    override_ids: tuple[int, ...] = ()


# ---------------------------------------------------------------- recurrence


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A layer's derived, reusable facts (cached per LayerSpec)."""

    tz: ZoneInfo
    days: tuple[int, ...]  # sorted unique weekdays (WEEKLY) or days of month (MONTHLY)
    users: tuple[tuple[int, ...], ...]  # per rotation slot, sorted unique
    eff_from: datetime | None
    eff_until: datetime | None


@lru_cache(maxsize=256)
def _zone(key: str) -> ZoneInfo:
    return ZoneInfo(key)


@lru_cache(maxsize=1024)
def _prepare(layer: LayerSpec) -> _Prepared:
    if layer.frequency == Frequency.WEEKLY:
        days = tuple(sorted(set(layer.by_day))) or (layer.start.weekday(),)
    elif layer.frequency == Frequency.MONTHLY:
        days = tuple(sorted(set(layer.by_day))) or (layer.start.day,)
    else:
        days = ()
    groups = tuple(tuple(sorted(set(g))) for g in layer.groups)
    if layer.rotation == Rotation.PLAIN or not groups:
        groups = (tuple(sorted({u for g in layer.groups for u in g})),)
    return _Prepared(
        tz=_zone(layer.timezone),
        days=days,
        users=groups,
        eff_from=_utc(layer.effective_from) if layer.effective_from else None,
        eff_until=_utc(layer.effective_until) if layer.effective_until else None,
    )


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"expected an aware datetime, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


def _instant(local: datetime, tz: ZoneInfo) -> datetime:
    # fold=0 (the default): gap times land after the gap, ambiguous times take the first.
    return local.replace(tzinfo=tz).astimezone(UTC)


def _occurrences(
    layer: LayerSpec, days: tuple[int, ...], after: datetime
) -> Iterator[tuple[int, datetime]]:
    """Yield (index, local start) in order, beginning at or before the last one <= `after`.

    `after` is naive local. Stops at `until` (exclusive) and at the end of the calendar.
    """
    if layer.until is not None:
        # Never jump past the last occurrence: its shift (uncut, nothing follows) may be long.
        after = min(after, layer.until - _TICK)
    if layer.frequency == Frequency.DAILY:
        gen = _daily(layer, after)
    elif layer.frequency == Frequency.WEEKLY:
        gen = _weekly(layer, days, after)
    elif layer.frequency == Frequency.MONTHLY:
        gen = _monthly(layer, days, after)
    else:
        gen = iter([(0, layer.start)])
    try:
        for k, local in gen:
            if layer.until is not None and local >= layer.until:
                return
            yield k, local
    except (OverflowError, ValueError):  # ran past year 9999
        return


def _daily(layer: LayerSpec, after: datetime) -> Iterator[tuple[int, datetime]]:
    step = timedelta(days=max(layer.interval, 1))
    k = max((after - layer.start) // step, 0) if after > layer.start else 0
    while True:
        yield k, layer.start + k * step
        k += 1


def _weekly(
    layer: LayerSpec, days: tuple[int, ...], after: datetime
) -> Iterator[tuple[int, datetime]]:
    n = max(layer.interval, 1)
    start_day = layer.start.date()
    monday0 = start_day - timedelta(days=start_day.weekday())
    first_week = [d for d in days if d >= start_day.weekday()]
    weeks_to_after = (after.date() - monday0).days // 7
    week = max((weeks_to_after // n - 1) * n, 0)
    k = 0 if week == 0 else len(first_week) + (week // n - 1) * len(days)
    at = layer.start.time()
    while True:
        monday = monday0 + timedelta(days=7 * week)
        for d in first_week if week == 0 else days:
            yield k, datetime.combine(monday + timedelta(days=d), at)
            k += 1
        week += n


def _month_days(days: tuple[int, ...], year: int, month: int) -> list[int]:
    last = calendar.monthrange(year, month)[1]
    return sorted({min(d, last) for d in days})


def _monthly(
    layer: LayerSpec, days: tuple[int, ...], after: datetime
) -> Iterator[tuple[int, datetime]]:
    n = max(layer.interval, 1)
    base = layer.start.year * 12 + layer.start.month - 1
    months_to_after = after.year * 12 + after.month - 1 - base
    target = max((months_to_after // n - 1) * n, 0)
    month, k = 0, 0
    # Skip whole months by counting their occurrences; clamping (day 31 in a 30-day month) can
    # merge days, so the count varies only when some requested day is past the 28th.
    while month < target:
        if month == 0:
            k += len(_month_occurrence_days(layer, days, 0))
            month += n
        elif max(days) <= 28:
            k += ((target - month) // n) * len(days)
            month = target
        else:
            k += len(_month_occurrence_days(layer, days, month))
            month += n
    at = layer.start.time()
    while True:
        year, mon0 = divmod(base + month, 12)
        for d in _month_occurrence_days(layer, days, month):
            yield k, datetime.combine(date(year, mon0 + 1, d), at)
            k += 1
        month += n


def _month_occurrence_days(layer: LayerSpec, days: tuple[int, ...], month: int) -> list[int]:
    year, mon0 = divmod(layer.start.year * 12 + layer.start.month - 1 + month, 12)
    found = _month_days(days, year, mon0 + 1)
    if month == 0:
        found = [d for d in found if d >= layer.start.day]
    return found


# ---------------------------------------------------------------- one layer


@dataclass(frozen=True, slots=True)
class _Piece:
    """A layer shift plus the identity the final sweep needs."""

    start: datetime
    end: datetime
    users: tuple[int, ...]
    index: int  # occurrence index k


def _layer_pieces(layer: LayerSpec, start: datetime, end: datetime) -> list[_Piece]:
    prep = _prepare(layer)
    lo = max(_utc(start), prep.eff_from) if prep.eff_from else _utc(start)
    hi = min(_utc(end), prep.eff_until) if prep.eff_until else _utc(end)
    if lo >= hi:
        return []
    tz = prep.tz
    local_lo = lo.astimezone(tz).replace(tzinfo=None) - _LOCAL_MARGIN
    local_hi = hi.astimezone(tz).replace(tzinfo=None) + _LOCAL_MARGIN
    occurrences: list[tuple[int, datetime]] = []
    for k, local in _occurrences(layer, prep.days, local_lo):
        occurrences.append((k, local))
        if local >= local_hi:  # keep one past the window: it cuts the shift before it
            break
    starts = [_instant(local, tz) for _, local in occurrences]
    pieces = []
    for i, (k, local) in enumerate(occurrences):
        s = starts[i]
        e = _instant(local + layer.shift_length, tz)
        if i + 1 < len(starts):  # within a layer, a shift ends where the next one starts
            e = min(e, starts[i + 1])
        if prep.eff_from is not None:
            s = max(s, prep.eff_from)
        if prep.eff_until is not None:
            e = min(e, prep.eff_until)
        if s < e and s < hi and e > lo:
            pieces.append(_Piece(s, e, prep.users[k % len(prep.users)], k))
    return pieces


def layer_shifts(layer: LayerSpec, start: datetime, end: datetime) -> list[Shift]:
    """The shifts of one layer version intersecting [start, end), with their real extents."""
    return [
        Shift(p.start, p.end, p.users, layer.layer_id) for p in _layer_pieces(layer, start, end)
    ]


def layers_rows(
    layers: Sequence[LayerSpec], start: datetime, end: datetime
) -> dict[int, list[Shift]]:
    """Per layer lineage, the shifts of all its versions intersecting [start, end)."""
    rows: dict[int, list[Shift]] = {}
    for layer in layers:
        rows.setdefault(layer.layer_id, []).extend(layer_shifts(layer, start, end))
    for shifts in rows.values():
        shifts.sort(key=lambda s: (s.start, s.end))
    return rows


# ---------------------------------------------------------------- final timeline


@dataclass(frozen=True, slots=True)
class _Item:
    start: datetime
    end: datetime
    users: tuple[int, ...]
    layer_id: int | None  # lineage; None for an override
    origin: tuple[int, int]  # (layer position, occurrence index) or (-1, override id)
    rank: tuple[int, int, int] = (0, 0, 0)  # layers only: higher wins


def _layer_items(layers: Sequence[LayerSpec], start: datetime, end: datetime) -> list[_Item]:
    # Versions of one lineage should not overlap; if they do, the later-starting one wins.
    order = sorted(
        range(len(layers)),
        key=lambda i: (layers[i].effective_from or _MIN, i),
    )
    items = []
    for version_rank, pos in enumerate(order):
        layer = layers[pos]
        rank = (layer.priority, layer.layer_id, version_rank)
        for p in _layer_pieces(layer, start, end):
            items.append(_Item(p.start, p.end, p.users, layer.layer_id, (pos, p.index), rank))
    return items


def _override_items(
    overrides: Sequence[OverrideSpec], start: datetime, end: datetime
) -> list[_Item]:
    items = []
    for o in overrides:
        s, e = _utc(o.start), _utc(o.end)
        if s < e and s < end and e > start:
            users = tuple(sorted(set(o.users)))
            items.append(_Item(s, e, users, None, (-1, o.override_id)))
    return items


class _Sweep:
    """Walks the sorted boundaries once: active overrides in a dict, layers in a max-heap."""

    def __init__(self, items: list[_Item]) -> None:
        self.starts: dict[datetime, list[_Item]] = {}
        self.ends: dict[datetime, list[_Item]] = {}
        for item in items:
            self.starts.setdefault(item.start, []).append(item)
            self.ends.setdefault(item.end, []).append(item)
        self.heap: list[tuple[tuple[int, int, int], int, _Item]] = []
        self.active: dict[int, _Item] = {}  # override id -> item
        self.seq = 0

    def advance(self, t: datetime) -> _Item | None:
        """Apply the changes at `t`; return the top layer item covering [t, next bound)."""
        for item in self.ends.get(t, ()):
            if item.layer_id is None:
                self.active.pop(item.origin[1], None)
        for item in self.starts.get(t, ()):
            if item.layer_id is None:
                self.active[item.origin[1]] = item
            else:
                self.seq += 1
                neg = (-item.rank[0], -item.rank[1], -item.rank[2])
                heapq.heappush(self.heap, (neg, self.seq, item))
        while self.heap and self.heap[0][2].end <= t:  # lazy deletion of ended shifts
            heapq.heappop(self.heap)
        return self.heap[0][2] if self.heap else None

    def rows(self) -> list[Shift]:
        rows: list[Shift] = []
        run_key: object = None
        run_start = _MIN
        run: tuple[tuple[int, ...], int | None, tuple[int, ...]] = ((), None, ())
        for t in sorted(self.starts.keys() | self.ends.keys()):
            top = self.advance(t)
            key: object = frozenset(self.active) if self.active else top and top.origin
            if key == run_key:
                continue
            if run_key is not None:
                rows.append(Shift(run_start, t, *run))
            run_key, run_start = key, t
            if self.active:
                users = tuple(sorted({u for o in self.active.values() for u in o.users}))
                run = (users, None, tuple(sorted(self.active)))
            elif top is not None:
                run = (top.users, top.layer_id, ())
        # The last boundary is the latest end, where everything has ended: no run is open.
        return rows


def final_shifts(
    layers: Sequence[LayerSpec],
    overrides: Sequence[OverrideSpec],
    start: datetime,
    end: datetime,
) -> list[Shift]:
    """The final timeline's rows intersecting [start, end), with their real extents."""
    start, end = _utc(start), _utc(end)
    if start >= end:
        return []
    # A row never outlasts the shift or override it comes from, so the items touching the
    # window bound every row touching it: sweep over their whole span for real row extents.
    layer_items = {i.origin: i for i in _layer_items(layers, start, end)}
    all_overrides = _override_items(overrides, _MIN, _MAX)
    near_overrides = _within(all_overrides, start, end)
    if not layer_items and not near_overrides:
        return []
    # Layer shifts are needed only as far as the layer shifts touching the window reach (a
    # shift lasts at most 366 days): nothing of a layer changes where an override row ends,
    # since overrides win. So an override that runs for decades (up to the year 2100, see
    # opsduty/timebounds.py) costs no decades of layer shifts, and never overflows a date.
    layer_lo = min([start, *(i.start for i in layer_items.values())])
    layer_hi = max([end, *(i.end for i in layer_items.values())])
    lo = min([layer_lo, *(i.start for i in near_overrides)])
    hi = max([layer_hi, *(i.end for i in near_overrides)])
    for extra in (*_layer_items(layers, layer_lo, start), *_layer_items(layers, end, layer_hi)):
        layer_items.setdefault(extra.origin, extra)
    rows = _Sweep([*layer_items.values(), *_within(all_overrides, lo, hi)]).rows()
    return [r for r in rows if r.start < end and r.end > start]


def _within(items: list[_Item], start: datetime, end: datetime) -> list[_Item]:
    return [i for i in items if i.start < end and i.end > start]


def oncall_at(
    layers: Sequence[LayerSpec], overrides: Sequence[OverrideSpec], at: datetime
) -> tuple[int, ...]:
    """The users on call at an instant (sorted); () for nobody."""
    at = _utc(at)
    covering = _override_items(overrides, at, at + _TICK)
    if covering:
        return tuple(sorted({u for o in covering for u in o.users}))
    items = _layer_items(layers, at, at + _TICK)
    if not items:
        return ()
    return max(items, key=lambda i: i.rank).users


def gaps(
    layers: Sequence[LayerSpec],
    overrides: Sequence[OverrideSpec],
    start: datetime,
    end: datetime,
    pageable: Container[int] | None = None,
) -> list[tuple[datetime, datetime]]:
    """Periods within [start, end) (clipped) where nobody is on call; with `pageable`, a
    shift of people none of whom is in it (deactivated, stakeholders) is one of them."""
    start, end = _utc(start), _utc(end)
    found: list[tuple[datetime, datetime]] = []
    cursor = start
    for row in final_shifts(layers, overrides, start, end):
        if not row.users:  # an override or group with nobody in it: still nobody on call
            continue
        if pageable is not None and not any(user in pageable for user in row.users):
            continue
        if row.start > cursor:
            found.append((cursor, row.start))
        cursor = max(cursor, row.end)
    if cursor < end:
        found.append((cursor, end))
    return found


# ---------------------------------------------------------------- validation


def validate_layer(layer: LayerSpec, *, now: datetime | None = None) -> dict[str, str]:
    """Field -> human message for everything wrong with a layer; {} when it is valid."""
    errors: dict[str, str] = {}
    tz = _validate_timezone(layer, errors)
    _validate_times(layer, errors, tz, now)
    _validate_recurrence(layer, errors)
    _validate_groups(layer, errors)
    return errors


def _validate_timezone(layer: LayerSpec, errors: dict[str, str]) -> ZoneInfo | None:
    try:
        return _zone(layer.timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        errors["timezone"] = f"Unknown time zone {layer.timezone!r}: use an IANA name."
        return None


def _validate_times(
    layer: LayerSpec, errors: dict[str, str], tz: ZoneInfo | None, now: datetime | None
) -> None:
    if layer.start.tzinfo is not None:
        errors["start"] = "The start must be a local date and time without a time zone."
    elif now is not None and tz is not None and _instant(layer.start, tz) < _utc(now):
        local_now = _utc(now).astimezone(tz).strftime("%Y-%m-%d %H:%M")
        errors["start"] = (
            f"The start must be in the future: {layer.start:%Y-%m-%d %H:%M} is before now "
            f"({local_now} in {layer.timezone})."
        )
    if layer.until is not None:
        if layer.until.tzinfo is not None:
            errors["until"] = "Repeat-until must be a local date and time without a time zone."
        elif layer.start.tzinfo is None and layer.until <= layer.start:
            errors["until"] = "Repeat-until must be after the start."
    if layer.shift_length <= timedelta(0):
        errors["shift_length"] = "The shift length must be positive: zero-length shifts refused."
    elif layer.shift_length > MAX_SHIFT_LENGTH:
        errors["shift_length"] = "The shift length must be at most 366 days."


def _validate_recurrence(layer: LayerSpec, errors: dict[str, str]) -> None:
    if layer.frequency not in tuple(Frequency):
        errors["frequency"] = f"Unknown frequency {layer.frequency!r}."
    if layer.rotation not in tuple(Rotation):
        errors["rotation"] = f"Unknown rotation {layer.rotation!r}."
    if layer.interval < 1:
        errors["interval"] = "The interval must be at least 1."
    if layer.frequency == Frequency.WEEKLY:
        if any(not 0 <= d <= 6 for d in layer.by_day):
            errors["by_day"] = "Weekly days must be weekdays 0 (Monday) to 6 (Sunday)."
    elif layer.frequency == Frequency.MONTHLY and any(not 1 <= d <= 31 for d in layer.by_day):
        errors["by_day"] = "Monthly days must be days of the month from 1 to 31."


def _validate_groups(layer: LayerSpec, errors: dict[str, str]) -> None:
    if not layer.groups:
        errors["groups"] = "Add at least one group of users."
    elif any(not g for g in layer.groups):
        errors["groups"] = "Every group needs at least one user."


__all__ = [
    "MAX_SHIFT_LENGTH",
    "Frequency",
    "LayerSpec",
    "OverrideSpec",
    "Rotation",
    "Shift",
    "final_shifts",
    "gaps",
    "layer_shifts",
    "layers_rows",
    "oncall_at",
    "validate_layer",
]
