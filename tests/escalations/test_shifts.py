"""Examples for the pure shift computation: recurrences, rotations, versions, overrides,
priorities, gaps and DST (Europe/Oslo and America/New_York in 2027)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

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
    validate_layer,
)

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
OSLO = ZoneInfo("Europe/Oslo")
G5 = ((1,), (2,), (3,), (4,), (5,))


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A naive local wall-clock time, which is what layers take."""
    return datetime(year, month, day, hour, minute)  # noqa: DTZ001


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def layer(**overrides: Any) -> LayerSpec:
    fields: dict[str, Any] = {
        "layer_id": 1,
        "priority": 0,
        "timezone": "UTC",
        "start": local(2027, 1, 4, 9, 0),  # a Monday
        "shift_length": DAY,
        "frequency": Frequency.DAILY,
        "rotation": Rotation.ROLLING,
        "groups": ((1,), (2,), (3,)),
    }
    fields.update(overrides)
    return LayerSpec(**fields)


def spans(shifts: list[Shift]) -> list[tuple[datetime, datetime, tuple[int, ...]]]:
    return [(s.start, s.end, s.users) for s in shifts]


# ---------------------------------------------------------------- recurrence and rotation


def test_daily_rolling_cycles_through_groups() -> None:
    shifts = layer_shifts(layer(), utc(2027, 1, 4), utc(2027, 1, 9))
    assert [s.users for s in shifts] == [(1,), (2,), (3,), (1,), (2,)]
    assert shifts[0].start == utc(2027, 1, 4, 9)
    assert all(s.end - s.start == DAY for s in shifts)
    assert all(s.layer_id == 1 and s.override_ids == () for s in shifts)


def test_rolling_index_is_counted_from_start_when_the_window_is_far_ahead() -> None:
    later = utc(2027, 1, 4, 12) + 1000 * DAY  # occurrence 1000 -> group 1000 % 3 == 1
    (shift,) = layer_shifts(layer(), later, later + HOUR)
    assert shift.users == (2,)
    assert shift.start == utc(2027, 1, 4, 9) + 1000 * DAY


def test_shifts_keep_their_real_extent_beyond_the_window() -> None:
    (shift,) = layer_shifts(layer(), utc(2027, 1, 5, 12), utc(2027, 1, 5, 13))
    assert (shift.start, shift.end) == (utc(2027, 1, 5, 9), utc(2027, 1, 6, 9))


def test_nothing_before_the_first_handoff() -> None:
    assert layer_shifts(layer(), utc(2026, 1, 1), utc(2027, 1, 4, 9)) == []


def test_weekly_on_chosen_days_rolls_per_occurrence() -> None:
    weekly = layer(frequency=Frequency.WEEKLY, by_day=(0, 2, 4), shift_length=8 * HOUR)
    shifts = layer_shifts(weekly, utc(2027, 1, 4), utc(2027, 1, 18))
    assert [s.start.day for s in shifts] == [4, 6, 8, 11, 13, 15]
    assert [s.users[0] for s in shifts] == [1, 2, 3, 1, 2, 3]
    assert all(s.end - s.start == 8 * HOUR for s in shifts)


def test_weekly_first_week_starts_at_start_not_before() -> None:
    # Start on a Tuesday with Mon/Wed chosen: the start itself is no occurrence (dateutil's
    # rule), the first handoff is that Wednesday and Monday of the first week is skipped.
    weekly = layer(frequency=Frequency.WEEKLY, by_day=(0, 2), start=local(2027, 1, 5, 9))
    shifts = layer_shifts(weekly, utc(2027, 1, 1), utc(2027, 1, 14))
    assert [s.start.day for s in shifts] == [6, 11, 13]
    assert [s.users[0] for s in shifts] == [1, 2, 3]


def test_weekly_rolling_index_survives_the_jump_ahead() -> None:
    # Start on a Wednesday with Mon/Wed/Fri: the first week holds 2 occurrences, later ones 3.
    weekly = layer(
        frequency=Frequency.WEEKLY, by_day=(0, 2, 4), start=local(2027, 1, 6, 9), groups=G5
    )
    # Week 10 Monday is occurrence 2 + 9 * 3 = 29 -> group 29 % 5 == 4.
    (shift,) = layer_shifts(weekly, utc(2027, 3, 15, 10), utc(2027, 3, 15, 11))
    assert (shift.start, shift.users) == (utc(2027, 3, 15, 9), (5,))


def test_weekly_without_days_repeats_on_the_start_weekday() -> None:
    weekly = layer(frequency=Frequency.WEEKLY, shift_length=7 * DAY)
    shifts = layer_shifts(weekly, utc(2027, 1, 4), utc(2027, 1, 25))
    assert [s.start for s in shifts] == [utc(2027, 1, d, 9) for d in (4, 11, 18)]


