"""Uptime of components over the last 90 days (§D S17, the public page's bars).

Downtime is the time a component showed `degraded_performance`, `partial_outage` or
`major_outage` (whether a notice or a person set it); `under_maintenance` does not count.
uptime = 100 × (window − downtime) ÷ window, the window being the 90 days up to now, in
seconds (to the microsecond, never rounded to minutes). Time before a component existed is
not downtime. The days of the bars are UTC calendar days, the last one being today so far.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone

from statuspages.models import (
    DOWNTIME_STATUSES,
    STATUS_SEVERITY,
    ComponentPeriod,
    ComponentStatus,
)

UPTIME_DAYS = 90
FORMULA = (
    "uptime = 100 × (time in the last 90 days − downtime) ÷ time in the last 90 days; "
    "downtime is time shown as degraded performance, partial outage or major outage; "
    "announced maintenance is not downtime."
)


@dataclass
class Day:
    day: date
    downtime_seconds: float = 0.0
    maintenance_seconds: float = 0.0
    worst: str = ComponentStatus.OPERATIONAL


@dataclass
class Uptime:
    component_id: int
    first_day: date
    day_count: int = UPTIME_DAYS
    percent: float = 100.0
    downtime_seconds: float = 0.0
    # The days with downtime or maintenance, by their index from `first_day`; every other
    # day of the window was operational all day.
    touched: dict[int, Day] = field(default_factory=dict)

    def day(self, index: int) -> Day:
        """The day `index` of the window, kept from now on among the touched ones."""
        found = self.touched.get(index)
        if found is None:
            found = self.touched[index] = Day(self.first_day + timedelta(days=index))
        return found


def _overlap(start: datetime, end: datetime, low: datetime, high: datetime) -> float:
    return max(0.0, (min(end, high) - max(start, low)).total_seconds())


def uptimes(
    component_ids: Iterable[int], now: datetime | None = None, days: int = UPTIME_DAYS
) -> dict[int, Uptime]:
    """Each component's uptime over the `days` days up to `now`, with its daily bars; one
    query over the periods that overlap the window."""
    now = now or timezone.now()
    window_start = now - timedelta(days=days)
    ids = list(component_ids)
    first_day = (now - timedelta(days=days - 1)).astimezone(UTC).date()
    result = {pk: Uptime(pk, first_day=first_day, day_count=days) for pk in ids}
    # Operational periods neither count as downtime nor color a bar: not read.
    periods = (
        ComponentPeriod.objects.filter(component_id__in=ids, started_at__lt=now)
        .exclude(ended_at__lte=window_start)
        .exclude(status=ComponentStatus.OPERATIONAL)
        .values_list("component_id", "status", "started_at", "ended_at")
    )
    window = (now - window_start).total_seconds()
    for component_id, status, started_at, ended_at in periods:
        entry = result[component_id]
        end = ended_at or now
        down = status in DOWNTIME_STATUSES
        if down:
            entry.downtime_seconds += _overlap(started_at, end, window_start, now)
        # Only the days the period overlaps.
        first = max(0, (started_at.astimezone(UTC).date() - first_day).days)
        last = min(days - 1, (end.astimezone(UTC).date() - first_day).days)
        for index in range(first, last + 1):
            low = datetime.combine(first_day + timedelta(days=index), time.min, tzinfo=UTC)
            seconds = _overlap(started_at, end, low, low + timedelta(days=1))
            if not seconds:
                continue
            bar = entry.day(index)
            if down:
                bar.downtime_seconds += seconds
            else:
                bar.maintenance_seconds += seconds
            if (
                STATUS_SEVERITY[ComponentStatus(status)]
                > STATUS_SEVERITY[ComponentStatus(bar.worst)]
            ):
                bar.worst = status
    for entry in result.values():
        entry.percent = 100.0 * (window - entry.downtime_seconds) / window
    return result
