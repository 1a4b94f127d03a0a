"""What the schedule pages show of computed shifts: local times in the schedule's zone, names,
and the timeline's bars (positions in percent of the window, labels for screen readers).

Presentation only: the shifts come from `schedule_selectors`; what is read here are the users
the shifts name (one query) and, for the profile, the user's shifts and feed.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from django.utils import timezone

from escalations.models import Schedule, ScheduleLayer
from escalations.schedules import shifts
from escalations.schedules.selectors import Timeline, user_shifts
from escalations.schedules.services import feed_get_or_create, localize
from opsduty.models import User
from opsduty.timebounds import date_in_range, datetime_clamp

WINDOW_BEHIND = timedelta(days=60)
WINDOW_AHEAD = timedelta(days=60)


def to_local(moment: datetime, zone: str) -> datetime:
    """An aware instant as naive wall-clock time in `zone`; a stored instant past the time
    bounds (a row older than them: year 1 or 9999, out of Python's range once shifted into a
    zone) shows as the bound.

    Naive on purpose: templates' `|date` would convert an aware value back to UTC."""
    return datetime_clamp(moment).astimezone(zoneinfo.ZoneInfo(zone)).replace(tzinfo=None)


def short(moment: datetime) -> str:
    """ "Mon 4 Jan 09:00" (a local datetime)."""
    return f"{moment:%a} {moment.day} {moment:%b %H:%M}"


def users_by_id(ids: Iterable[int]) -> dict[int, User]:
    """The users named by some shifts, by id (one query)."""
    return {user.pk: user for user in User.objects.filter(pk__in=set(ids))}


def names(user_ids: Sequence[int], users: dict[int, User]) -> str:
    """ "Alice and Bob"; "nobody" for an empty group."""
    parts = [users[pk].get_full_name() for pk in user_ids if pk in users]
    if not parts:
        return "nobody"
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


@dataclass(frozen=True)
class Window:
    """The timeline's window [start, end) and the links to move it."""

    start: datetime
    end: datetime
    now: datetime
    earlier: str  # ?start= value of the previous window
    later: str
    moved: bool  # not the default window around now

    def position(self, moment: datetime) -> float:
        """Where `moment` falls, in percent of the window (clamped to 0..100)."""
        total = (self.end - self.start).total_seconds()
        offset = (min(max(moment, self.start), self.end) - self.start).total_seconds()
        return 100.0 * offset / total


def window_for(now: datetime, zone: str, start_param: str | None) -> Window:
    """60 days back and 60 ahead of now; `?start=YYYY-MM-DD` (local midnight) moves it. A
    date outside the time bounds (opsduty/timebounds.py) is ignored like any invalid one."""
    start = now - WINDOW_BEHIND
    moved = False
    if start_param:
        try:
            day = date.fromisoformat(start_param)
        except ValueError:
            day = None
        if day is not None and date_in_range(day):
            start = localize(datetime.combine(day, time()), zone)
            moved = True
    end = start + WINDOW_BEHIND + WINDOW_AHEAD
    local_start = to_local(start, zone).date()
    return Window(
        start=start,
        end=end,
        now=now,
        earlier=(local_start - WINDOW_BEHIND).isoformat(),
        later=(local_start + WINDOW_AHEAD).isoformat(),
        moved=moved,
    )


@dataclass(frozen=True)
class Bar:
    """One positioned bar of a timeline row."""

    left: str  # percent, e.g. "12.5000"
    width: str
    label: str  # "Alice, Mon 4 Jan 09:00 – Tue 5 Jan 09:00"
    kind: str  # "shift", "override" or "gap"
    prefill: str = ""  # query string prefilling the override form with this shift


@dataclass(frozen=True)
class Row:
    title: str
    bars: list[Bar]
    note: str = ""


@dataclass(frozen=True)
class FinalShift:
    """A final-row shift for the plain table."""

    start: datetime  # local
    end: datetime
    who: str
    override: bool
    prefill: str


def _bar(window: Window, start: datetime, end: datetime, who: str, kind: str, zone: str) -> Bar:
    left = window.position(start)
    width = max(window.position(end) - left, 0.15)  # keep very short shifts visible
    label = f"{who}, {short(to_local(start, zone))} – {short(to_local(end, zone))}"
    return Bar(f"{left:.4f}", f"{width:.4f}", label, kind)


def prefill(start: datetime, end: datetime, zone: str, now: datetime) -> str:
    """The override form's query string for [start, end) (started shifts: from now)."""
    if end <= now:
        return ""
    fmt = "%Y-%m-%dT%H:%M"
    begin = to_local(max(start, now), zone)
    return urlencode(
        {
            "override_start": begin.strftime(fmt),
            "override_end": to_local(end, zone).strftime(fmt),
        }
    )


