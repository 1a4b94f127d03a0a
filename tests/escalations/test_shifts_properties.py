"""Properties of the shift computation, checked against a brute-force reference.

The reference enumerates occurrences from the layer's start with dateutil.rrule (and a
month-by-month loop for clamped monthly days), so the module's arithmetic jump-ahead and
rolling index are checked against plain counting. The final timeline is checked instant by
instant at every boundary and between boundaries (it is constant in between).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, rrule
from hypothesis import given, settings
from hypothesis import strategies as st

from escalations.schedules.shifts import (
    Frequency,
    LayerSpec,
    OverrideSpec,
    Rotation,
    Shift,
    final_shifts,
    gaps,
    layer_shifts,
    layers_rows,
    oncall_at,
)

PROFILE = settings(deadline=None, max_examples=100, derandomize=True, database=None)
TICK = timedelta(microseconds=1)
ZONES = ["UTC", "Europe/Oslo", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
# Days with DST changes in 2027 in the zones above, so examples land on them often.
DST_DAYS = [date(2027, 3, 14), date(2027, 3, 28), date(2027, 4, 4), date(2027, 10, 3)]
DST_DAYS += [date(2027, 10, 31), date(2027, 11, 7)]
QUARTER = timedelta(minutes=15)


# ---------------------------------------------------------------- strategies
# Each example draws one base day (often a DST change) and puts its layers, overrides and
# window within days of it, so that they interact instead of missing each other.


@dataclass(frozen=True)
class Scenario:
    layers: list[LayerSpec]
    overrides: list[OverrideSpec]
    start: datetime
    end: datetime


class Near:
    """Draws local and UTC times within about two weeks of one base day."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        day = draw(st.sampled_from(DST_DAYS) | st.dates(date(2027, 1, 1), date(2027, 12, 31)))
        self.base = datetime.combine(day, datetime.min.time())

    def local(self, before: int = 14, after: int = 14) -> datetime:
        return self.base + self.draw(st.integers(-before * 96, after * 96)) * QUARTER

    def instant(self, before: int = 7, after: int = 7) -> datetime:
        return self.local(before, after).replace(tzinfo=UTC)

    def length(self) -> timedelta:
        return self.draw(st.integers(1, 3 * 96) | st.integers(1, 20 * 96)) * QUARTER

    def layer(self, layer_id: int | None = None, tied: bool = False) -> LayerSpec:
        draw = self.draw
        frequency = draw(st.sampled_from(Frequency))
        by_day: tuple[int, ...] = ()
        if frequency == Frequency.WEEKLY:
            by_day = tuple(draw(st.sets(st.integers(0, 6), max_size=4)))
        elif frequency == Frequency.MONTHLY:
            days = st.integers(1, 31) | st.integers(27, 31)
            by_day = tuple(draw(st.sets(days, max_size=3)))
        # Mostly started shortly before the base day (so it is active around it), sometimes
        # long before (jump ahead) or after.
        start = self.local(60, 60) if draw(st.integers(0, 3)) == 0 else self.local(14, 1)
        group = st.lists(st.integers(1, 9), min_size=1, max_size=3).map(tuple)
        maybe = st.booleans().map(lambda b: b and not draw(st.booleans()))  # ~1/4 True
        return LayerSpec(
            layer_id=layer_id if layer_id is not None else draw(st.integers(1, 3)),
            priority=0 if tied else draw(st.integers(0, 1)),
            timezone=draw(st.sampled_from(ZONES)),
            start=start,
            shift_length=self.length(),
            frequency=frequency,
            rotation=draw(st.sampled_from(Rotation)),
            groups=tuple(draw(st.lists(group, min_size=1, max_size=4))),
            interval=draw(st.integers(1, 3)),
            by_day=by_day,
            until=start + self.length() * 3 if draw(maybe) else None,
            effective_from=self.instant(7, 3) if draw(maybe) else None,
            effective_until=self.instant(1, 10) if draw(maybe) else None,
        )

    def overrides(self) -> list[OverrideSpec]:
        found = []
        for i in range(self.draw(st.integers(0, 6))):
            start = self.instant()
            users = tuple(self.draw(st.sets(st.integers(10, 13), max_size=2)))
            found.append(OverrideSpec(i, start, start + self.length(), users))
        return found


@st.composite
def scenarios(draw: st.DrawFn, one_lineage: bool = False) -> Scenario:
    near = Near(draw)
    count = draw(st.integers(1, 2) if one_lineage else st.integers(1, 4) | st.just(0))
    tied = draw(st.booleans())  # all on one priority: the layer id decides
    layers = [near.layer(1 if one_lineage else None, tied) for _ in range(count)]
    start = near.instant(2, 7)
    length = draw(st.integers(1, 8) | st.integers(1, 20 * 96)) * QUARTER
    return Scenario(layers, near.overrides(), start, start + length)


