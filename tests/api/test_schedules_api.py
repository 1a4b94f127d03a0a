"""API v1 schedules (#14-#18) and service on-call (#20): shapes, windows, errors, tenancy;
and the real opsduty-client 0.1.0 against a live server."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from opsduty_client import AuthenticatedClient
from opsduty_client.api.schedules import (
    opsduty_api_v1_schedules_create_schedule_override as create_override,
)
from opsduty_client.api.schedules import (
    opsduty_api_v1_schedules_delete_schedule_override as delete_override,
)
from opsduty_client.api.schedules import (
    opsduty_api_v1_schedules_list_schedule_overrides as list_overrides,
)
from opsduty_client.api.schedules import (
    opsduty_api_v1_schedules_list_schedule_shifts as list_shifts,
)
from opsduty_client.api.schedules import opsduty_api_v1_schedules_list_services as list_schedules
from opsduty_client.api.services import (
    opsduty_api_v1_services_list_service_oncall as list_oncall,
)
from opsduty_client.models.paged_schedule_override_schema import PagedScheduleOverrideSchema
from opsduty_client.models.paged_schedule_schema import PagedScheduleSchema
from opsduty_client.models.schedule_override_input_schema import ScheduleOverrideInputSchema
from opsduty_client.models.schedule_override_schema import ScheduleOverrideSchema

from escalations.catalog.services import service_set_policy
from escalations.models import Schedule, ScheduleOverride, StepKind
from escalations.policies.services import policy_create, step_add
from escalations.schedules.services import LayerInput, layer_create, schedule_create
from opsduty import services
from opsduty.models import Organization, Role, Service, Team, User
from tests import factories

NOW = datetime(2027, 1, 3, 12, 0, tzinfo=UTC)
FIRST_HANDOFF = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)  # Monday 09:00 Oslo


def _setup(organization: Organization, owner: User) -> tuple[Schedule, list[User], Team]:
    team = factories.make_team(organization=organization, name="Platform")
    alice = factories.make_user(
        organization=organization, email=f"alice@{organization.domain}.x", first_name="Alice"
    )
    bob = factories.make_user(
        organization=organization, email=f"bob@{organization.domain}.x", first_name="Bob"
    )
    for user in (owner, alice, bob):
        factories.add_member(team, user)
    schedule = schedule_create(team=team, by=None, name="Primary", timezone_name="Europe/Oslo")
    with time_machine.travel(NOW, tick=False):
        layer_create(
            schedule=schedule,
            by=None,
            data=LayerInput(
                name="Daily",
                rotation="rolling",
                groups=[[alice], [bob]],
                frequency="daily",
                start_date=date(2027, 1, 4),
                handoff_time=time(9, 0),
                shift_minutes=24 * 60,
            ),
        )
    return schedule, [alice, bob], team


@pytest.fixture
def owner_api(owner: User) -> Client:
    """The owner's token, valid into 2027 (the tests travel there)."""
    token = factories.access_token_for(owner, expires_in=timedelta(days=3650))
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.fixture
def schedule_setup(owner: User, org_a: Organization) -> tuple[Schedule, list[User], Team]:
    return _setup(org_a, owner)


def _get(client: Client, path: str, **params: Any) -> tuple[int, Any]:
    response = client.get(path, params)
    return response.status_code, json.loads(response.content)


@pytest.mark.django_db
def test_list_schedules_is_paged_and_scoped(
    owner_api: Client, outsider_api: Client, schedule_setup: Any
) -> None:
    schedule, _, _ = schedule_setup
    status, body = _get(owner_api, "/api/v1/schedules/")
    assert status == 200
    assert body["items"] == [{"id": schedule.pk, "name": "Primary", "description": ""}]
    assert body["page_info"]["has_next_page"] is False
    status, body = _get(outsider_api, "/api/v1/schedules/")
    assert (status, body["items"]) == (200, [])


