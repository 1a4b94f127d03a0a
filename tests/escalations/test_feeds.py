"""Webcal feeds (`/calendar/<token>.ics`): the schedule's shifts or one person's own, parsed
back with icalendar; rotation, deactivation and lost visibility kill a URL; a token only
ever shows its own organization's data."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from icalendar import Calendar

from escalations.models import CalendarFeed, Frequency, Rotation, Schedule
from escalations.schedules import services as ss
from escalations.schedules.selectors import oncall_forget
from opsduty.models import Organization, Team, TeamMembership, User
from tests import factories

pytestmark = pytest.mark.django_db

# Schedules are built on CREATED (layers must start in the future) and read at NOW.
CREATED = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)
NOW = datetime(2027, 1, 20, 12, 0, tzinfo=UTC)
FIRST_MONDAY = date(2027, 1, 4)


@pytest.fixture(autouse=True)
def _fresh_oncall_cache() -> None:
    oncall_forget()


@pytest.fixture
def other(org_a: Organization) -> User:
    return factories.make_user(organization=org_a, email="other@a.example")


@pytest.fixture
def team(org_a: Organization, member: User, other: User) -> Team:
    team = factories.make_team(organization=org_a, name="Platform")
    factories.add_member(team, member)
    factories.add_member(team, other)
    return team


def weekly_schedule(team: Team, name: str, groups: list[list[User]], zone: str) -> Schedule:
    """A weekly rolling schedule (handoff Monday 09:00 local, first shift FIRST_MONDAY)."""
    with time_machine.travel(CREATED, tick=False):
        schedule = ss.schedule_create(team=team, by=None, name=name, timezone_name=zone)
        ss.layer_create(
            schedule=schedule,
            by=None,
            data=ss.LayerInput(
                name="Weekly",
                rotation=Rotation.ROLLING,
                groups=groups,
                frequency=Frequency.WEEKLY,
                start_date=FIRST_MONDAY,
                handoff_time=time(9, 0),
                shift_minutes=7 * 24 * 60,
            ),
        )
    schedule.refresh_from_db()
    return schedule


@pytest.fixture
def schedule(team: Team, member: User, other: User) -> Schedule:
    return weekly_schedule(team, "Primary", [[member], [other]], "Europe/Oslo")


def fetch(client: Client, token: str, at: datetime = NOW) -> Calendar:
    with time_machine.travel(at, tick=False):
        response = client.get(reverse("calendar_feed", kwargs={"token": token}))
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    return Calendar.from_ical(response.content)


def status(client: Client, token: str) -> int:
    with time_machine.travel(NOW, tick=False):
        return client.get(reverse("calendar_feed", kwargs={"token": token})).status_code


def events(calendar: Calendar) -> list[tuple[datetime, datetime, str]]:
    return [
        (event.decoded("dtstart"), event.decoded("dtend"), str(event["summary"]))
        for event in calendar.walk("VEVENT")
    ]


def test_schedule_feed_lists_every_shift_with_its_people(
    client: Client, schedule: Schedule, member: User, other: User
) -> None:
    feed = ss.feed_get_or_create(user=member, schedule=schedule)
    calendar = fetch(client, feed.token)
    assert str(calendar["x-wr-timezone"]) == "Europe/Oslo"
    assert str(calendar["version"]) == "2.0" and "OpsDuty" in str(calendar["prodid"])
    assert "Primary" in str(calendar["x-wr-calname"])
    found = events(calendar)
    # Weekly shifts from the first Monday until 120 days after NOW (2027-05-20): 20 weeks.
    assert len(found) == 20
    mine, theirs = f"On call: {member.get_full_name()}", f"On call: {other.get_full_name()}"
    assert found[0] == (
        datetime(2027, 1, 4, 8, tzinfo=UTC),  # 09:00 in Oslo (CET, UTC+1)
        datetime(2027, 1, 11, 8, tzinfo=UTC),
        mine,
    )
    assert found[1][2] == theirs
    assert [summary for _, _, summary in found] == [mine, theirs] * 10
    # Summer time: the handoff stays at 09:00 local, 07:00 UTC (DTSTART/DTEND are UTC).
    assert (datetime(2027, 3, 29, 7, tzinfo=UTC), datetime(2027, 4, 5, 7, tzinfo=UTC)) in [
        (start, end) for start, end, _ in found
    ]
    assert all(
        start.tzinfo is not None and start.utcoffset() == timedelta(0) for start, *_ in found
    )
    uids = [str(event["uid"]) for event in calendar.walk("VEVENT")]
    assert len(set(uids)) == len(uids)
    assert all(event.get("dtstamp") for event in calendar.walk("VEVENT"))


def test_feed_covers_sixty_days_back(
    client: Client, schedule: Schedule, member: User, other: User
) -> None:
    feed = ss.feed_get_or_create(user=member, schedule=schedule)
    later = NOW + timedelta(days=100)  # 2027-04-30 12:00 UTC; 60 days back: 2027-03-01 12:00
    starts = [start for start, _, _ in events(fetch(client, feed.token, at=later))]
    # The shift of 2027-02-22 ended at 2027-03-01 08:00 UTC, before the window: it is gone.
    assert min(starts) == datetime(2027, 3, 1, 8, tzinfo=UTC)
    assert max(starts) == datetime(2027, 8, 23, 7, tzinfo=UTC)  # last start before +120 days


def test_uids_stay_the_same_across_refreshes(
    client: Client, schedule: Schedule, member: User
) -> None:
    feed = ss.feed_get_or_create(user=member, schedule=schedule)
    first = {str(e["uid"]): e.decoded("dtstart") for e in fetch(client, feed.token).walk("VEVENT")}
    again = fetch(client, feed.token, at=NOW + timedelta(hours=5))
    second = {str(e["uid"]): e.decoded("dtstart") for e in again.walk("VEVENT")}
    assert first == second


def test_override_appears_with_its_person(
    client: Client, schedule: Schedule, owner: User, member: User, other: User, team: Team
) -> None:
    factories.add_member(team, owner)
    start = datetime(2027, 1, 25, 12, tzinfo=UTC)
    with time_machine.travel(NOW, tick=False):
        ss.override_create(
            schedule=schedule, by=None, user=owner, start=start, end=start + timedelta(hours=6)
        )
    feed = ss.feed_get_or_create(user=member, schedule=schedule)
    found = events(fetch(client, feed.token))
    assert (start, start + timedelta(hours=6), f"On call: {owner.get_full_name()}") in found


def test_my_shifts_feed_has_only_my_shifts_over_every_schedule(
    client: Client, org_a: Organization, schedule: Schedule, team: Team, member: User, other: User
) -> None:
    weekly_schedule(team, "Secondary", [[other], [member]], "UTC")
    weekly_schedule(team, "Not mine", [[other]], "UTC")
    feed = ss.feed_get_or_create(user=member, schedule=None)
    found = events(fetch(client, feed.token))
    summaries = {summary for _, _, summary in found}
    assert summaries == {"On call: Primary", "On call: Secondary"}
    # Primary: member every other week from Jan 4; Secondary: from Jan 11 (second group).
    primary = [start for start, _, s in found if s == "On call: Primary"]
    secondary = [start for start, _, s in found if s == "On call: Secondary"]
    assert primary[0] == datetime(2027, 1, 4, 8, tzinfo=UTC) and len(primary) == 10
    assert secondary[0] == datetime(2027, 1, 11, 9, tzinfo=UTC) and len(secondary) == 10
    everyone = fetch(client, ss.feed_get_or_create(user=other, schedule=None).token)
    assert {str(e["summary"]) for e in everyone.walk("VEVENT")} == {
        "On call: Primary",
        "On call: Secondary",
        "On call: Not mine",
    }


def test_rotating_the_token_kills_the_old_url(
    client: Client, schedule: Schedule, member: User
) -> None:
    old = ss.feed_get_or_create(user=member, schedule=schedule).token
    assert status(client, old) == 200
    new = ss.feed_rotate(user=member, schedule=schedule).token
    assert new != old
    assert status(client, old) == 404
    assert status(client, new) == 200
    mine = ss.feed_get_or_create(user=member, schedule=None).token
    ss.feed_rotate(user=member, schedule=None)
    assert status(client, mine) == 404


def test_unknown_and_malformed_tokens_answer_404(client: Client, schedule: Schedule) -> None:
    for token in ("nope", "x" * 65, "%00", "a.b"):
        assert status(client, token) == 404


def test_a_deactivated_users_feeds_die_with_the_account(
    client: Client, schedule: Schedule, member: User
) -> None:
    tokens = [
        ss.feed_get_or_create(user=member, schedule=schedule).token,
        ss.feed_get_or_create(user=member, schedule=None).token,
    ]
    member.is_active = False
    member.save(update_fields=["is_active"])
    assert [status(client, token) for token in tokens] == [404, 404]


def test_a_schedule_the_user_can_no_longer_see_answers_404(
    client: Client, schedule: Schedule, member: User, owner: User, team: Team
) -> None:
    # Owners see every schedule of the organization, in the team or not.
    assert status(client, ss.feed_get_or_create(user=owner, schedule=schedule).token) == 200
    token = ss.feed_get_or_create(user=member, schedule=schedule).token
    assert status(client, token) == 200
    TeamMembership.objects.filter(team=team, user=member).delete()
    assert status(client, token) == 404


def test_a_token_only_shows_its_own_organizations_data(
    client: Client,
    schedule: Schedule,
    member: User,
    other: User,
    org_b: Organization,
    outsider: User,
) -> None:
    team_b = factories.make_team(organization=org_b, name="Bravo")
    factories.add_member(team_b, outsider)
    theirs = weekly_schedule(team_b, "Bravo primary", [[outsider]], "UTC")
    # A signed-in session of org A changes nothing: the token alone decides what is shown.
    client.force_login(member)
    b_feed = fetch(client, ss.feed_get_or_create(user=outsider, schedule=theirs).token)
    assert {str(e["summary"]) for e in b_feed.walk("VEVENT")} == {
        f"On call: {outsider.get_full_name()}"
    }
    b_mine = fetch(client, ss.feed_get_or_create(user=outsider, schedule=None).token)
    assert {str(e["summary"]) for e in b_mine.walk("VEVENT")} == {"On call: Bravo primary"}
    a_mine = fetch(client, ss.feed_get_or_create(user=member, schedule=None).token)
    assert {str(e["summary"]) for e in a_mine.walk("VEVENT")} == {"On call: Primary"}
    a_feed = fetch(client, ss.feed_get_or_create(user=member, schedule=schedule).token)
    names = {str(e["summary"]) for e in a_feed.walk("VEVENT")}
    assert names == {f"On call: {member.get_full_name()}", f"On call: {other.get_full_name()}"}
    # A feed row pointing across organizations (never written by the services) shows nothing.
    forged = CalendarFeed.objects.create(organization=org_b, user=outsider, schedule=schedule)
    assert status(client, forged.token) == 404


def test_only_get_and_head_are_allowed(client: Client, schedule: Schedule, member: User) -> None:
    token = ss.feed_get_or_create(user=member, schedule=None).token
    url = reverse("calendar_feed", kwargs={"token": token})
    with time_machine.travel(NOW, tick=False):
        assert client.head(url).status_code == 200
        assert client.post(url).status_code == 405