# ---------------------------------------------------------------- reference


def reference_starts(layer: LayerSpec, limit: datetime) -> list[datetime]:
    """Every local start from the layer's start up to `limit` (naive local), by brute force."""
    if layer.frequency == Frequency.NONE:
        found = [layer.start]
    elif layer.frequency == Frequency.MONTHLY and max(layer.by_day, default=0) > 28:
        found = clamped_monthly(layer, limit)
    else:
        weekly = layer.frequency == Frequency.WEEKLY
        monthly = layer.frequency == Frequency.MONTHLY
        rule = rrule(
            WEEKLY if weekly else MONTHLY if monthly else DAILY,
            dtstart=layer.start,
            interval=layer.interval,
            byweekday=layer.by_day if weekly and layer.by_day else None,
            bymonthday=layer.by_day if monthly and layer.by_day else None,
            until=limit,
        )
        found = list(rule)
    return [t for t in found if layer.until is None or t < layer.until]


def clamped_monthly(layer: LayerSpec, limit: datetime) -> list[datetime]:
    found = []
    year, month = layer.start.year, layer.start.month
    while date(year, month, 1) <= limit.date():
        last = calendar.monthrange(year, month)[1]
        for day in sorted({min(d, last) for d in layer.by_day}):
            moment = datetime.combine(date(year, month, day), layer.start.time())
            if layer.start <= moment <= limit:
                found.append(moment)
        month += layer.interval
        year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return found


def reference_shifts(layer: LayerSpec, start: datetime, end: datetime) -> list[Shift]:
    tz = ZoneInfo(layer.timezone)
    limit = end.astimezone(tz).replace(tzinfo=None) + timedelta(days=100)
    starts = reference_starts(layer, limit)
    instants = [t.replace(tzinfo=tz).astimezone(UTC) for t in starts]
    found = []
    for k, local in enumerate(starts):
        s = instants[k]
        e = (local + layer.shift_length).replace(tzinfo=tz).astimezone(UTC)
        if k + 1 < len(starts):
            e = min(e, instants[k + 1])
        if layer.effective_from is not None:
            s = max(s, layer.effective_from)
        if layer.effective_until is not None:
            e = min(e, layer.effective_until)
        if layer.rotation == Rotation.ROLLING:
            users = tuple(sorted(set(layer.groups[k % len(layer.groups)])))
        else:
            users = tuple(sorted({u for g in layer.groups for u in g}))
        if s < e and s < end and e > start:
            found.append(Shift(s, e, users, layer.layer_id))
    return found


def expected_users(
    layers: list[LayerSpec], overrides: list[OverrideSpec], at: datetime
) -> tuple[int, ...] | None:
    """Who the rules say is on call at `at`; None when nothing covers it."""
    covering = [o for o in overrides if o.start <= at < o.end]
    if covering:
        return tuple(sorted({u for o in covering for u in o.users}))
    best: tuple[tuple[object, ...], tuple[int, ...]] | None = None
    for pos, layer in enumerate(layers):
        # Ties within one lineage: the version that became effective later wins.
        eff = layer.effective_from or datetime.min.replace(tzinfo=UTC)
        rank = (layer.priority, layer.layer_id, eff, pos)
        for shift in reference_shifts(layer, at, at + TICK):
            if best is None or rank > best[0]:
                best = (rank, shift.users)
    return best[1] if best else None


def sample_instants(
    case: Scenario, rows: list[Shift], extra: Iterable[tuple[datetime, datetime]] = ()
) -> list[datetime]:
    """Every boundary inside the window and one instant between each pair of them."""
    start, end = case.start, case.end
    spans = [(s.start, s.end) for v in case.layers for s in layer_shifts(v, start, end)]
    spans += [(o.start, o.end) for o in case.overrides] + [(r.start, r.end) for r in rows]
    bounds = {start, end}
    for s, e in [*spans, *extra]:
        bounds.update(t for t in (s, e) if start < t < end)
    ordered = sorted(bounds)
    mids = [a + (b - a) / 2 for a, b in zip(ordered, ordered[1:], strict=False)]
    return sorted(t for t in {*ordered, *mids} if start <= t < end)


def covers(rows: list[Shift], at: datetime) -> list[Shift]:
    return [r for r in rows if r.start <= at < r.end]


def assert_well_formed(shifts: list[Shift], start: datetime, end: datetime) -> None:
    for s in shifts:
        assert s.start.tzinfo is UTC and s.end.tzinfo is UTC
        assert s.start < s.end
        assert s.start < end and s.end > start
        assert list(s.users) == sorted(set(s.users))
        assert list(s.override_ids) == sorted(set(s.override_ids))
    for a, b in zip(shifts, shifts[1:], strict=False):
        assert a.end <= b.start