@pytest.mark.django_db
def test_shifts_with_and_without_overflow(owner_api: Client, schedule_setup: Any) -> None:
    schedule, (alice, bob), _ = schedule_setup
    path = f"/api/v1/schedules/{schedule.pk}/shifts/"
    window = {
        "datetime_start": "2027-01-04T12:00:00+01:00",
        "datetime_end": "2027-01-05T12:00:00+01:00",
    }
    status, body = _get(owner_api, path, **window, overflow="true")
    assert status == 200
    assert [(s["start"], s["end"], [u["email"] for u in s["users"]]) for s in body] == [
        ("2027-01-04T08:00:00Z", "2027-01-05T08:00:00Z", [alice.email]),
        ("2027-01-05T08:00:00Z", "2027-01-06T08:00:00Z", [bob.email]),
    ]
    assert body[0]["users"][0] == {
        "id": alice.pk,
        "email": alice.email,
        "first_name": "Alice",
        "last_name": alice.last_name,
    }
    status, body = _get(owner_api, path, **window, overflow="false")
    assert [(s["start"], s["end"]) for s in body] == [
        ("2027-01-04T11:00:00Z", "2027-01-05T08:00:00Z"),
        ("2027-01-05T08:00:00Z", "2027-01-05T11:00:00Z"),
    ]
    # Before the first shift: an empty array, not an error.
    status, body = _get(
        owner_api, path, datetime_start="2026-12-01T00:00:00Z", datetime_end="2026-12-02T00:00:00Z"
    )
    assert (status, body) == (200, [])


A, B, C = "2027-01-01T00:00:00Z", "2027-01-02T00:00:00Z", "2027-06-01T00:00:00Z"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"datetime_end": B}, "datetime_start"),
        ({"datetime_start": A}, "datetime_end"),
        ({"datetime_start": "yesterday", "datetime_end": B}, "datetime_start"),
        ({"datetime_start": B, "datetime_end": A}, "datetime_end"),
        ({"datetime_start": A, "datetime_end": C}, "datetime_end"),
        ({"datetime_start": A, "datetime_end": B, "overflow": "maybe"}, "overflow"),
    ],
)
def test_bad_shift_windows_are_422(
    owner_api: Client, schedule_setup: Any, params: dict[str, str], field: str
) -> None:
    schedule, _, _ = schedule_setup
    status, body = _get(owner_api, f"/api/v1/schedules/{schedule.pk}/shifts/", **params)
    assert status == 422
    assert body["detail"][0]["loc"] == ["query", field]


@pytest.mark.django_db
def test_foreign_and_unknown_schedules_are_404(
    outsider_api: Client, owner_api: Client, schedule_setup: Any
) -> None:
    schedule, (alice, _), _ = schedule_setup
    window = {"datetime_start": "2027-01-04T00:00:00Z", "datetime_end": "2027-01-05T00:00:00Z"}
    for client, schedule_id in ((outsider_api, schedule.pk), (owner_api, 999_999)):
        assert _get(client, f"/api/v1/schedules/{schedule_id}/shifts/", **window)[0] == 404
        assert _get(client, f"/api/v1/schedules/{schedule_id}/overrides/")[0] == 404
        response = client.post(
            f"/api/v1/schedules/{schedule_id}/overrides/",
            {"user_id": alice.pk, "start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z"},
            content_type="application/json",
        )
        assert response.status_code == 404
        assert json.loads(response.content) == {"detail": "Not found."}
    assert not ScheduleOverride.objects.exists()


