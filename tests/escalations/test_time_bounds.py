"""No 500 from stored data: times people give are bounded where they enter
(opsduty/timebounds.py), and the schedule renderers are safe against a far-future row
stored before the bound existed (issue: an override ending 9999-12-31 took the schedule
page, its calendar feed and the profile pages down with OverflowError)."""

from __future__ import annotations

import dataclasses
import importlib
import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
import time_machine
from django.apps import apps
from django.core.exceptions import ValidationError
from django.test import Client
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from escalations.models import Schedule, ScheduleLayer, ScheduleOverride
from escalations.schedules import shifts
from escalations.schedules.services import (
    LayerInput,
    feed_get_or_create,
    layer_create,
    layer_spec,
    override_create,
    schedule_create,
)
from opsduty.models import Organization, User
from opsduty.timebounds import LATEST
from tests import factories

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 1, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def schedule(org_a: Organization, owner: User) -> Schedule:
    team = factories.make_team(organization=org_a, name="Platform")
    factories.add_member(team, owner)
    schedule = schedule_create(team=team, by=None, name="Primary", timezone_name="Europe/Oslo")
    with time_machine.travel(NOW, tick=False):
        layer_create(schedule=schedule, by=None, data=_daily(owner))
    return schedule


def _daily(user: User, **changes: Any) -> LayerInput:
    data = LayerInput(
        name="Daily",
        rotation="rolling",
        groups=[[user]],
        frequency="daily",
        start_date=date(2027, 1, 4),
        handoff_time=time(9, 0),
        shift_minutes=24 * 60,
    )
    for name, value in changes.items():
        setattr(data, name, value)
    return data


def _stored_override(schedule: Schedule, user: User, end: datetime) -> ScheduleOverride:
    """As a row written before the bound (no service would accept it now)."""
    return ScheduleOverride.objects.create(
        organization_id=schedule.organization_id,
        schedule=schedule,
        user=user,
        start=NOW + timedelta(days=1),
        end=end,
    )


def _pages(client: Client, schedule: Schedule, owner: User) -> dict[str, int]:
    feed = feed_get_or_create(user=owner, schedule=schedule)
    token = factories.access_token_for(owner, expires_in=timedelta(days=3650))
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    window = {"datetime_start": "2027-01-03T00:00:00Z", "datetime_end": "2027-02-03T00:00:00Z"}
    with time_machine.travel(NOW, tick=False):
        client.force_login(owner)
        return {
            "page": client.get(f"/schedules/{schedule.pk}/").status_code,
            "profile": client.get("/profile/calendars/").status_code,
            "diagnostics": client.get("/settings/diagnostics/").status_code,
            "feed": client.get(f"/calendar/{feed.token}.ics").status_code,
            "api": api.get(f"/api/v1/schedules/{schedule.pk}/shifts/", window).status_code,
        }


def test_a_stored_year_9999_override_takes_no_page_down(
    client: Client, schedule: Schedule, owner: User
) -> None:
    _stored_override(schedule, owner, datetime(9999, 12, 31, tzinfo=UTC))
    assert _pages(client, schedule, owner) == dict.fromkeys(
        ("page", "profile", "diagnostics", "feed", "api"), 200
    )


def test_a_stored_year_9999_layer_date_takes_no_page_down(
    client: Client, schedule: Schedule, owner: User
) -> None:
    ScheduleLayer.objects.filter(schedule=schedule).update(repeat_until=date(9999, 12, 31))
    Schedule.objects.filter(pk=schedule.pk).update(version=schedule.version + 1)
    assert set(_pages(client, schedule, owner).values()) == {200}


def test_the_migration_clamps_stored_rows_to_the_bound(schedule: Schedule, owner: User) -> None:
    override = _stored_override(schedule, owner, datetime(9999, 12, 31, tzinfo=UTC))
    ScheduleLayer.objects.filter(schedule=schedule).update(repeat_until=date(9999, 1, 1))
    migration = importlib.import_module("escalations.migrations.0011_clamp_far_future_times")
    migration.clamp(apps, None)
    override.refresh_from_db()
    assert override.end == LATEST
    layer = ScheduleLayer.objects.get(schedule=schedule)
    assert layer.repeat_until == date(2099, 12, 31)


def test_the_service_refuses_an_override_past_2100(schedule: Schedule, owner: User) -> None:
    with time_machine.travel(NOW, tick=False), pytest.raises(ValidationError) as refused:
        override_create(
            schedule=schedule,
            by=owner,
            user=owner,
            start=NOW + timedelta(hours=1),
            end=datetime(9999, 12, 31, tzinfo=UTC),
        )
    assert refused.value.message_dict == {
        "end": ["Must be between 1970-01-01 and 2100-01-01 (UTC)."]
    }
    assert not ScheduleOverride.objects.exists()