# ---------------------------------------------------------------- one layer


@PROFILE
@given(case=scenarios())
def test_layer_shifts_match_brute_force_counting(case: Scenario) -> None:
    for layer in case.layers:
        shifts = layer_shifts(layer, case.start, case.end)
        assert shifts == reference_shifts(layer, case.start, case.end)
        assert_well_formed(shifts, case.start, case.end)  # never overlapping within a layer
        for s in shifts:
            if layer.effective_from is not None:
                assert s.start >= layer.effective_from
            if layer.effective_until is not None:
                assert s.end <= layer.effective_until


@st.composite
def far_windows(draw: st.DrawFn) -> tuple[LayerSpec, datetime, datetime]:
    """A rolling layer and a window up to ~14 months after its start: the jump ahead."""
    near = Near(draw)
    layer = near.layer()
    groups = tuple((u,) for u in range(1, draw(st.integers(2, 5)) + 1))
    layer = replace(layer, rotation=Rotation.ROLLING, groups=groups, until=None)
    start = layer.start.replace(tzinfo=UTC) + draw(st.integers(0, 420 * 96)) * QUARTER
    return layer, start, start + draw(st.integers(1, 40 * 96)) * QUARTER


@PROFILE
@given(case=far_windows())
def test_rolling_index_after_a_jump_ahead_matches_counting(
    case: tuple[LayerSpec, datetime, datetime],
) -> None:
    layer, start, end = case
    assert layer_shifts(layer, start, end) == reference_shifts(layer, start, end)


@PROFILE
@given(case=scenarios(one_lineage=True))
def test_layers_rows_merge_versions_in_time_order(case: Scenario) -> None:
    rows = layers_rows(case.layers, case.start, case.end)
    merged = (s for v in case.layers for s in layer_shifts(v, case.start, case.end))
    assert rows[1] == sorted(merged, key=lambda s: (s.start, s.end))


# ---------------------------------------------------------------- final timeline


@PROFILE
@given(case=scenarios())
def test_final_timeline_follows_overrides_then_priority(case: Scenario) -> None:
    layers, overrides = case.layers, case.overrides
    rows = final_shifts(layers, overrides, case.start, case.end)
    assert_well_formed(rows, case.start, case.end)  # sorted, never overlapping
    for at in sample_instants(case, rows):
        expected = expected_users(layers, overrides, at)
        found = covers(rows, at)
        # Covered by a layer or an override <=> covered by exactly one final row.
        assert len(found) == (0 if expected is None else 1)
        if found:
            assert found[0].users == expected
            in_overrides = any(o.start <= at < o.end for o in overrides)
            assert (found[0].layer_id is None) == in_overrides
        assert oncall_at(layers, overrides, at) == (expected or ())


@PROFILE
@given(case=scenarios())
def test_final_rows_are_maximal_runs_of_one_origin(case: Scenario) -> None:
    rows = final_shifts(case.layers, case.overrides, case.start, case.end)
    for a, b in zip(rows, rows[1:], strict=False):
        if a.end != b.start:
            continue
        if a.layer_id is None and b.layer_id is None:
            assert a.override_ids != b.override_ids
        elif a.layer_id is not None and a.layer_id == b.layer_id:
            # Same lineage on both sides: one of its shifts must end or start right there.
            edges = {
                t
                for v in case.layers
                if v.layer_id == a.layer_id
                for s in layer_shifts(v, a.end - TICK, a.end + TICK)
                for t in (s.start, s.end)
            }
            assert a.end in edges


@PROFILE
@given(
    case=scenarios(),
    before=st.integers(0, 8) | st.integers(0, 30 * 96),
    after=st.integers(0, 8) | st.integers(0, 30 * 96),
)
def test_a_window_sees_the_same_rows_as_any_larger_window(
    case: Scenario, before: int, after: int
) -> None:
    layers, overrides, start, end = case.layers, case.overrides, case.start, case.end
    small = final_shifts(layers, overrides, start, end)
    big = final_shifts(layers, overrides, start - before * QUARTER, end + after * QUARTER)
    assert small == [r for r in big if r.start < end and r.end > start]


@PROFILE
@given(case=scenarios())
def test_gaps_are_exactly_where_nobody_is_on_call(case: Scenario) -> None:
    found = gaps(case.layers, case.overrides, case.start, case.end)
    for a, b in zip(found, found[1:], strict=False):
        assert a[1] < b[0]  # sorted and separate (adjacent gaps are merged)
    assert all(case.start <= s < e <= case.end for s, e in found)
    rows = final_shifts(case.layers, case.overrides, case.start, case.end)
    for at in sample_instants(case, rows, extra=found):
        in_gap = any(s <= at < e for s, e in found)
        assert in_gap == (oncall_at(case.layers, case.overrides, at) == ())
