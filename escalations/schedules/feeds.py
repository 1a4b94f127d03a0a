"""Webcal feeds: one schedule's shifts, or one person's own shifts, as an iCalendar file.

`GET /calendar/<token>.ics` needs no session: calendar apps cannot sign in, so the token in
the URL is the credential (256 random bits, `CalendarFeed.token`, unique index; rotating it
kills the old URL). A feed lives only as long as its owner may see what it shows: a
deactivated user's feeds, and a schedule feed whose schedule the user can no longer see
(not an owner, no longer in the schedule's team), answer 404 like an unknown token.

Each shift is one VEVENT whose UID is derived from the schedule, the shift's start and its
people, so a client that refreshes the feed updates events instead of duplicating them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_safe
from icalendar import Calendar, Event

from escalations.models import CalendarFeed, Schedule
from escalations.schedules import shifts
from escalations.schedules.selectors import (
    WINDOW_MAX,
    schedule_shifts,
    schedule_visible_list,
    user_shifts,
)
from opsduty.crypto import secret_digest
from opsduty.models import User
from opsduty.ratelimit import by_kwarg, rate_limited

FEED_BEHIND = timedelta(days=60)
FEED_AHEAD = timedelta(days=120)
PRODID = "-//OpsDuty//On-call schedules//EN"
# How often clients should refresh (a hint: Google Calendar, for one, decides for itself).
REFRESH = timedelta(hours=1)
TOKEN_MAX = 64  # CalendarFeed.token's max_length; longer strings cannot be tokens
CONTENT_TYPE = "text/calendar; charset=utf-8"


def feed_lookup(*, token: str) -> CalendarFeed | None:
    """The feed of `token` if it may still be served, else None (one answer for every refusal).

    None for an unknown (or rotated) token, a deactivated feed user, and a schedule the user
    can no longer see. The token is the credential: it is looked up by its SHA-256's unique
    index (the token itself is stored encrypted), which reveals nothing about other tokens.
    """
    if not token or len(token) > TOKEN_MAX:
        return None
    feed = (
        CalendarFeed.objects.select_related("user", "user__organization", "schedule")
        .filter(token_hash=secret_digest(token))
        .first()
    )
    if feed is None or not feed.user.is_active:
        return None
    if feed.user.organization_id != feed.organization_id:
        return None
    schedule = feed.schedule
    if schedule is not None and not (
        schedule.organization_id == feed.organization_id
        and schedule_visible_list(user=feed.user).filter(pk=schedule.pk).exists()
    ):
        return None
    return feed


def _windows(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """[start, end) cut into windows the selectors accept (at most WINDOW_MAX each)."""
    while start < end:
        stop = min(start + WINDOW_MAX, end)
        yield start, stop
        start = stop


def _uid(schedule_id: int, row: shifts.Shift) -> str:
    """Stable across refreshes: the same shift (schedule, start, people) keeps its UID."""
    key = f"{schedule_id}|{row.start.astimezone(UTC).isoformat()}|{','.join(map(str, row.users))}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"schedule-{schedule_id}-{digest}@opsduty"


def _names(organization_id: int, user_ids: Iterable[int]) -> dict[int, str]:
    users = User.objects.filter(organization_id=organization_id, pk__in=set(user_ids))
    return {user.pk: user.get_full_name() for user in users}


def _event(
    *, schedule_id: int, row: shifts.Shift, summary: str, description: str, stamp: datetime
) -> Event:
    event = Event()
    event.add("uid", _uid(schedule_id, row))
    event.add("dtstamp", stamp)
    event.add("dtstart", row.start.astimezone(UTC))
    event.add("dtend", row.end.astimezone(UTC))
    event.add("summary", summary)
    event.add("description", description)
    # Being on call is not being busy: keep the shift out of free/busy lookups.
    event.add("transp", "TRANSPARENT")
    return event


def _calendar(name: str, zone: str) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", zone)
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")
    return calendar


def _schedule_rows(schedule: Schedule, start: datetime, end: datetime) -> list[shifts.Shift]:
    """Final shifts with somebody on call; a shift crossing a window edge is kept once."""
    rows: dict[tuple[datetime, tuple[int, ...]], shifts.Shift] = {}
    for low, high in _windows(start, end):
        for row in schedule_shifts(schedule, low, high):
            if row.users:
                rows.setdefault((row.start, row.users), row)
    return sorted(rows.values(), key=lambda row: row.start)


def schedule_calendar(*, schedule: Schedule, now: datetime) -> Calendar:
    """Every shift of the schedule from 60 days back to 120 days ahead of `now`."""
    rows = _schedule_rows(schedule, now - FEED_BEHIND, now + FEED_AHEAD)
    names = _names(schedule.organization_id, (pk for row in rows for pk in row.users))
    calendar = _calendar(f"On call: {schedule.name}", schedule.timezone)
    for row in rows:
        people = ", ".join(names.get(pk, "(removed user)") for pk in row.users)
        calendar.add_component(
            _event(
                schedule_id=schedule.pk,
                row=row,
                summary=f"On call: {people}",
                description=f"Schedule “{schedule.name}” ({schedule.timezone})",
                stamp=now,
            )
        )
    return calendar


def my_shifts_calendar(*, user: User, now: datetime) -> Calendar:
    """The user's own shifts over every schedule, 60 days back to 120 days ahead."""
    found: dict[tuple[int, datetime], tuple[Schedule, shifts.Shift]] = {}
    for low, high in _windows(now - FEED_BEHIND, now + FEED_AHEAD):
        for schedule, row in user_shifts(user=user, start=low, end=high):
            found.setdefault((schedule.pk, row.start), (schedule, row))
    mine = sorted(found.values(), key=lambda item: (item[1].start, item[0].pk))
    names = _names(user.organization_id, (pk for _, row in mine for pk in row.users))
    # A person's shifts can span schedules in several zones; UTC is the neutral choice.
    calendar = _calendar(f"My on-call shifts ({user.get_full_name()})", "UTC")
    for schedule, row in mine:
        people = ", ".join(names.get(pk, "(removed user)") for pk in row.users)
        calendar.add_component(
            _event(
                schedule_id=schedule.pk,
                row=row,
                summary=f"On call: {schedule.name}",
                description=f"Schedule “{schedule.name}” ({schedule.timezone}). On call: {people}",
                stamp=now,
            )
        )
    return calendar


@require_safe
@rate_limited("calendar_feed", key=by_kwarg("token"))
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    """The iCalendar file of a feed (no session: the token is the credential)."""
    feed = feed_lookup(token=token)
    if feed is None:
        raise Http404("Not found.")
    now = timezone.now().replace(microsecond=0)
    if feed.schedule is not None:
        calendar = schedule_calendar(schedule=feed.schedule, now=now)
    else:
        calendar = my_shifts_calendar(user=feed.user, now=now)
    response = HttpResponse(calendar.to_ical(), content_type=CONTENT_TYPE)
    # The URL is a secret: keep it and its contents out of shared caches and search engines.
    response["Cache-Control"] = "private, no-cache"
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Content-Disposition"] = 'inline; filename="oncall.ics"'
    return response
