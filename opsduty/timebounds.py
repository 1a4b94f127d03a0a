"""The range of time OpsDuty accepts from people: from 1970 to the start of 2100.

Every date and time a person gives (schedule overrides, layer dates, API query windows) is
checked here where it enters, with a message that says the range; the schedule renderers
never compute past a stored value either (`escalations/schedules/shifts.py`). Without the
bound, one override ending in 9999 took the schedule page, its calendar feed and the
profile pages down with OverflowError for everyone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
LAST_DAY = date(2099, 12, 31)
RANGE_MESSAGE = "Must be between 1970-01-01 and 2100-01-01 (UTC)."
DATE_RANGE_MESSAGE = "Must be a date from 1970-01-01 to 2099-12-31."


def datetime_in_range(value: datetime) -> bool:
    """An aware datetime within [EARLIEST, LATEST]."""
    return EARLIEST <= value <= LATEST


def date_in_range(value: date) -> bool:
    """A calendar date within 1970-01-01 .. 2099-12-31."""
    return EARLIEST.date() <= value < LATEST.date()


def datetime_clamp(value: datetime) -> datetime:
    """`value` moved into [EARLIEST, LATEST] (for rows stored before the bound existed)."""
    return min(max(value, EARLIEST), LATEST)