def test_a_shift_longer_than_the_gap_is_cut_at_the_next_handoff() -> None:
    weekly = layer(frequency=Frequency.WEEKLY, by_day=(0, 3), shift_length=7 * DAY)
    shifts = layer_shifts(weekly, utc(2027, 1, 4), utc(2027, 1, 11))
    assert [(s.start, s.end) for s in shifts] == [
        (utc(2027, 1, 4, 9), utc(2027, 1, 7, 9)),
        (utc(2027, 1, 7, 9), utc(2027, 1, 11, 9)),
    ]


def test_monthly_day_31_is_clamped_to_the_last_day() -> None:
    monthly = layer(
        frequency=Frequency.MONTHLY, by_day=(31,), start=local(2027, 1, 31, 9), groups=((1,),)
    )
    shifts = layer_shifts(monthly, utc(2027, 1, 1), utc(2028, 4, 1))
    starts = [s.start.date().isoformat() for s in shifts]
    assert starts[:4] == ["2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30"]
    assert "2028-02-29" in starts  # leap year
    assert len(starts) == 15


def test_monthly_clamped_days_merge_and_count_once_in_the_rotation() -> None:
    monthly = layer(
        frequency=Frequency.MONTHLY,
        by_day=(30, 31),
        start=local(2027, 1, 30, 9),
        shift_length=HOUR,
        groups=((1,), (2,)),
    )
    shifts = layer_shifts(monthly, utc(2027, 1, 1), utc(2027, 4, 1))
    assert [(s.start.month, s.start.day, s.users) for s in shifts] == [
        (1, 30, (1,)),
        (1, 31, (2,)),
        (2, 28, (1,)),  # 30 and 31 both clamp to the 28th: one occurrence
        (3, 30, (2,)),
        (3, 31, (1,)),
    ]
    # The arithmetic jump ahead agrees with counting month by month.
    (late,) = layer_shifts(monthly, utc(2027, 3, 31, 9), utc(2027, 3, 31, 10))
    assert late.users == (1,)


def test_monthly_clamped_rolling_index_survives_the_jump_ahead() -> None:
    # Days 30 and 31 from 2027-01-30: 2 occurrences a month, but 1 in February (28th) and 1 in
    # April, June, September, November (30th). By 2028-01-30: 2+1+2+1+2+1+2+2+1+2+1+2 = 19.
    monthly = layer(
        frequency=Frequency.MONTHLY,
        by_day=(30, 31),
        start=local(2027, 1, 30, 9),
        shift_length=HOUR,
        groups=tuple((u,) for u in range(1, 8)),
    )
    (shift,) = layer_shifts(monthly, utc(2028, 1, 30, 9), utc(2028, 1, 30, 10))
    assert shift.users == (6,)  # occurrence 19 -> group 19 % 7 == 5


def test_monthly_days_before_the_start_day_wait_for_the_next_month() -> None:
    monthly = layer(frequency=Frequency.MONTHLY, by_day=(1, 15), start=local(2027, 1, 10, 9))
    shifts = layer_shifts(monthly, utc(2026, 12, 1), utc(2027, 2, 20))
    assert [s.start.date().isoformat() for s in shifts] == [
        "2027-01-15",
        "2027-02-01",
        "2027-02-15",
    ]
    assert [s.users for s in shifts] == [(1,), (2,), (3,)]


def test_monthly_without_days_repeats_on_the_start_day() -> None:
    monthly = layer(frequency=Frequency.MONTHLY, start=local(2027, 1, 15, 9), interval=2)
    shifts = layer_shifts(monthly, utc(2027, 1, 1), utc(2027, 8, 1))
    assert [s.start for s in shifts] == [utc(2027, m, 15, 9) for m in (1, 3, 5, 7)]
    assert [s.end for s in shifts] == [utc(2027, m, 16, 9) for m in (1, 3, 5, 7)]


def test_plain_rotation_puts_every_group_on_every_shift() -> None:
    plain = layer(rotation=Rotation.PLAIN, groups=((3, 1), (2, 1)))
    shifts = layer_shifts(plain, utc(2027, 1, 4), utc(2027, 1, 7))
    assert [s.users for s in shifts] == [(1, 2, 3)] * 3


def test_until_stops_occurrences_at_or_after_it() -> None:
    bounded = layer(until=local(2027, 1, 7, 9))
    shifts = layer_shifts(bounded, utc(2027, 1, 1), utc(2027, 2, 1))
    assert [s.start.day for s in shifts] == [4, 5, 6]
    assert shifts[-1].end == utc(2027, 1, 7, 9)  # the last shift keeps its full length