@pytest.mark.django_db
def test_overrides_create_list_filter_and_delete(owner_api: Client, schedule_setup: Any) -> None:
    schedule, (alice, bob), _ = schedule_setup
    path = f"/api/v1/schedules/{schedule.pk}/overrides/"
    with time_machine.travel(NOW, tick=False):
        created = []
        for user, start in (
            (bob, "2027-01-05T10:00:00+01:00"),
            (alice, "2027-01-04T10:00:00+01:00"),
        ):
            response = owner_api.post(
                path,
                {"user_id": user.pk, "start": start, "end": "2027-01-05T18:00:00+01:00"},
                content_type="application/json",
            )
            assert response.status_code == 201, response.content
            created.append(json.loads(response.content))
    assert created[0]["user"] == {"id": bob.pk, "first_name": "Bob", "last_name": bob.last_name}
    assert (created[0]["start"], created[0]["end"]) == (
        "2027-01-05T09:00:00Z",
        "2027-01-05T17:00:00Z",
    )
    status, body = _get(owner_api, path)
    assert [item["user"]["id"] for item in body["items"]] == [alice.pk, bob.pk]  # earliest first
    status, body = _get(owner_api, path, until="2027-01-05T00:00:00Z")
    assert [item["user"]["id"] for item in body["items"]] == [alice.pk]
    status, body = _get(owner_api, path, since="2027-01-05T18:00:00Z")
    assert body["items"] == []
    # The override wins in the shifts.
    status, shifts = _get(
        owner_api,
        f"/api/v1/schedules/{schedule.pk}/shifts/",
        datetime_start="2027-01-05T09:30:00Z",
        datetime_end="2027-01-05T09:31:00Z",
    )
    assert [[u["id"] for u in s["users"]] for s in shifts] == [sorted([alice.pk, bob.pk])]
    with time_machine.travel(NOW, tick=False):
        response = owner_api.delete(f"{path}{created[0]['id']}/")
    assert (response.status_code, response.content) == (204, b"")
    assert not ScheduleOverride.objects.filter(pk=created[0]["id"]).exists()
    assert owner_api.delete(f"{path}{created[0]['id']}/").status_code == 404


@pytest.mark.django_db
def test_bad_overrides_are_422_and_store_nothing(
    owner_api: Client, schedule_setup: Any, org_a: Organization, outsider: User
) -> None:
    schedule, (alice, _), _ = schedule_setup
    stranger = factories.make_user(organization=org_a, email="stranger@a.example")
    path = f"/api/v1/schedules/{schedule.pk}/overrides/"
    d4, d5, d6 = "2027-01-02T00:00:00Z", "2027-01-05T00:00:00Z", "2027-01-06T00:00:00Z"
    bodies = [
        ({"user_id": stranger.pk, "start": d5, "end": d6}, "user_id"),
        ({"user_id": outsider.pk, "start": d5, "end": d6}, "user_id"),
        ({"user_id": alice.pk, "start": d6, "end": d5}, "end"),
        ({"user_id": alice.pk, "start": d4, "end": d5}, "start"),
        ({"user_id": alice.pk, "start": "soon", "end": d5}, "start"),
        ({"start": d5, "end": d6}, "user_id"),
    ]
    with time_machine.travel(NOW, tick=False):
        for body, field in bodies:
            response = owner_api.post(path, body, content_type="application/json")
            assert response.status_code == 422, (body, response.content)
            detail = json.loads(response.content)["detail"]
            assert detail[0]["loc"] == ["body", field], detail
    assert not ScheduleOverride.objects.exists()


@pytest.mark.django_db
def test_a_past_override_cannot_be_deleted(owner_api: Client, schedule_setup: Any) -> None:
    schedule, (alice, _), _ = schedule_setup
    with time_machine.travel(NOW, tick=False):
        response = owner_api.post(
            f"/api/v1/schedules/{schedule.pk}/overrides/",
            {"user_id": alice.pk, "start": "2027-01-04T00:00:00Z", "end": "2027-01-05T00:00:00Z"},
            content_type="application/json",
        )
    override_id = json.loads(response.content)["id"]
    with time_machine.travel(NOW + timedelta(days=5), tick=False):
        response = owner_api.delete(f"/api/v1/schedules/{schedule.pk}/overrides/{override_id}/")
    assert response.status_code == 422
    assert "past" in json.loads(response.content)["detail"][0]["msg"]
    assert ScheduleOverride.objects.filter(pk=override_id).exists()


@pytest.mark.django_db
def test_service_oncall_resolves_the_first_notify_step(
    owner_api: Client, outsider_api: Client, schedule_setup: Any, owner: User
) -> None:
    schedule, (alice, bob), team = schedule_setup
    service = factories.make_service(team=team, name="API")
    path = f"/api/v1/services/{service.pk}/oncall/"
    assert _get(owner_api, path) == (200, [])  # no policy yet
    policy = policy_create(team=team, by=None, name="Default")
    step_add(policy=policy, by=None, kind=StepKind.WAIT, wait_minutes=1)
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, schedule_id=schedule.pk, users=[owner])
    service_set_policy(service=service, policy=policy, by=None)
    with time_machine.travel(FIRST_HANDOFF + timedelta(days=1, hours=1), tick=False):
        status, body = _get(owner_api, path)
    assert status == 200
    assert [user["email"] for user in body] == [owner.email, bob.email]
    assert set(body[0]) == {"id", "email", "first_name", "last_name"}
    assert _get(outsider_api, path)[0] == 404


