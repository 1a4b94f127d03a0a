"""Schedule pages through the Django test client: the list with who is on call, create / edit /
delete, the layer editor (per-field errors, "Add a group", the rotation preview), the
timeline and final shifts in the schedule's zone, overrides from the timeline, calendar feed
links, "My shifts" on the profile, the service's "On call now", schedule targets in the step
editor; who may edit (403), stakeholders read-only, other organizations 404.

Time is frozen: NOW is Monday 4 January 2027, 08:00 UTC (09:00 in Oslo).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from escalations.catalog.services import service_set_policy
from escalations.models import (
    CalendarFeed,
    EscalationStep,
    Schedule,
    ScheduleLayer,
    ScheduleOverride,
)
from escalations.policies import services as ps
from escalations.schedules import services as ss
from escalations.schedules.selectors import oncall_forget
from opsduty.models import Organization, Role, Team, User
from tests import factories
from tests.conftest import session_client_for
from tests.ui.helpers import HTMX

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
OSLO = "Europe/Oslo"


@pytest.fixture(autouse=True)
def _frozen() -> Iterator[None]:
    oncall_forget()
    with time_machine.travel(NOW, tick=False):
        yield
    oncall_forget()


@pytest.fixture
def alice(org_a: Organization) -> User:
    return factories.make_user(
        organization=org_a,
        email="alice@a.example",
        first_name="Alice",
        last_name="",
        role=Role.MEMBER,
    )


@pytest.fixture
def bob(org_a: Organization) -> User:
    return factories.make_user(
        organization=org_a, email="bob@a.example", first_name="Bob", last_name="", role=Role.MEMBER
    )


@pytest.fixture
def team(team_a: Team, member: User, alice: User, bob: User, stakeholder: User) -> Team:
    for user in (member, alice, bob, stakeholder):
        factories.add_member(team_a, user)
    return team_a


@pytest.fixture
def schedule(team: Team) -> Schedule:
    return ss.schedule_create(team=team, by=None, name="Primary", timezone_name=OSLO)


def weekly(alice: User, bob: User, start: date = date(2027, 1, 11)) -> ss.LayerInput:
    """Rolling weekly Alice then Bob, handoff Monday 09:00 Oslo."""
    return ss.LayerInput(
        name="Week",
        rotation="rolling",
        groups=[[alice], [bob]],
        frequency="weekly",
        start_date=start,
        handoff_time=time(9, 0),
        shift_minutes=7 * 24 * 60,
    )


def layer_post(alice: User, bob: User, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Week",
        "rotation": "rolling",
        "group_count": "2",
        "group_0": [alice.pk],
        "group_1": [bob.pk],
        "frequency": "weekly",
        "interval": "1",
        "weekdays": ["0"],
        "month_days": "",
        "start_date": "2027-01-11",
        "handoff_time": "09:00",
        "shift_hours": "168",
        "shift_extra_minutes": "0",
        "repeat_until": "",
    }
    data.update(changes)
    return data


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# --- list and schedule pages ----------------------------------------------------------------


def test_list_shows_team_zone_and_who_is_on_call_now(
    schedule: Schedule, alice: User, bob: User, member_client: Client
) -> None:
    with time_machine.travel(NOW - timedelta(days=10), tick=False):
        ss.layer_create(schedule=schedule, by=None, data=weekly(alice, bob, date(2026, 12, 28)))
    listing = page(member_client, "/schedules/")
    assert 'aria-current="page">Schedules' in listing
    assert "Primary" in listing and "Platform" in listing and OSLO in listing
    # 28 Dec Alice, 4 Jan 09:00 Oslo (= NOW) Bob.
    row = listing.split("Primary", 1)[1].split("</tr>", 1)[0]
    assert "Bob" in row and "Alice" not in row


def test_list_reads_the_people_on_call_in_one_query(
    team: Team, alice: User, bob: User, member_client: Client
) -> None:
    def queries() -> int:
        oncall_forget()  # every schedule computed afresh, as after an edit
        with CaptureQueriesContext(connection) as captured:
            assert member_client.get("/schedules/").status_code == 200
        return len([q for q in captured.captured_queries if '"opsduty_user"' in q["sql"]])

    def add(name: str) -> None:
        schedule = ss.schedule_create(team=team, by=None, name=name, timezone_name=OSLO)
        with time_machine.travel(NOW - timedelta(days=10), tick=False):
            ss.layer_create(schedule=schedule, by=None, data=weekly(alice, bob, date(2026, 12, 28)))

    add("One")
    one = queries()
    for n in range(4):
        add(f"More {n}")
    assert queries() == one  # not one more user query per schedule


def test_member_creates_a_schedule(team: Team, member_client: Client) -> None:
    response = member_client.post(
        "/schedules/new/",
        {"team": team.pk, "name": "Night", "description": "Nights", "timezone": OSLO},
    )
    schedule = Schedule.objects.get(name="Night")
    assert response.status_code == 302 and response["Location"] == f"/schedules/{schedule.pk}/"
    assert schedule.timezone == OSLO and schedule.team == team
    detail = page(member_client, f"/schedules/{schedule.pk}/")
    assert "No layers: nobody is on call." in detail and "You can edit this schedule." in detail


def test_bad_schedule_input_answers_422_per_field(
    schedule: Schedule, team: Team, member_client: Client
) -> None:
    response = member_client.post(
        "/schedules/new/", {"team": team.pk, "name": "Primary", "timezone": OSLO}
    )
    assert response.status_code == 422
    assert "A schedule with this name already exists." in response.content.decode()
    response = member_client.post(
        "/schedules/new/", {"team": team.pk, "name": "Other", "timezone": "Mars/Base"}
    )
    assert response.status_code == 422
    assert "Select a valid choice" in response.content.decode()


def test_edit_renames_and_changes_the_zone(schedule: Schedule, member_client: Client) -> None:
    form = page(member_client, f"/schedules/{schedule.pk}/edit/")
    assert 'value="Primary"' in form
    response = member_client.post(
        f"/schedules/{schedule.pk}/edit/",
        {"name": "Primary 2", "description": "", "timezone": "America/New_York"},
    )
    assert response.status_code == 302
    schedule.refresh_from_db()
    assert (schedule.name, schedule.timezone) == ("Primary 2", "America/New_York")


def test_delete_is_refused_while_a_policy_notifies_the_schedule(
    schedule: Schedule, team: Team, member_client: Client
) -> None:
    policy = ps.policy_create(team=team, by=None, name="P")
    step = ps.step_add(policy=policy, by=None, kind="notify", schedule_id=schedule.pk)
    response = member_client.post(f"/schedules/{schedule.pk}/delete/", follow=True)
    assert "Escalation policies notify this schedule: “P”" in response.content.decode()
    assert Schedule.objects.filter(pk=schedule.pk).exists()
    ps.step_delete(step=step, by=None)
    assert "Delete the schedule" in page(member_client, f"/schedules/{schedule.pk}/delete/")
    response = member_client.post(f"/schedules/{schedule.pk}/delete/")
    assert response.status_code == 302 and not Schedule.objects.filter(pk=schedule.pk).exists()


def test_stakeholder_reads_but_cannot_edit(
    schedule: Schedule, alice: User, bob: User, stakeholder_client: Client
) -> None:
    layer = ss.layer_create(schedule=schedule, by=None, data=weekly(alice, bob))
    detail = page(stakeholder_client, f"/schedules/{schedule.pk}/")
    assert "Read-only" in detail and "Add a layer" not in detail
    assert 'id="override-form"' not in detail
    assert "Alice" in detail  # the timeline is visible
    refused = [
        stakeholder_client.get("/schedules/new/"),
        stakeholder_client.get(f"/schedules/{schedule.pk}/edit/"),
        stakeholder_client.post(f"/schedules/{schedule.pk}/layers/new/", layer_post(alice, bob)),
        stakeholder_client.post(f"/schedules/{schedule.pk}/layers/preview/"),
        stakeholder_client.post(f"/schedule-layers/{layer.pk}/move/", {"direction": "up"}),
        stakeholder_client.post(f"/schedule-layers/{layer.pk}/delete/"),
        stakeholder_client.post(f"/schedules/{schedule.pk}/overrides/new/"),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert ScheduleLayer.objects.filter(schedule=schedule).count() == 1


def test_member_of_another_team_cannot_see_or_edit(
    schedule: Schedule, org_a: Organization, alice: User, bob: User
) -> None:
    other = factories.make_user(organization=org_a, email="o@a.example", role=Role.MEMBER)
    client = session_client_for(other)
    assert client.get(f"/schedules/{schedule.pk}/").status_code == 404
    assert "Primary" not in page(client, "/schedules/")
    response = client.post(f"/schedules/{schedule.pk}/layers/new/", layer_post(alice, bob))
    assert response.status_code == 404


def test_owner_outside_the_team_may_edit(
    schedule: Schedule, alice: User, bob: User, owner_client: Client
) -> None:
    response = owner_client.post(f"/schedules/{schedule.pk}/layers/new/", layer_post(alice, bob))
    assert response.status_code == 302


def test_other_organizations_schedule_answers_404(
    schedule: Schedule, outsider_client: Client
) -> None:
    assert outsider_client.get(f"/schedules/{schedule.pk}/").status_code == 404
    assert "Primary" not in page(outsider_client, "/schedules/")


# --- layer editor -----------------------------------------------------------------------------


def test_add_a_weekly_rolling_layer_and_see_it_on_the_timeline(
    schedule: Schedule, alice: User, bob: User, member_client: Client
) -> None:
    form = page(member_client, f"/schedules/{schedule.pk}/layers/new/")
    assert "Group 1" in form and "Group 2" in form and "Preview" in form
    response = member_client.post(f"/schedules/{schedule.pk}/layers/new/", layer_post(alice, bob))
    assert response.status_code == 302
    layer = ScheduleLayer.objects.get(schedule=schedule)
    assert layer.groups == [[alice.pk], [bob.pk]]
    assert (layer.frequency, layer.by_day, layer.shift_minutes) == ("weekly", [0], 10080)
    detail = page(member_client, f"/schedules/{schedule.pk}/")
    assert "Rolling, every week on Mon, from 2027-01-11 at 09:00, shifts of 7 days" in detail
    assert "Alice → Bob" in detail
    # Oslo local times in the final table: Alice from 11 Jan 09:00, then Bob.
    table = detail.split('id="final-shifts"', 1)[1].split("</table>", 1)[0]
    rows = table.split("<tr>")[2:]
    assert "Mon 11 Jan 2027 09:00" in rows[0] and "Mon 18 Jan 2027 09:00" in rows[0]
    assert "Alice" in rows[0] and "Bob" in rows[1] and "Alice" in rows[2]
    # The bar's accessible label, and the gap before the first shift.
    assert 'aria-label="Alice, Mon 11 Jan 09:00 – Mon 18 Jan 09:00' in detail
    assert "Nobody on call, " in detail and 'class="tl-bar tl-gap"' in detail
    gaps = detail.split('id="schedule-gaps"', 1)[1].split("</ul>", 1)[0]
    assert "Mon 11 Jan 2027 09:00" in gaps


@pytest.mark.parametrize(
    ("changes", "field_message"),
    [
        ({"start_date": "2027-01-01"}, "The start must be in the future"),
        ({"group_0": [], "group_1": []}, "Add at least one person to the rotation."),
        ({"shift_hours": "0", "shift_extra_minutes": "0"}, "zero-length shifts"),
        ({"frequency": "monthly", "month_days": "1, x"}, "Enter days of the month as numbers"),
        ({"frequency": "monthly", "month_days": "40"}, "Days of the month are 1 to 31."),
        ({"repeat_until": "2027-01-01"}, "Repeat until must be on or after"),
        ({"interval": "0"}, "Ensure this value is greater than or equal to 1."),
    ],
)
def test_bad_layer_input_answers_422_with_the_field_error(
    schedule: Schedule,
    alice: User,
    bob: User,
    member_client: Client,
    changes: dict[str, Any],
    field_message: str,
) -> None:
    response = member_client.post(
        f"/schedules/{schedule.pk}/layers/new/", layer_post(alice, bob, **changes)
    )
    assert response.status_code == 422
    assert field_message in response.content.decode()
    assert not ScheduleLayer.objects.filter(schedule=schedule).exists()


def test_stakeholder_cannot_be_put_in_a_rotation(
    schedule: Schedule, alice: User, bob: User, stakeholder: User, member_client: Client
) -> None:
    response = member_client.post(
        f"/schedules/{schedule.pk}/layers/new/", layer_post(alice, bob, group_1=[stakeholder.pk])
    )
    assert response.status_code == 422
    assert "Choose responders of the owning team." in response.content.decode()


def test_add_a_group_keeps_the_input_and_saves_nothing(
    schedule: Schedule, alice: User, bob: User, member_client: Client
) -> None:
    data = layer_post(alice, bob, add_group="1", group_1=[bob.pk, alice.pk])
    response = member_client.post(f"/schedules/{schedule.pk}/layers/new/", data)
    body = response.content.decode()
    assert response.status_code == 200 and "Group 3" in body
    assert 'name="group_count" value="3"' in body
    assert not ScheduleLayer.objects.filter(schedule=schedule).exists()


def test_a_group_of_two_is_on_call_together(
    schedule: Schedule, alice: User, bob: User, member: User, member_client: Client
) -> None:
    data = layer_post(alice, bob, group_count="3", group_1=[bob.pk, member.pk], group_2=[])
    assert member_client.post(f"/schedules/{schedule.pk}/layers/new/", data).status_code == 302
    layer = ScheduleLayer.objects.get(schedule=schedule)
    assert layer.groups == [[alice.pk], sorted([bob.pk, member.pk])] or layer.groups == [
        [alice.pk],
        [bob.pk, member.pk],
    ]


def test_preview_shows_the_next_14_shifts_without_saving(
    schedule: Schedule, alice: User, bob: User, member_client: Client
) -> None:
    response = member_client.post(
        f"/schedules/{schedule.pk}/layers/preview/", layer_post(alice, bob), headers=HTMX
    )
    body = response.content.decode()
    assert response.status_code == 200 and body.strip().startswith('<div id="layer-preview"')
    assert "Next 14 shifts" in body
    rows = body.split("<tbody>", 1)[1].split("<tr>")[1:]
    assert len(rows) == 14
    assert "Mon 11 Jan 2027 09:00" in rows[0] and "Alice" in rows[0]
    assert "Mon 18 Jan 2027 09:00" in rows[1] and "Bob" in rows[1]
    assert "Alice" in rows[12] and "Bob" in rows[13]
    assert not ScheduleLayer.objects.filter(schedule=schedule).exists()


def test_preview_without_htmx_renders_the_form_with_the_preview(
    schedule: Schedule, alice: User, bob: User, member_client: Client
) -> None:
    response = member_client.post(
        f"/schedules/{schedule.pk}/layers/preview/", layer_post(alice, bob)
    )
    body = response.content.decode()
    assert response.status_code == 200 and "Save layer" in body and "Next 14 shifts" in body


def test_preview_shows_the_errors_the_save_would(
    schedule: Schedule, alice: User, bob: User, member_client: Client
) -> None:
    response = member_client.post(
        f"/schedules/{schedule.pk}/layers/preview/",
        layer_post(alice, bob, start_date="2026-12-01"),
        headers=HTMX,
    )
    body = response.content.decode()
    assert response.status_code == 200 and 'role="alert"' in body
    assert "First shift on: The start must be in the future" in body


def test_edit_a_layer_and_preview_it(
    schedule: Schedule, alice: User, bob: User, member_client: Client
) -> None:
    layer = ss.layer_create(schedule=schedule, by=None, data=weekly(alice, bob))
    form = page(member_client, f"/schedule-layers/{layer.pk}/edit/")
    assert 'value="Week"' in form and 'value="2027-01-11"' in form and 'value="168"' in form
    swapped = layer_post(alice, bob, name="Swapped", group_0=[bob.pk], group_1=[alice.pk])
    preview = member_client.post(
        f"/schedule-layers/{layer.pk}/preview/", swapped, headers=HTMX
    ).content.decode()
    assert "Bob" in preview.split("<tbody>", 1)[1].split("</tr>", 1)[0]
    response = member_client.post(f"/schedule-layers/{layer.pk}/edit/", swapped)
    assert response.status_code == 302
    current = ScheduleLayer.objects.get(schedule=schedule, effective_until__isnull=True)
    assert current.name == "Swapped" and current.groups == [[bob.pk], [alice.pk]]


def test_move_and_delete_layers(
    schedule: Schedule, alice: User, bob: User, member_client: Client
) -> None:
    low = ss.layer_create(schedule=schedule, by=None, data=weekly(alice, bob))
    high_input = weekly(bob, alice)
    high_input.name = "Top"
    high = ss.layer_create(schedule=schedule, by=None, data=high_input)
    detail = page(member_client, f"/schedules/{schedule.pk}/")
    assert detail.index("<strong>Top</strong>") < detail.index("<strong>Week</strong>")
    response = member_client.post(f"/schedule-layers/{low.pk}/move/", {"direction": "up"})
    assert response.status_code == 302
    detail = page(member_client, f"/schedules/{schedule.pk}/")
    assert detail.index("<strong>Week</strong>") < detail.index("<strong>Top</strong>")
    assert "Delete the layer" in page(member_client, f"/schedule-layers/{high.pk}/delete/")
    assert member_client.post(f"/schedule-layers/{high.pk}/delete/").status_code == 302
    names = [la.name for la in ScheduleLayer.objects.filter(effective_until__isnull=True)]
    assert names == ["Week"]


# --- overrides --------------------------------------------------------------------------------


def test_final_shift_link_prefills_the_override_form(
    schedule: Schedule, alice: User, bob: User, member_client: Client
) -> None:
    ss.layer_create(schedule=schedule, by=None, data=weekly(alice, bob))
    detail = page(member_client, f"/schedules/{schedule.pk}/")
    link = "?override_start=2027-01-11T09%3A00&amp;override_end=2027-01-18T09%3A00#override-form"
    assert link in detail
    prefilled = page(
        member_client,
        f"/schedules/{schedule.pk}/?override_start=2027-01-11T09%3A00"
        "&override_end=2027-01-18T09%3A00",
    )
    form = prefilled.split('id="override-form"', 1)[1]
    assert 'value="2027-01-11T09:00"' in form and 'value="2027-01-18T09:00"' in form


def test_create_override_in_the_schedules_zone_wins_in_the_final_row(
    schedule: Schedule, alice: User, bob: User, member: User, member_client: Client
) -> None:
    ss.layer_create(schedule=schedule, by=None, data=weekly(alice, bob))
    response = member_client.post(
        f"/schedules/{schedule.pk}/overrides/new/",
        {"user": member.pk, "start": "2027-01-12T09:00", "end": "2027-01-13T09:00"},
    )
    assert response.status_code == 302
    override = ScheduleOverride.objects.get(schedule=schedule)
    # 09:00 in Oslo in winter is 08:00 UTC.
    assert override.start == datetime(2027, 1, 12, 8, 0, tzinfo=UTC)
    assert override.end == datetime(2027, 1, 13, 8, 0, tzinfo=UTC)
    detail = page(member_client, f"/schedules/{schedule.pk}/")
    table = detail.split('id="final-shifts"', 1)[1].split("</table>", 1)[0]
    rows = table.split("<tr>")[2:]
    assert "Alice" in rows[0] and "Tue 12 Jan 2027 09:00" in rows[0]
    assert member.get_full_name() in rows[1] and "override" in rows[1]
    assert "Alice" in rows[2] and "Wed 13 Jan 2027 09:00" in rows[2]
    overrides = detail.split('id="override-list"', 1)[1].split("</ul>", 1)[0]
    assert "Tue 12 Jan 2027 09:00 – Wed 13 Jan 2027 09:00" in overrides


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"start": "2027-01-12T09:00", "end": "2027-01-12T08:00"}, "The end must be after"),
        ({"start": "2027-01-01T09:00", "end": "2027-01-02T09:00"}, "would be over already"),
        ({"start": "2027-01-02T09:00", "end": "2027-01-12T09:00"}, "cannot start in the past"),
        ({"start": "tomorrow", "end": "2027-01-12T09:00"}, "Enter a valid date/time."),
    ],
)
def test_bad_override_answers_422_on_the_schedule_page(
    schedule: Schedule,
    member: User,
    member_client: Client,
    data: dict[str, str],
    message: str,
) -> None:
    response = member_client.post(
        f"/schedules/{schedule.pk}/overrides/new/", {"user": member.pk, **data}
    )
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not ScheduleOverride.objects.exists()


def test_override_user_must_be_a_responder_of_the_team(
    schedule: Schedule, stakeholder: User, member_client: Client
) -> None:
    response = member_client.post(
        f"/schedules/{schedule.pk}/overrides/new/",
        {"user": stakeholder.pk, "start": "2027-01-12T09:00", "end": "2027-01-13T09:00"},
    )
    assert response.status_code == 422
    assert "Select a valid choice" in response.content.decode()


def test_removing_overrides_future_running_and_past(
    schedule: Schedule, member: User, member_client: Client
) -> None:
    with time_machine.travel(NOW - timedelta(days=3), tick=False):
        past = ss.override_create(
            schedule=schedule, by=None, user=member, start=NOW - timedelta(days=2), end=NOW
        )
        running = ss.override_create(
            schedule=schedule,
            by=None,
            user=member,
            start=NOW - timedelta(days=1),
            end=NOW + timedelta(days=1),
        )
    future = ss.override_create(
        schedule=schedule,
        by=None,
        user=member,
        start=NOW + timedelta(days=2),
        end=NOW + timedelta(days=3),
    )
    response = member_client.post(f"/schedule-overrides/{future.pk}/delete/", follow=True)
    assert "removed" in response.content.decode()
    assert not ScheduleOverride.objects.filter(pk=future.pk).exists()
    member_client.post(f"/schedule-overrides/{running.pk}/delete/")
    running.refresh_from_db()
    assert running.end == NOW
    response = member_client.post(f"/schedule-overrides/{past.pk}/delete/", follow=True)
    assert "This override is over; shifts in the past never change." in response.content.decode()
    assert ScheduleOverride.objects.filter(pk=past.pk).exists()


# --- timeline window ----------------------------------------------------------------------------


def test_timeline_window_shows_history_and_moves(
    schedule: Schedule, alice: User, bob: User, member_client: Client
) -> None:
    with time_machine.travel(NOW - timedelta(days=40), tick=False):
        ss.layer_create(schedule=schedule, by=None, data=weekly(alice, bob, date(2026, 11, 30)))
    detail = page(member_client, f"/schedules/{schedule.pk}/")
    assert 'aria-label="Alice, Mon 30 Nov 09:00 – Mon 7 Dec 09:00' in detail
    assert "?start=2026-09-06#timeline" in detail  # earlier: the window starts 5 Nov 2026
    later = page(member_client, f"/schedules/{schedule.pk}/?start=2027-03-01")
    assert "Around now" in later and "Mon 1 Mar 2027 09:00" in later
    assert "Mon 30 Nov" not in later
    bad = page(member_client, f"/schedules/{schedule.pk}/?start=nonsense")
    assert "Around now" not in bad


# --- calendar feeds, my shifts, service on-call, step editor -----------------------------------


def test_feed_links_and_rotation(schedule: Schedule, member: User, member_client: Client) -> None:
    detail = page(member_client, f"/schedules/{schedule.pk}/")
    feed = CalendarFeed.objects.get(user=member, schedule=schedule)
    assert f"webcal://testserver/calendar/{feed.token}.ics" in detail
    assert "Subscribe (whole schedule)" in detail
    response = member_client.post(f"/schedules/{schedule.pk}/calendar-feed/rotate/")
    assert response.status_code == 302
    old = feed.token
    feed.refresh_from_db()
    assert feed.token != old
    assert feed.token in page(member_client, f"/schedules/{schedule.pk}/")

    profile = page(member_client, "/profile/calendars/")
    mine = CalendarFeed.objects.get(user=member, schedule=None)
    assert f"webcal://testserver/calendar/{mine.token}.ics" in profile
    assert "Subscribe (my shifts)" in profile
    response = member_client.post("/profile/calendar-feed/rotate/")
    assert response["Location"] == "/profile/calendars/#my-feed"
    assert CalendarFeed.objects.get(user=member, schedule=None).token != mine.token


def test_stakeholder_may_subscribe(schedule: Schedule, stakeholder_client: Client) -> None:
    assert "Rotate link" in page(stakeholder_client, f"/schedules/{schedule.pk}/")
    response = stakeholder_client.post(f"/schedules/{schedule.pk}/calendar-feed/rotate/")
    assert response.status_code == 302


def test_profile_lists_my_shifts_for_30_days_in_each_zone(
    schedule: Schedule, team: Team, alice: User, bob: User
) -> None:
    ss.layer_create(schedule=schedule, by=None, data=weekly(alice, bob))
    york = ss.schedule_create(team=team, by=None, name="York", timezone_name="America/New_York")
    daily = weekly(alice, alice, date(2027, 1, 5))
    daily.frequency, daily.shift_minutes, daily.name = "daily", 60, "Daily"
    daily.repeat_until = date(2027, 1, 5)
    ss.layer_create(schedule=york, by=None, data=daily)
    profile = page(session_client_for(alice), "/profile/calendars/")
    shifts = profile.split('id="my-shift-list"', 1)[1].split("</table>", 1)[0]
    rows = shifts.split("<tr>")[2:]
    assert len(rows) == 3  # York 5 Jan; Primary 11 Jan and 25 Jan (1 Feb is past 30 days)
    assert "York" in rows[0] and "Tue 5 Jan 2027 09:00" in rows[0] and "America/New_York" in rows[0]
    assert "Primary" in rows[1] and "Mon 11 Jan 2027 09:00" in rows[1] and OSLO in rows[1]
    assert "Mon 25 Jan 2027 09:00" in rows[2]
    bobs = page(session_client_for(bob), "/profile/calendars/")
    assert "No shifts in the next 30 days." in bobs or "Mon 18 Jan 2027" in bobs


def test_service_page_shows_who_is_on_call_now(
    schedule: Schedule, team: Team, alice: User, bob: User, member_client: Client
) -> None:
    with time_machine.travel(NOW - timedelta(days=10), tick=False):
        ss.layer_create(schedule=schedule, by=None, data=weekly(alice, bob, date(2026, 12, 28)))
    policy = ps.policy_create(team=team, by=None, name="Via schedule")
    ps.step_add(policy=policy, by=None, kind="notify", schedule_id=schedule.pk)
    service = factories.make_service(team=team, name="API")
    page_before = page(member_client, f"/services/{service.pk}/")
    assert re.search(r'id="service-oncall"[^>]*>Nobody', page_before)
    service_set_policy(service=service, policy=policy, by=None)
    detail = page(member_client, f"/services/{service.pk}/")
    assert re.search(r'id="service-oncall"[^>]*>Bob<', detail)


def test_step_editor_targets_a_schedule(
    schedule: Schedule, team: Team, member_client: Client, outsider: User
) -> None:
    policy = ps.policy_create(team=team, by=None, name="P")
    form = page(member_client, f"/escalation-policies/{policy.pk}/steps/new/?kind=notify")
    assert f'<option value="{schedule.pk}">Primary</option>' in form
    response = member_client.post(
        f"/escalation-policies/{policy.pk}/steps/new/",
        {"kind": "notify", "schedule_id": schedule.pk, "channel": ""},
    )
    assert response.status_code == 302
    step = EscalationStep.objects.get(policy=policy)
    assert step.schedule_id == schedule.pk
    detail = page(member_client, f"/escalation-policies/{policy.pk}/")
    assert "Notify whoever is on call in schedule “Primary”" in detail
    edit = page(member_client, f"/escalation-steps/{step.pk}/edit/")
    assert f'<option value="{schedule.pk}" selected>Primary</option>' in edit

    foreign_team = factories.make_team(organization=outsider.organization)
    factories.add_member(foreign_team, outsider)
    foreign = ss.schedule_create(team=foreign_team, by=None, name="Theirs")
    response = member_client.post(
        f"/escalation-policies/{policy.pk}/steps/new/",
        {"kind": "notify", "schedule_id": foreign.pk, "channel": ""},
    )
    assert response.status_code == 422 and "Unknown schedule." in response.content.decode()