def test_the_last_shift_before_until_is_found_from_a_later_window() -> None:
    # Nothing follows the last occurrence, so its long shift is not cut: a window days later
    # must still find it (the jump ahead must not land on an index past `until`).
    bounded = layer(shift_length=10 * DAY, until=local(2027, 1, 4, 9, 15))
    (shift,) = layer_shifts(bounded, utc(2027, 1, 13, 8), utc(2027, 1, 13, 9))
    assert (shift.start, shift.end) == (utc(2027, 1, 4, 9), utc(2027, 1, 14, 9))
    assert oncall_at([bounded], [], utc(2027, 1, 14, 8, 59)) == (1,)


def test_interval_two_for_days_and_weeks() -> None:
    every_other_day = layer(interval=2, shift_length=12 * HOUR)
    days = layer_shifts(every_other_day, utc(2027, 1, 4), utc(2027, 1, 12))
    assert [s.start.day for s in days] == [4, 6, 8, 10]
    assert [s.users[0] for s in days] == [1, 2, 3, 1]
    every_other_week = layer(frequency=Frequency.WEEKLY, by_day=(0, 4), interval=2)
    weeks = layer_shifts(every_other_week, utc(2027, 1, 4), utc(2027, 2, 1))
    assert [s.start.day for s in weeks] == [4, 8, 18, 22]
    assert [s.users[0] for s in weeks] == [1, 2, 3, 1]


def test_frequency_none_is_a_single_shift() -> None:
    once = layer(frequency=Frequency.NONE, shift_length=3 * DAY)
    assert spans(layer_shifts(once, utc(2027, 1, 1), utc(2028, 1, 1))) == [
        (utc(2027, 1, 4, 9), utc(2027, 1, 7, 9), (1,))
    ]


def test_versions_are_clipped_to_their_effective_range_and_merged_per_lineage() -> None:
    edit = utc(2027, 1, 6, 15)
    old = layer(effective_until=edit)
    new = layer(start=local(2027, 1, 7, 9), groups=((7,),), effective_from=edit, priority=5)
    assert layer_shifts(old, utc(2027, 1, 6), utc(2027, 1, 9))[-1].end == edit
    rows = layers_rows([new, old], utc(2027, 1, 5, 12), utc(2027, 1, 8, 12))
    assert list(rows) == [1]
    assert spans(rows[1]) == [
        (utc(2027, 1, 5, 9), utc(2027, 1, 6, 9), (2,)),
        (utc(2027, 1, 6, 9), edit, (3,)),
        (utc(2027, 1, 7, 9), utc(2027, 1, 8, 9), (7,)),
        (utc(2027, 1, 8, 9), utc(2027, 1, 9, 9), (7,)),
    ]


def test_effective_range_outside_the_window_gives_nothing() -> None:
    ended = layer(effective_until=utc(2027, 1, 5))
    assert layer_shifts(ended, utc(2027, 2, 1), utc(2027, 3, 1)) == []


def test_bounds_in_other_zones_give_utc_results() -> None:
    (shift,) = layer_shifts(
        layer(), datetime(2027, 1, 4, 10, 30, tzinfo=OSLO), datetime(2027, 1, 4, 11, tzinfo=OSLO)
    )
    assert shift.start == utc(2027, 1, 4, 9) and shift.start.tzinfo is UTC


def test_naive_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        layer_shifts(layer(), local(2027, 1, 4), local(2027, 1, 5))


# ---------------------------------------------------------------- DST


def test_oslo_spring_forward_24h_shift_is_23_real_hours_and_handoff_stays_0900() -> None:
    oslo = layer(timezone="Europe/Oslo", start=local(2027, 3, 26, 9))
    shifts = layer_shifts(oslo, utc(2027, 3, 26), utc(2027, 3, 30))
    lengths = [s.end - s.start for s in shifts]
    assert lengths[:4] == [DAY, 23 * HOUR, DAY, DAY]
    assert [s.start.astimezone(OSLO).hour for s in shifts] == [9, 9, 9, 9]
    assert shifts[1].start == utc(2027, 3, 27, 8)  # 09:00 CET
    assert shifts[2].start == utc(2027, 3, 28, 7)  # 09:00 CEST