# --- the real client ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_public_client_lists_shifts_and_manages_overrides(live_server: Any) -> None:
    organization = factories.make_organization(domain="live", name="Live")
    owner = factories.make_user(organization=organization, role=Role.OWNER, first_name="Olga")
    schedule, (alice, bob), team = _setup(organization, owner)
    service: Service = factories.make_service(team=team, name="API")
    policy = policy_create(team=team, by=None, name="Default")
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, schedule_id=schedule.pk)
    service_set_policy(service=service, policy=policy, by=None)
    token = services.api_token_create(user=owner)
    with AuthenticatedClient(
        base_url=live_server.url, token=token, raise_on_unexpected_status=True
    ) as client:
        listed = list_schedules.sync(client=client)
        assert isinstance(listed, PagedScheduleSchema)
        assert [item.name for item in listed.items] == ["Primary"]
        shifts = list_shifts.sync(
            schedule.pk,
            client=client,
            datetime_start=dt.datetime(2027, 1, 4, 12, tzinfo=UTC),
            datetime_end=dt.datetime(2027, 1, 5, 12, tzinfo=UTC),
        )
        assert isinstance(shifts, list)
        assert [[u.email for u in s.users] for s in shifts] == [[alice.email], [bob.email]]
        assert shifts[0].start == dt.datetime(2027, 1, 4, 8, tzinfo=UTC)
        start = timezone.now() + timedelta(days=1)
        created = create_override.sync(
            schedule.pk,
            client=client,
            body=ScheduleOverrideInputSchema(
                user_id=bob.pk, start=start, end=start + timedelta(hours=2)
            ),
        )
        assert isinstance(created, ScheduleOverrideSchema)
        assert created.user.id == bob.pk and created.end - created.start == timedelta(hours=2)
        overrides = list_overrides.sync(schedule.pk, client=client)
        assert isinstance(overrides, PagedScheduleOverrideSchema)
        assert [o.id for o in overrides.items] == [created.id]
        assert isinstance(created.id, int)
        deleted = delete_override.sync_detailed(schedule.pk, created.id, client=client)
        assert deleted.status_code == 204
        after = list_overrides.sync(schedule.pk, client=client)
        assert isinstance(after, PagedScheduleOverrideSchema) and after.items == []
        assert isinstance(list_oncall.sync(service.pk, client=client), list)


@pytest.mark.django_db(transaction=True)
def test_the_cli_lists_a_months_shifts(live_server: Any) -> None:
    organization = factories.make_organization(domain="cli", name="CLI")
    owner = factories.make_user(organization=organization, role=Role.OWNER)
    schedule, (alice, bob), _ = _setup(organization, owner)
    token = services.api_token_create(user=owner)
    cli = [
        str(Path(sys.executable).with_name("opsduty")),
        "--base-url",
        live_server.url,
        "--access-token",
        token,
        "schedules",
        "shifts",
    ]
    month = ["list", "--month", "2027-01", "--timezone", "Europe/Oslo", "-o", "json"]
    done = subprocess.run(  # noqa: S603 - our own test command line
        [*cli, "--schedule-id", str(schedule.pk), *month],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["schedule_id"] == schedule.pk
    # 1 Jan 00:00 to 31 Jan 00:00 (the CLI's window), Monday 4th 09:00 onwards, daily.
    assert len(document["shifts"]) == 27
    assert document["shifts"][0]["users"] == [f"Alice {alice.last_name}"]
    assert document["shifts"][1]["users"] == [f"Bob {bob.last_name}"]
    missing = subprocess.run(  # noqa: S603
        [*cli, "--schedule-id", "999999", *month],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 2
    assert "Could not fetch schedule shifts." in missing.stderr