def test_the_override_form_shows_the_bound(schedule: Schedule, owner: User, client: Client) -> None:
    with time_machine.travel(NOW, tick=False):
        client.force_login(owner)
        response = client.post(
            f"/schedules/{schedule.pk}/overrides/new/",
            {"user": owner.pk, "start": "2027-01-04T09:00", "end": "9999-12-31T09:00"},
        )
    assert response.status_code == 422
    assert "Must be between 1970-01-01 and 2100-01-01" in response.content.decode()
    assert not ScheduleOverride.objects.exists()


def test_the_api_answers_json_422_for_a_year_9999_override(schedule: Schedule, owner: User) -> None:
    token = factories.access_token_for(owner, expires_in=timedelta(days=3650))
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    body = {"user_id": owner.pk, "start": "2027-01-04T00:00:00Z", "end": "9999-12-31T00:00:00Z"}
    with time_machine.travel(NOW, tick=False):
        response = api.post(
            f"/api/v1/schedules/{schedule.pk}/overrides/", body, content_type="application/json"
        )
    assert response.status_code == 422
    assert response["content-type"].startswith("application/json")
    assert json.loads(response.content)["detail"][0]["loc"] == ["body", "end"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/incidents/?since=9999-01-01T00:00:00Z",
        "/api/v1/schedules/{id}/shifts/?datetime_start=9999-12-01T00:00:00Z"
        "&datetime_end=9999-12-30T00:00:00Z",
    ],
)
def test_api_query_times_out_of_range_are_json_422(
    schedule: Schedule, owner: User, path: str
) -> None:
    token = factories.access_token_for(owner, expires_in=timedelta(days=3650))
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = api.get(path.format(id=schedule.pk))
    assert response.status_code == 422, response.content
    assert response["content-type"].startswith("application/json")
    assert "2100-01-01" in json.dumps(json.loads(response.content)["detail"])


def test_layer_dates_past_2099_are_refused(schedule: Schedule, owner: User) -> None:
    for field, value in (("start_date", date(9999, 1, 4)), ("repeat_until", date(9999, 1, 4))):
        with time_machine.travel(NOW, tick=False), pytest.raises(ValidationError) as refused:
            layer_create(schedule=schedule, by=None, data=_daily(owner, **{field: value}))
        assert field in refused.value.message_dict


# The renderer itself, driven with extreme (but accepted, or once storable) values: layers
# anywhere in the accepted range, overrides up to the year 9999, windows up to the bound.
FAR = datetime(9999, 12, 31, tzinfo=UTC)
# hypothesis takes naive bounds and adds the zone itself.
NAIVE_MIN = datetime(1970, 1, 2)  # noqa: DTZ001
NAIVE_MIN_UTC = NAIVE_MIN.replace(tzinfo=UTC)
NAIVE_WINDOW_MAX = datetime(2099, 9, 1)  # noqa: DTZ001


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@example(
    start_date=date(2027, 1, 4),
    shift_minutes=24 * 60,
    frequency=shifts.Frequency.DAILY,
    override_offset_days=-1,
    override_days=3_000_000,  # to the year 9999
    window_start=NOW,
)
@given(
    start_date=st.dates(min_value=date(1970, 1, 1), max_value=date(2099, 12, 31)),
    shift_minutes=st.integers(min_value=1, max_value=366 * 24 * 60),
    frequency=st.sampled_from(list(shifts.Frequency)),
    override_offset_days=st.integers(min_value=-3_000, max_value=89),
    override_days=st.integers(min_value=0, max_value=3_000_000),
    window_start=st.datetimes(
        min_value=NAIVE_MIN, max_value=NAIVE_WINDOW_MAX, timezones=st.just(UTC)
    ),
)
def test_final_shifts_never_raise_on_extreme_rows(
    schedule: Schedule,
    owner: User,
    start_date: date,
    shift_minutes: int,
    frequency: shifts.Frequency,
    override_offset_days: int,
    override_days: int,
    window_start: datetime,
) -> None:
    spec = dataclasses.replace(
        layer_spec(ScheduleLayer.objects.get(schedule=schedule)),
        start=datetime.combine(start_date, time(9, 0)),
        shift_length=timedelta(minutes=shift_minutes),
        frequency=frequency,
    )
    # Mostly overlapping the window, as a long override does.
    override_start = max(window_start + timedelta(days=override_offset_days), NAIVE_MIN_UTC)
    room = (FAR - override_start).days
    override_end = override_start + timedelta(days=min(override_days, room), minutes=1)
    override = shifts.OverrideSpec(1, override_start, override_end, (owner.pk,))
    window_end = window_start + timedelta(days=90)
    rows = shifts.final_shifts([spec], [override], window_start, window_end)
    assert all(row.start < row.end for row in rows)
    assert all(row.start < window_end and row.end > window_start for row in rows)