def test_oslo_autumn_24h_shift_is_25_real_hours() -> None:
    oslo = layer(timezone="Europe/Oslo", start=local(2027, 10, 29, 9))
    shifts = layer_shifts(oslo, utc(2027, 10, 29), utc(2027, 11, 2))
    assert [s.end - s.start for s in shifts][:3] == [DAY, 25 * HOUR, DAY]
    assert shifts[1].start == utc(2027, 10, 30, 7)
    assert shifts[1].end == utc(2027, 10, 31, 8)
    assert {s.start.astimezone(OSLO).hour for s in shifts} == {9}


def test_new_york_spring_and_autumn() -> None:
    ny = layer(timezone="America/New_York", start=local(2027, 3, 12, 9))
    spring = layer_shifts(ny, utc(2027, 3, 13, 15), utc(2027, 3, 13, 16))
    assert spans(spring)[0][:2] == (utc(2027, 3, 13, 14), utc(2027, 3, 14, 13))  # 23 h
    autumn = layer_shifts(ny, utc(2027, 11, 6, 15), utc(2027, 11, 6, 16))
    assert spans(autumn)[0][:2] == (utc(2027, 11, 6, 13), utc(2027, 11, 7, 14))  # 25 h


def test_night_shift_over_spring_forward_is_wall_clock_length() -> None:
    night = layer(timezone="Europe/Oslo", start=local(2027, 3, 27, 20), shift_length=12 * HOUR)
    (shift,) = layer_shifts(night, utc(2027, 3, 27, 20), utc(2027, 3, 27, 21))
    assert shift.start.astimezone(OSLO).hour == 20
    assert shift.end.astimezone(OSLO).hour == 8
    assert shift.end - shift.start == 11 * HOUR


def test_handoff_in_the_spring_gap_lands_after_it_and_ambiguous_takes_the_first() -> None:
    early = layer(timezone="Europe/Oslo", start=local(2027, 3, 27, 2, 30))
    gap_day = layer_shifts(early, utc(2027, 3, 28, 2), utc(2027, 3, 28, 3))
    assert gap_day[0].start == utc(2027, 3, 28, 1, 30)  # 03:30 CEST (fold=0, normalised)
    autumn = layer(timezone="Europe/Oslo", start=local(2027, 10, 30, 2, 30))
    (ambiguous,) = layer_shifts(autumn, utc(2027, 10, 31, 1), utc(2027, 10, 31, 1, 1))
    assert ambiguous.start == utc(2027, 10, 31, 0, 30)  # 02:30 CEST, the first one


# ---------------------------------------------------------------- final timeline


def test_overlapping_overrides_merge_their_users() -> None:
    overrides = [
        OverrideSpec(10, utc(2027, 1, 5, 10), utc(2027, 1, 5, 14), (8,)),
        OverrideSpec(11, utc(2027, 1, 5, 12), utc(2027, 1, 5, 16), (9, 8)),
    ]
    rows = final_shifts([], overrides, utc(2027, 1, 5), utc(2027, 1, 6))
    assert [(r.start.hour, r.end.hour, r.users, r.override_ids) for r in rows] == [
        (10, 12, (8,), (10,)),
        (12, 14, (8, 9), (10, 11)),
        (14, 16, (8, 9), (11,)),
    ]
    assert all(r.layer_id is None for r in rows)


def test_overrides_win_over_layers_and_the_layer_resumes_after() -> None:
    override = OverrideSpec(10, utc(2027, 1, 5, 12), utc(2027, 1, 5, 13), (9,))
    rows = final_shifts([layer()], [override], utc(2027, 1, 5, 10), utc(2027, 1, 5, 20))
    assert [(r.start, r.end, r.users, r.layer_id) for r in rows] == [
        (utc(2027, 1, 5, 9), utc(2027, 1, 5, 12), (2,), 1),
        (utc(2027, 1, 5, 12), utc(2027, 1, 5, 13), (9,), None),
        (utc(2027, 1, 5, 13), utc(2027, 1, 6, 9), (2,), 1),
    ]
    assert rows[1].override_ids == (10,)


def test_higher_priority_layer_wins_and_ties_go_to_the_higher_layer_id() -> None:
    base = layer(layer_id=1, priority=0, groups=((1,),))
    business = layer(
        layer_id=2,
        priority=1,
        groups=((2,),),
        start=local(2027, 1, 4, 10),
        shift_length=4 * HOUR,
    )
    rows = final_shifts([base, business], [], utc(2027, 1, 4, 12), utc(2027, 1, 4, 13))
    assert [(r.layer_id, r.users) for r in rows] == [(2, (2,))]
    tied = layer(layer_id=3, priority=0, groups=((3,),))
    for order in ([base, tied], [tied, base]):
        assert oncall_at(order, [], utc(2027, 1, 4, 12)) == (3,)
        (row,) = final_shifts(order, [], utc(2027, 1, 4, 12), utc(2027, 1, 4, 13))
        assert (row.layer_id, row.users) == (3, (3,))


