"""seed_demo's schedule "Platform primary" (DEMO.md): one weekly rolling layer alice -> bob
from the next Monday 09:00 in Oslo, bob on call by override until then, step 1 of
"Platform default" notifying it; running the seed again changes nothing."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client

from escalations.engine.targets import service_oncall
from escalations.models import (
    EscalationPolicy,
    EscalationStep,
    Schedule,
    ScheduleLayer,
    ScheduleOverride,
)
from escalations.policies.services import policy_create, step_add
from escalations.schedules.selectors import oncall_forget, oncall_user_ids, schedule_timeline
from opsduty import services
from opsduty.models import Organization, Service, Team, User

pytestmark = pytest.mark.django_db

# Wednesday 2027-01-06 15:00 UTC (16:00 in Oslo): the next Monday handoff is 2027-01-11.
WEDNESDAY = datetime(2027, 1, 6, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_oncall_cache() -> None:
    oncall_forget()


def seed(at: datetime) -> Organization:
    with time_machine.travel(at, tick=False):
        call_command("seed_demo", stdout=io.StringIO())
    return Organization.objects.get(domain="demo")


def emails(user_ids: tuple[int, ...]) -> list[str]:
    return [User.objects.get(pk=pk).email for pk in user_ids]


def snapshot(org: Organization) -> tuple[object, ...]:
    schedule = Schedule.objects.get(organization=org)
    return (
        schedule.version,
        list(ScheduleLayer.objects.filter(schedule=schedule).values()),
        list(ScheduleOverride.objects.filter(schedule=schedule).values()),
        list(EscalationStep.objects.filter(organization=org).values("pk", "schedule_id")),
    )


def test_seed_builds_platform_primary_with_bob_on_call_until_alices_first_week() -> None:
    org = seed(WEDNESDAY)
    schedule = Schedule.objects.get(organization=org)
    assert (schedule.name, schedule.timezone, schedule.team.name) == (
        "Platform primary",
        "Europe/Oslo",
        "Platform",
    )
    [layer] = ScheduleLayer.objects.filter(schedule=schedule)
    assert (layer.rotation, layer.frequency, layer.interval, layer.shift_minutes) == (
        "rolling",
        "weekly",
        1,
        7 * 24 * 60,
    )
    assert (layer.start_date, layer.handoff_time) == (date(2027, 1, 11), time(9, 0))
    assert [emails(tuple(group)) for group in layer.groups] == [
        ["alice@demo.example"],
        ["bob@demo.example"],
    ]
    first = datetime(2027, 1, 11, 8, 0, tzinfo=UTC)  # Monday 09:00 in Oslo (CET)
    [override] = ScheduleOverride.objects.filter(schedule=schedule)
    assert (override.user.email, override.start, override.end) == (
        "bob@demo.example",
        WEDNESDAY,
        first,
    )
    on_call = [
        emails(oncall_user_ids(schedule, at))
        for at in (WEDNESDAY, first - timedelta(minutes=1), first, first + timedelta(days=7))
    ]
    assert on_call == [
        ["bob@demo.example"],
        ["bob@demo.example"],
        ["alice@demo.example"],
        ["bob@demo.example"],
    ]


def test_platform_default_pages_whoever_is_on_call_from_the_start() -> None:
    org = seed(WEDNESDAY)
    step = EscalationStep.objects.get(policy__name="Platform default", position=0)
    assert step.schedule is not None and step.schedule.name == "Platform primary"
    api = Service.objects.get(organization=org, name="API")
    assert [u.email for u in service_oncall(api, WEDNESDAY)] == ["bob@demo.example"]
    monday = datetime(2027, 1, 11, 9, 0, tzinfo=UTC)
    assert [u.email for u in service_oncall(api, monday)] == ["alice@demo.example"]


def test_running_the_seed_again_changes_nothing() -> None:
    org = seed(WEDNESDAY)
    before = snapshot(org)
    seed(WEDNESDAY + timedelta(minutes=5))
    seed(WEDNESDAY + timedelta(days=30))  # the override is over, the rotation running
    assert snapshot(org) == before


@pytest.mark.parametrize(
    ("now", "first_local_date"),
    [
        (datetime(2027, 1, 11, 7, 59, tzinfo=UTC), date(2027, 1, 11)),  # Monday 08:59 Oslo
        (datetime(2027, 1, 11, 8, 0, tzinfo=UTC), date(2027, 1, 18)),  # exactly the handoff
        (datetime(2027, 1, 10, 23, 30, tzinfo=UTC), date(2027, 1, 11)),  # Monday 00:30 Oslo
        (datetime(2027, 3, 27, 12, 0, tzinfo=UTC), date(2027, 3, 29)),  # across the DST change
    ],
)
def test_the_rotation_starts_at_the_next_monday_handoff_in_oslo(
    now: datetime, first_local_date: date
) -> None:
    org = seed(now)
    layer = ScheduleLayer.objects.get(organization=org)
    assert layer.start_date == first_local_date
    override = ScheduleOverride.objects.get(organization=org)
    assert override.start == now and override.end > now
    assert emails(oncall_user_ids(layer.schedule, override.end)) == ["alice@demo.example"]


def test_a_demo_seeded_before_schedules_gets_its_step_1_moved_to_the_schedule() -> None:
    """Dev databases seeded earlier had step 1 "notify team Platform"; the seed updates it."""
    with time_machine.travel(WEDNESDAY, tick=False):
        org = services.organization_create(name="Demo Inc.", domain="demo")
        team = Team.objects.create(organization=org, name="Platform")
        old = policy_create(team=team, by=None, name="Platform default")
        step_add(policy=old, by=None, kind="notify", teams=[team])
        step_add(policy=old, by=None, kind="wait", wait_minutes=5)
    seed(WEDNESDAY)
    policy = EscalationPolicy.objects.get(organization=org, name="Platform default")
    first = policy.steps.get(position=0)
    assert first.schedule is not None and first.schedule.name == "Platform primary"
    assert list(first.teams.all()) == []
    assert policy.steps.count() == 2  # nothing else of an existing policy is touched


def test_the_demo_schedule_has_no_gap_while_the_clock_runs(client: Client) -> None:
    """The seed ran with the real clock moving: the schedule was created an instant before
    bob's override started, and the schedule page showed that instant as a gap ("Wed 6 Jan
    2027 16:00 – Wed 6 Jan 2027 16:00"). Schedule and override now share one instant."""
    with time_machine.travel(WEDNESDAY, tick=True):
        org = seed_ticking()
        schedule = Schedule.objects.get(organization=org)
        override = ScheduleOverride.objects.get(schedule=schedule)
        client.force_login(User.objects.get(email="owner@demo.example"))
        page = client.get(f"/schedules/{schedule.pk}/").content.decode()
        timeline = schedule_timeline(
            schedule, WEDNESDAY - timedelta(days=1), WEDNESDAY + timedelta(days=60)
        )
    assert 'id="schedule-gaps"' not in page
    assert timeline.gaps == []
    assert override.start == schedule.created_at


def seed_ticking() -> Organization:
    call_command("seed_demo", stdout=io.StringIO())
    return Organization.objects.get(domain="demo")