def timeline_rows(
    timeline: Timeline, window: Window, zone: str, users: dict[int, User]
) -> tuple[list[Row], Row, Row]:
    """Rows per layer, the overrides row and the final row (gaps as bars of their own)."""
    layer_rows = [
        Row(
            title=layer.name,
            bars=[_bar(window, s.start, s.end, names(s.users, users), "shift", zone) for s in rows],
            note="" if layer.effective_until is None else "ended",
        )
        for layer, rows in timeline.layers
    ]
    overrides = Row(
        "Overrides",
        [
            _bar(window, s.start, s.end, names(s.users, users), "override", zone)
            for s in timeline.overrides
        ],
    )
    final_bars = []
    for s in timeline.final:
        # "(override)" in the words too: the bar's colour must not be the only sign of it.
        who = names(s.users, users) + (" (override)" if s.override_ids else "")
        bar = _bar(window, s.start, s.end, who, "override" if s.override_ids else "shift", zone)
        final_bars.append(
            Bar(bar.left, bar.width, bar.label, bar.kind, prefill(s.start, s.end, zone, window.now))
        )
    final_bars += [
        _bar(window, start, end, "Nobody on call", "gap", zone) for start, end in timeline.gaps
    ]
    return layer_rows, overrides, Row("Final schedule", final_bars)


def final_table(
    rows: Sequence[shifts.Shift], zone: str, users: dict[int, User], now: datetime
) -> list[FinalShift]:
    """The final shifts as local times and names, for the plain table."""
    return [
        FinalShift(
            start=to_local(s.start, zone),
            end=to_local(s.end, zone),
            who=names(s.users, users),
            override=bool(s.override_ids),
            prefill=prefill(s.start, s.end, zone, now),
        )
        for s in rows
    ]


def shift_user_ids(timeline: Timeline) -> set[int]:
    """Every user id a timeline names."""
    ids = {pk for s in [*timeline.overrides, *timeline.final] for pk in s.users}
    for _, rows in timeline.layers:
        ids.update(pk for s in rows for pk in s.users)
    return ids


def month_ticks(window: Window, zone: str) -> list[tuple[str, str]]:
    """(percent, "Jan 2027") for each first of a month inside the window."""
    ticks: list[tuple[str, str]] = []
    local = to_local(window.start, zone).date().replace(day=1)
    while True:
        local = (local + timedelta(days=32)).replace(day=1)
        moment = localize(datetime.combine(local, time()), zone)
        if moment >= window.end:
            return ticks
        ticks.append((f"{window.position(moment):.4f}", f"{local:%b %Y}"))


WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
FREQUENCY_WORDS = {"daily": "day", "weekly": "week", "monthly": "month"}


def duration(minutes: int) -> str:
    """ "7 days", "12 hours 30 minutes"."""
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [
        f"{value} {unit}{'' if value == 1 else 's'}"
        for value, unit in ((days, "day"), (hours, "hour"), (mins, "minute"))
        if value
    ]
    return " ".join(parts) or "0 minutes"


def _repeats(layer: ScheduleLayer) -> str:
    if layer.frequency == "none":
        return "once"
    unit = FREQUENCY_WORDS[layer.frequency]
    text = f"every {unit}" if layer.interval == 1 else f"every {layer.interval} {unit}s"
    if layer.frequency == "weekly" and layer.by_day:
        text += " on " + ", ".join(WEEKDAY_NAMES[day] for day in layer.by_day)
    elif layer.frequency == "monthly" and layer.by_day:
        text += " on day " + ", ".join(str(day) for day in layer.by_day)
    return text


def layer_summary(layer: ScheduleLayer, users: dict[int, User]) -> str:
    """One sentence: rotation, recurrence, start, shift length, who (in order), end."""
    order = " → ".join(names(group, users) for group in layer.groups) or "nobody"
    kind = "Rolling" if layer.rotation == "rolling" else "Plain"
    text = (
        f"{kind}, {_repeats(layer)}, from {layer.start_date:%Y-%m-%d} at "
        f"{layer.handoff_time:%H:%M}, shifts of {duration(layer.shift_minutes)}: {order}"
    )
    if layer.repeat_until:
        text += f"; until {layer.repeat_until:%Y-%m-%d}"
    return text


@dataclass(frozen=True)
class PreviewShift:
    start: datetime  # local
    end: datetime
    who: str


def preview_rows(rows: Sequence[shifts.Shift], zone: str) -> list[PreviewShift]:
    """A layer preview's shifts with local times and names."""
    users = users_by_id(pk for s in rows for pk in s.users)
    return [
        PreviewShift(to_local(s.start, zone), to_local(s.end, zone), names(s.users, users))
        for s in rows
    ]


MY_SHIFTS_AHEAD = timedelta(days=30)


@dataclass(frozen=True)
class MyShift:
    schedule: Schedule
    start: datetime  # local to the schedule
    end: datetime
    with_others: str  # the others on call in the same shift, or ""


def my_shifts_context(user: User, now: datetime | None = None) -> dict[str, object]:
    """The profile's "My shifts": the next 30 days over every schedule, and the feed link."""
    now = now or timezone.now()
    found = user_shifts(user=user, start=now, end=now + MY_SHIFTS_AHEAD)
    others = users_by_id(pk for _, s in found for pk in s.users if pk != user.pk)
    rows = [
        MyShift(
            schedule=schedule,
            start=to_local(s.start, schedule.timezone),
            end=to_local(s.end, schedule.timezone),
            with_others=names([pk for pk in s.users if pk != user.pk], others)
            if len(s.users) > 1
            else "",
        )
        for schedule, s in found
    ]
    return {"my_shifts": rows, "my_feed": feed_get_or_create(user=user, schedule=None)}