def test_final_rows_are_split_per_shift_occurrence() -> None:
    solo = layer(groups=((1,),))
    rows = final_shifts([solo], [], utc(2027, 1, 4, 12), utc(2027, 1, 6, 12))
    assert len(rows) == 3 and {r.users for r in rows} == {(1,)}


def test_final_rows_keep_their_real_extent_beyond_the_window() -> None:
    weekly = layer(frequency=Frequency.WEEKLY, shift_length=7 * DAY)
    (row,) = final_shifts([weekly], [], utc(2027, 1, 6), utc(2027, 1, 6, 1))
    assert (row.start, row.end) == (utc(2027, 1, 4, 9), utc(2027, 1, 11, 9))


def test_gaps_are_reported_clipped_to_the_window() -> None:
    business = layer(shift_length=8 * HOUR, groups=((1,),))
    found = gaps([business], [], utc(2027, 1, 4), utc(2027, 1, 5, 12))
    assert found == [
        (utc(2027, 1, 4), utc(2027, 1, 4, 9)),
        (utc(2027, 1, 4, 17), utc(2027, 1, 5, 9)),
    ]
    covering = OverrideSpec(1, utc(2027, 1, 4, 16), utc(2027, 1, 5, 10), (5,))
    assert gaps([business], [covering], utc(2027, 1, 4, 9), utc(2027, 1, 5, 12)) == []


def test_an_override_with_nobody_is_a_gap() -> None:
    empty = OverrideSpec(1, utc(2027, 1, 4, 12), utc(2027, 1, 4, 13), ())
    assert gaps([layer()], [empty], utc(2027, 1, 4, 10), utc(2027, 1, 4, 20)) == [
        (utc(2027, 1, 4, 12), utc(2027, 1, 4, 13))
    ]
    assert oncall_at([layer()], [empty], utc(2027, 1, 4, 12, 30)) == ()


def test_oncall_at() -> None:
    override = OverrideSpec(10, utc(2027, 1, 5, 12), utc(2027, 1, 5, 13), (9,))
    assert oncall_at([layer()], [override], utc(2027, 1, 5, 12)) == (9,)
    assert oncall_at([layer()], [override], utc(2027, 1, 5, 13)) == (2,)  # end is exclusive
    assert oncall_at([layer()], [], utc(2027, 1, 4, 8, 59)) == ()


# ---------------------------------------------------------------- validation


def test_a_good_layer_is_valid() -> None:
    assert validate_layer(layer(), now=utc(2027, 1, 1)) == {}


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone", "Unknown time zone"),
        ({"timezone": "../etc/passwd"}, "timezone", "Unknown time zone"),
        ({"interval": 0}, "interval", "at least 1"),
        ({"shift_length": timedelta(0)}, "shift_length", "zero-length"),
        ({"shift_length": timedelta(days=367)}, "shift_length", "366 days"),
        ({"frequency": Frequency.WEEKLY, "by_day": (7,)}, "by_day", "Weekly days"),
        ({"frequency": Frequency.MONTHLY, "by_day": (0,)}, "by_day", "Monthly days"),
        ({"frequency": Frequency.MONTHLY, "by_day": (32,)}, "by_day", "Monthly days"),
        ({"groups": ()}, "groups", "at least one group"),
        ({"groups": ((1,), ())}, "groups", "Every group"),
        ({"until": local(2027, 1, 4, 9)}, "until", "after the start"),
        ({"start": local(2026, 12, 31, 9)}, "start", "The start must be in the future: "),
    ],
)
def test_invalid_layers_name_the_field(changes: dict[str, Any], field: str, fragment: str) -> None:
    errors = validate_layer(layer(**changes), now=utc(2027, 1, 1))
    assert list(errors) == [field]
    assert fragment in errors[field]


def test_long_shifts_are_cut_not_refused() -> None:
    assert validate_layer(layer(shift_length=timedelta(days=30))) == {}


def test_past_start_is_fine_when_now_is_not_given() -> None:
    assert validate_layer(layer(start=local(2020, 1, 1, 9))) == {}


def test_start_in_the_future_is_checked_in_the_layer_zone() -> None:
    # 09:00 in Oslo is 08:00 UTC: at 08:30 UTC that start has passed.
    oslo = layer(timezone="Europe/Oslo", start=local(2027, 1, 4, 9))
    assert "start" in validate_layer(oslo, now=utc(2027, 1, 4, 8, 30))
    assert validate_layer(oslo, now=utc(2027, 1, 4, 7, 30)) == {}
