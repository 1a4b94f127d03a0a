"""API v1 heartbeats (#1-#9, spec §2.3): shapes, validation, absent-vs-null updates, type
switches, visibility and tenancy, and the authenticated check-in by name."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from opsduty.models import Organization, Service, Team, User
from opsduty.text import NOT_BLANK_PATTERN
from signals.models import Heartbeat, HeartbeatCheckIn, HeartbeatState
from tests import factories
from tests.conftest import api_client_for
from tests.heartbeat_factories import make_heartbeat, make_state

pytestmark = pytest.mark.django_db

HEARTBEAT_KEYS = {
    "states",
    "name",
    "service",
    "id",
    "public_primary_key",
    "description",
    "link",
    "incident_urgency",
    "labels",
}
COMMON_STATE_KEYS = {
    "id",
    "environment",
    "type",
    "muted",
    "resolve_incident",
    "timeout_seconds",
    "last_checkin_at",
}
CRON_KEYS = COMMON_STATE_KEYS | {"cron_expression", "cron_timezone"}
INTERVAL_KEYS = COMMON_STATE_KEYS | {"interval_seconds"}


@pytest.fixture
def team(org_a: Organization, owner: User, member: User) -> Team:
    team = factories.make_team(organization=org_a, name="Platform")
    factories.add_member(team, member)
    return team


@pytest.fixture
def service(team: Team) -> Service:
    return factories.make_service(team=team, name="API")


@pytest.fixture
def other_service(org_a: Organization) -> Service:
    """A service of another team of org A (the member is not in it)."""
    return factories.make_service(team=factories.make_team(organization=org_a, name="Data"))


@pytest.fixture
def foreign_service(org_b: Organization) -> Service:
    return factories.make_service(organization=org_b, name="B's API")


@pytest.fixture
def member_api(member: User) -> Client:
    return api_client_for(member)


@pytest.fixture
def stakeholder_api(stakeholder: User, team: Team) -> Client:
    factories.add_member(team, stakeholder)
    return api_client_for(stakeholder)


def call(client: Client, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """Send `body` as JSON; return (status, parsed body or None when empty)."""
    kwargs: dict[str, Any] = {}
    if body is not None:
        kwargs = {"data": json.dumps(body), "content_type": "application/json"}
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code < 300 or response["Content-Type"].startswith("application/json")
    return response.status_code, json.loads(response.content) if response.content else None


def locs(body: Any) -> list[list[Any]]:
    return [item["loc"] for item in body["detail"]]


# --- #1 list ----------------------------------------------------------------------------------


def test_list_is_oldest_first_paged_and_filtered_by_service(
    owner_api: Client, service: Service, other_service: Service
) -> None:
    first = make_heartbeat(service=service, name="a")
    second = make_heartbeat(service=other_service, name="b")
    third = make_heartbeat(service=service, name="c")
    status, body = call(owner_api, "get", "/api/v1/heartbeats/")
    assert status == 200
    assert [h["id"] for h in body["items"]] == [first.pk, second.pk, third.pk]

    status, page = call(owner_api, "get", f"/api/v1/heartbeats/?service={service.pk}&first=1")
    assert [h["name"] for h in page["items"]] == ["a"]
    assert page["page_info"]["has_next_page"] is True
    cursor = page["page_info"]["end_cursor"]
    status, page = call(
        owner_api, "get", f"/api/v1/heartbeats/?service={service.pk}&first=1&after={cursor}"
    )
    assert [h["name"] for h in page["items"]] == ["c"]
    assert page["page_info"]["has_next_page"] is False
    # 0.0.x spelling of the page size.
    status, page = call(owner_api, "get", f"/api/v1/heartbeats/?service={service.pk}&page_size=1")
    assert [h["name"] for h in page["items"]] == ["a"]


def test_unknown_service_filter_is_an_empty_page(owner_api: Client, service: Service) -> None:
    make_heartbeat(service=service)
    status, body = call(owner_api, "get", "/api/v1/heartbeats/?service=999999")
    assert status == 200
    assert body == {
        "items": [],
        "page_info": {
            "has_next_page": False,
            "has_previous_page": False,
            "start_cursor": None,
            "end_cursor": None,
        },
    }
    status, body = call(owner_api, "get", "/api/v1/heartbeats/?service=abc")
    assert status == 422
    assert locs(body) == [["query", "service"]]


def test_members_see_their_teams_heartbeats_and_outsiders_none(
    member_api: Client,
    outsider_api: Client,
    service: Service,
    other_service: Service,
    foreign_service: Service,
) -> None:
    mine = make_heartbeat(service=service, name="mine")
    make_heartbeat(service=other_service, name="theirs")
    foreign = make_heartbeat(service=foreign_service, name="foreign")
    _, body = call(member_api, "get", "/api/v1/heartbeats/")
    assert [h["id"] for h in body["items"]] == [mine.pk]
    _, body = call(member_api, "get", f"/api/v1/heartbeats/?service={other_service.pk}")
    assert body["items"] == []
    _, body = call(outsider_api, "get", "/api/v1/heartbeats/")
    assert [h["id"] for h in body["items"]] == [foreign.pk]


def test_heartbeat_shape_has_all_nine_keys_and_typed_states(
    owner_api: Client, service: Service
) -> None:
    heartbeat = make_heartbeat(service=service, description="db dump", link=None)
    cron = make_state(
        heartbeat=heartbeat,
        environment="prod",
        type="cron",
        cron_expression="*/5 * * * *",
        cron_timezone="Europe/Oslo",
        timeout_seconds=60,
    )
    interval = make_state(
        heartbeat=heartbeat,
        environment="staging",
        interval_seconds=300,
        muted=True,
        resolve_incident=False,
    )
    status, body = call(owner_api, "get", f"/api/v1/heartbeats/{heartbeat.pk}/")
    assert status == 200
    assert body == {
        "states": [
            {
                "id": cron.pk,
                "environment": "prod",
                "type": "cron",
                "cron_expression": "*/5 * * * *",
                "cron_timezone": "Europe/Oslo",
                "muted": False,
                "resolve_incident": True,
                "timeout_seconds": 60,
                "last_checkin_at": None,
            },
            {
                "id": interval.pk,
                "environment": "staging",
                "type": "interval",
                "interval_seconds": 300,
                "muted": True,
                "resolve_incident": False,
                "timeout_seconds": 0,
                "last_checkin_at": None,
            },
        ],
        "name": "nightly-backup",
        "service": service.pk,
        "id": heartbeat.pk,
        "public_primary_key": heartbeat.public_primary_key,
        "description": "db dump",
        "link": None,
        "incident_urgency": "high",
        "labels": [],
    }


# --- #2 create --------------------------------------------------------------------------------


def test_create_heartbeat_with_the_cli_body(owner_api: Client, service: Service) -> None:
    body = {
        "name": "delta",
        "description": "",
        "service": service.pk,
        "link": "https://example.com/runbook",
    }
    status, created = call(owner_api, "post", "/api/v1/heartbeats/", body)
    assert status == 201
    assert set(created) == HEARTBEAT_KEYS
    assert created["states"] == []
    assert created["id"] > 0
    assert created["public_primary_key"].startswith("HB")
    assert (created["link"], created["incident_urgency"], created["labels"]) == (
        "https://example.com/runbook",
        "high",
        [],
    )
    assert Heartbeat.objects.get(pk=created["id"]).service_id == service.pk


def test_create_heartbeat_with_urgency_and_labels(member_api: Client, service: Service) -> None:
    body = {
        "name": "x",
        "description": "d",
        "service": service.pk,
        "incident_urgency": "low",
        "labels": ["db", "nightly"],
    }
    status, created = call(member_api, "post", "/api/v1/heartbeats/", body)
    assert status == 201
    assert (created["incident_urgency"], created["labels"], created["link"]) == (
        "low",
        ["db", "nightly"],
        None,
    )


MISSING = object()


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"name": MISSING}, ["body", "name"]),
        ({"name": ""}, ["body", "name"]),
        ({"name": "   "}, ["body", "name"]),
        ({"name": "taken"}, ["body", "name"]),
        ({"service": MISSING}, ["body", "service"]),
        ({"service": None}, ["body", "service"]),
        ({"service": 999999}, ["body", "service"]),
        ({"link": "not a url"}, ["body", "link"]),
        ({"incident_urgency": "urgent"}, ["body", "incident_urgency"]),
        ({"labels": "db"}, ["body", "labels"]),
    ],
)
def test_create_heartbeat_rejects_bad_bodies(
    owner_api: Client, service: Service, change: dict[str, Any], loc: list[str]
) -> None:
    make_heartbeat(service=service, name="taken")
    body = {"name": "ok", "description": "", "service": service.pk} | change
    body = {key: value for key, value in body.items() if value is not MISSING}
    status, answer = call(owner_api, "post", "/api/v1/heartbeats/", body)
    assert status == 422, answer
    assert loc in locs(answer)
    assert Heartbeat.objects.count() == 1


def test_create_heartbeat_on_an_invisible_or_foreign_service_is_422(
    member_api: Client, owner_api: Client, other_service: Service, foreign_service: Service
) -> None:
    for client, target in ((member_api, other_service), (owner_api, foreign_service)):
        body = {"name": "x", "description": "", "service": target.pk, "link": None}
        status, answer = call(client, "post", "/api/v1/heartbeats/", body)
        assert status == 422
        assert answer["detail"][0] == {
            "loc": ["body", "service"],
            "msg": "Unknown service.",
            "type": "value_error",
        }
    assert not Heartbeat.objects.exists()


def test_body_that_is_not_an_object_is_422(owner_api: Client) -> None:
    status, answer = call(owner_api, "post", "/api/v1/heartbeats/", ["name"])
    assert status == 422
    assert locs(answer) == [["body"]]
    response = owner_api.post("/api/v1/heartbeats/", "{", content_type="application/json")
    assert response.status_code == 422


# --- #3-#5 ------------------------------------------------------------------------------------


def test_update_leaves_absent_keys_and_clears_nulls(owner_api: Client, service: Service) -> None:
    heartbeat = make_heartbeat(
        service=service,
        name="alpha",
        link="https://wiki.example/a",
        incident_urgency="low",
        labels=["db"],
    )
    path = f"/api/v1/heartbeats/{heartbeat.pk}/"
    # The CLI's body: no incident_urgency, no labels.
    cli_body = {"name": "alpha", "description": "changed", "service": service.pk, "link": None}
    status, body = call(owner_api, "put", path, cli_body)
    assert status == 200
    assert (body["description"], body["link"], body["incident_urgency"], body["labels"]) == (
        "changed",
        None,
        "low",
        ["db"],
    )
    # Absent link: unchanged; explicit nulls: cleared to the defaults.
    call(owner_api, "put", path, {"link": "https://wiki.example/b"})
    status, body = call(owner_api, "put", path, {"name": "alpha2", "service": service.pk})
    assert (body["name"], body["link"]) == ("alpha2", "https://wiki.example/b")
    status, body = call(
        owner_api, "put", path, {"incident_urgency": None, "labels": None, "description": None}
    )
    assert status == 200
    assert (body["incident_urgency"], body["labels"], body["description"]) == ("high", [], "")
    heartbeat.refresh_from_db()
    assert (heartbeat.name, heartbeat.incident_urgency, heartbeat.labels) == ("alpha2", "high", [])


def test_update_moves_to_another_visible_service_only(
    owner_api: Client, member_api: Client, service: Service, other_service: Service
) -> None:
    heartbeat = make_heartbeat(service=service)
    path = f"/api/v1/heartbeats/{heartbeat.pk}/"
    status, body = call(member_api, "put", path, {"service": other_service.pk})
    assert (status, locs(body)) == (422, [["body", "service"]])
    status, body = call(owner_api, "put", path, {"service": other_service.pk})
    assert (status, body["service"]) == (200, other_service.pk)


def test_update_rejects_a_duplicate_name_and_a_null_name(
    owner_api: Client, service: Service
) -> None:
    make_heartbeat(service=service, name="one")
    two = make_heartbeat(service=service, name="two")
    path = f"/api/v1/heartbeats/{two.pk}/"
    status, body = call(owner_api, "put", path, {"name": "one"})
    assert (status, locs(body)) == (422, [["body", "name"]])
    status, body = call(owner_api, "put", path, {"name": None})
    assert (status, locs(body)) == (422, [["body", "name"]])
    two.refresh_from_db()
    assert two.name == "two"


def test_delete_heartbeat_drops_states_and_checkins(owner_api: Client, service: Service) -> None:
    heartbeat = make_heartbeat(service=service)
    state = make_state(heartbeat=heartbeat)
    assert Client().get(f"/heartbeats/checkin/{heartbeat.public_primary_key}/").status_code == 200
    response = owner_api.delete(f"/api/v1/heartbeats/{heartbeat.pk}/")
    assert (response.status_code, response.content) == (204, b"")
    assert not HeartbeatState.objects.filter(pk=state.pk).exists()
    assert not HeartbeatCheckIn.objects.exists()
    assert Client().get(f"/heartbeats/checkin/{heartbeat.public_primary_key}/").status_code == 404
    status, body = call(owner_api, "delete", f"/api/v1/heartbeats/{heartbeat.pk}/")
    assert (status, body) == (404, {"detail": "Not found."})


def test_unknown_foreign_and_invisible_heartbeats_are_404(
    owner_api: Client,
    member_api: Client,
    outsider_api: Client,
    service: Service,
    other_service: Service,
) -> None:
    mine = make_heartbeat(service=service)
    theirs = make_heartbeat(service=other_service)
    cases = [(owner_api, 999999), (outsider_api, mine.pk), (member_api, theirs.pk)]
    for client, heartbeat_id in cases:
        path = f"/api/v1/heartbeats/{heartbeat_id}/"
        for method, body in (("get", None), ("put", {"name": "x"}), ("delete", None)):
            status, answer = call(client, method, path, body)
            assert (status, answer) == (404, {"detail": "Not found."}), (method, path)
    assert Heartbeat.objects.filter(pk__in=[mine.pk, theirs.pk]).count() == 2


def test_stakeholders_read_but_do_not_write(stakeholder_api: Client, service: Service) -> None:
    heartbeat = make_heartbeat(service=service)
    state = make_state(heartbeat=heartbeat)
    assert call(stakeholder_api, "get", f"/api/v1/heartbeats/{heartbeat.pk}/")[0] == 200
    writes = [
        ("post", "/api/v1/heartbeats/", {"name": "x", "description": "", "service": service.pk}),
        ("put", f"/api/v1/heartbeats/{heartbeat.pk}/", {"name": "y"}),
        ("delete", f"/api/v1/heartbeats/{heartbeat.pk}/", None),
        (
            "post",
            "/api/v1/heartbeats/states/",
            {"heartbeat_id": heartbeat.pk, "environment": "dev", "type": "interval"}
            | {"interval_seconds": 60, "timeout_seconds": 0, "muted": False}
            | {"resolve_incident": True},
        ),
        ("put", f"/api/v1/heartbeats/states/{state.pk}/", {"muted": True}),
        ("delete", f"/api/v1/heartbeats/states/{state.pk}/", None),
    ]
    for method, path, body in writes:
        status, answer = call(stakeholder_api, method, path, body)
        assert status == 403, (method, path, answer)
        assert "detail" in answer
    heartbeat.refresh_from_db()
    state.refresh_from_db()
    assert (heartbeat.name, state.muted, Heartbeat.objects.count()) == ("nightly-backup", False, 1)


def test_every_route_needs_a_token(service: Service) -> None:
    heartbeat = make_heartbeat(service=service)
    state = make_state(heartbeat=heartbeat)
    anonymous = Client()
    routes = [
        ("get", "/api/v1/heartbeats/"),
        ("post", "/api/v1/heartbeats/"),
        ("get", f"/api/v1/heartbeats/{heartbeat.pk}/"),
        ("put", f"/api/v1/heartbeats/{heartbeat.pk}/"),
        ("delete", f"/api/v1/heartbeats/{heartbeat.pk}/"),
        ("post", "/api/v1/heartbeats/states/"),
        ("put", f"/api/v1/heartbeats/states/{state.pk}/"),
        ("delete", f"/api/v1/heartbeats/states/{state.pk}/"),
        ("get", f"/api/v1/heartbeats/checkin/{service.pk}/nightly-backup/prod"),
    ]
    for method, path in routes:
        status, body = call(anonymous, method, path)
        assert status == 401, (method, path)
        assert isinstance(body["detail"], str)
    assert not HeartbeatCheckIn.objects.exists()


# --- #6-#8 states -----------------------------------------------------------------------------

CLI_INTERVAL = {
    "environment": "prod",
    "type": "interval",
    "timeout_seconds": 30,
    "muted": False,
    "resolve_incident": True,
    "cron_expression": None,
    "cron_timezone": None,
    "interval_seconds": 120,
}
CLI_CRON = {
    "environment": "dev",
    "type": "cron",
    "timeout_seconds": 0,
    "muted": True,
    "resolve_incident": False,
    "cron_expression": "0 * * * *",
    "cron_timezone": "Europe/Oslo",
    "interval_seconds": None,
}


def test_create_states_with_the_cli_bodies(member_api: Client, service: Service) -> None:
    heartbeat = make_heartbeat(service=service)
    status, interval = call(
        member_api,
        "post",
        "/api/v1/heartbeats/states/",
        {"heartbeat_id": heartbeat.pk} | CLI_INTERVAL,
    )
    assert status == 201
    assert set(interval) == INTERVAL_KEYS
    assert (interval["type"], interval["interval_seconds"], interval["timeout_seconds"]) == (
        "interval",
        120,
        30,
    )
    status, cron = call(
        member_api, "post", "/api/v1/heartbeats/states/", {"heartbeat_id": heartbeat.pk} | CLI_CRON
    )
    assert status == 201
    assert set(cron) == CRON_KEYS
    assert (cron["cron_expression"], cron["cron_timezone"], cron["muted"]) == (
        "0 * * * *",
        "Europe/Oslo",
        True,
    )
    state = HeartbeatState.objects.get(pk=cron["id"])
    assert state.interval_seconds is None and state.next_deadline is not None
    _, body = call(member_api, "get", f"/api/v1/heartbeats/{heartbeat.pk}/")
    assert [s["environment"] for s in body["states"]] == ["prod", "dev"]


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"cron_expression": "61 * * * *"}, ["body", "cron_expression"]),
        ({"cron_expression": "every day"}, ["body", "cron_expression"]),
        ({"cron_expression": None}, ["body", "cron_expression"]),
        ({"cron_timezone": "Mars/Olympus"}, ["body", "cron_timezone"]),
        ({"cron_timezone": None}, ["body", "cron_timezone"]),
        ({"type": "interval", "interval_seconds": 0}, ["body", "interval_seconds"]),
        ({"type": "interval", "interval_seconds": -5}, ["body", "interval_seconds"]),
        ({"type": "interval", "interval_seconds": None}, ["body", "interval_seconds"]),
        ({"type": "interval", "interval_seconds": "often"}, ["body", "interval_seconds"]),
        ({"type": "sometimes"}, ["body", "type"]),
        ({"type": None}, ["body", "type"]),
        ({"timeout_seconds": -1}, ["body", "timeout_seconds"]),
        ({"environment": ""}, ["body", "environment"]),
        ({"environment": "prod"}, ["body", "environment"]),
        ({"heartbeat_id": 999999}, ["body", "heartbeat_id"]),
        ({"heartbeat_id": None}, ["body", "heartbeat_id"]),
    ],
)
def test_create_state_rejects_bad_bodies(
    owner_api: Client, service: Service, change: dict[str, Any], loc: list[str]
) -> None:
    heartbeat = make_heartbeat(service=service)
    make_state(heartbeat=heartbeat, environment="prod")
    body = {"heartbeat_id": heartbeat.pk} | CLI_CRON | change
    status, answer = call(owner_api, "post", "/api/v1/heartbeats/states/", body)
    assert status == 422, answer
    assert loc in locs(answer)
    assert HeartbeatState.objects.count() == 1


@pytest.mark.parametrize("missing", ["heartbeat_id", "environment", "type"])
def test_create_state_requires_its_keys(owner_api: Client, service: Service, missing: str) -> None:
    heartbeat = make_heartbeat(service=service)
    body = {"heartbeat_id": heartbeat.pk} | CLI_INTERVAL
    del body[missing]
    status, answer = call(owner_api, "post", "/api/v1/heartbeats/states/", body)
    assert (status, locs(answer)) == (422, [["body", missing]])


def test_create_state_on_a_foreign_or_invisible_heartbeat_is_422(
    owner_api: Client, member_api: Client, other_service: Service, foreign_service: Service
) -> None:
    for client, target in ((owner_api, foreign_service), (member_api, other_service)):
        heartbeat = make_heartbeat(service=target)
        body = {"heartbeat_id": heartbeat.pk} | CLI_INTERVAL
        status, answer = call(client, "post", "/api/v1/heartbeats/states/", body)
        assert (status, locs(answer)) == (422, [["body", "heartbeat_id"]])
    assert not HeartbeatState.objects.exists()


def test_update_state_switches_type_and_clears_the_other_fields(
    owner_api: Client, service: Service
) -> None:
    heartbeat = make_heartbeat(service=service)
    state = make_state(heartbeat=heartbeat, type="cron", cron_expression="0 3 * * *")
    path = f"/api/v1/heartbeats/states/{state.pk}/"
    to_interval = {k: v for k, v in CLI_INTERVAL.items() if k != "environment"}
    status, body = call(owner_api, "put", path, to_interval)
    assert status == 200
    assert set(body) == INTERVAL_KEYS
    assert (body["environment"], body["interval_seconds"]) == ("prod", 120)
    state.refresh_from_db()
    assert (state.type, state.cron_expression, state.cron_timezone) == ("interval", None, None)
    # The CLI's cron body (interval_seconds: null).
    to_cron = {
        "type": "cron",
        "timeout_seconds": 60,
        "muted": False,
        "resolve_incident": True,
        "cron_expression": "*/10 * * * *",
        "cron_timezone": "UTC",
        "interval_seconds": None,
    }
    status, body = call(owner_api, "put", path, to_cron)
    assert status == 200
    assert set(body) == CRON_KEYS
    assert (body["cron_expression"], body["timeout_seconds"]) == ("*/10 * * * *", 60)
    state.refresh_from_db()
    assert (state.type, state.interval_seconds) == ("cron", None)
    # Repeating the same PUT (the CLI does on every import) is a no-op answering 200.
    again = call(owner_api, "put", path, to_cron)
    assert again == (200, body)


def test_update_state_keeps_absent_keys_and_cannot_change_the_environment(
    owner_api: Client, service: Service
) -> None:
    heartbeat = make_heartbeat(service=service)
    state = make_state(heartbeat=heartbeat, interval_seconds=600, timeout_seconds=30)
    path = f"/api/v1/heartbeats/states/{state.pk}/"
    status, body = call(owner_api, "put", path, {"muted": True, "environment": "other"})
    assert status == 200
    assert (body["muted"], body["interval_seconds"], body["timeout_seconds"]) == (True, 600, 30)
    assert body["environment"] == "prod"
    status, body = call(owner_api, "put", path, {"type": "cron"})
    assert (status, sorted(map(tuple, locs(body)))) == (
        422,
        [("body", "cron_expression"), ("body", "cron_timezone")],
    )
    state.refresh_from_db()
    assert (state.type, state.interval_seconds) == ("interval", 600)


def test_state_routes_404_for_unknown_foreign_and_invisible_states(
    owner_api: Client,
    member_api: Client,
    outsider_api: Client,
    service: Service,
    other_service: Service,
) -> None:
    mine = make_state(heartbeat=make_heartbeat(service=service))
    theirs = make_state(heartbeat=make_heartbeat(service=other_service))
    for client, state_id in ((owner_api, 999999), (outsider_api, mine.pk), (member_api, theirs.pk)):
        path = f"/api/v1/heartbeats/states/{state_id}/"
        for method, body in (("put", {"muted": True}), ("delete", None)):
            assert call(client, method, path, body) == (404, {"detail": "Not found."})
    assert HeartbeatState.objects.filter(muted=False).count() == 2


def test_delete_state_then_checkins_to_it_are_404(member_api: Client, service: Service) -> None:
    heartbeat = make_heartbeat(service=service)
    prod = make_state(heartbeat=heartbeat, environment="prod")
    make_state(heartbeat=heartbeat, environment="dev")
    response = member_api.delete(f"/api/v1/heartbeats/states/{prod.pk}/")
    assert (response.status_code, response.content) == (204, b"")
    key = heartbeat.public_primary_key
    assert Client().get(f"/heartbeats/checkin/{key}/prod/").status_code == 404
    assert Client().get(f"/heartbeats/checkin/{key}/dev/").status_code == 200


def test_state_collection_and_literal_routes_are_not_heartbeat_ids(owner_api: Client) -> None:
    assert call(owner_api, "get", "/api/v1/heartbeats/states/")[0] == 405
    assert call(owner_api, "get", "/api/v1/heartbeats/states/1")[0] == 404  # no slash: no route
    assert call(owner_api, "get", "/api/v1/heartbeats/checkin/")[0] == 404


# --- #9 check-in by name ----------------------------------------------------------------------


def test_checkin_by_name_records_the_checkin(owner_api: Client, service: Service) -> None:
    heartbeat = make_heartbeat(service=service, name="alpha")
    state = make_state(heartbeat=heartbeat, environment="prod")
    response = owner_api.get(
        f"/api/v1/heartbeats/checkin/{service.pk}/alpha/prod",
        HTTP_USER_AGENT="python-httpx/0.28.1",
        REMOTE_ADDR="10.1.2.3",
    )
    assert response.status_code == 200
    assert json.loads(response.content)["environment"] == "prod"
    state.refresh_from_db()
    assert state.last_checkin_at is not None
    checkin = HeartbeatCheckIn.objects.get(state=state)
    assert (checkin.source_ip, checkin.user_agent) == ("10.1.2.3", "python-httpx/0.28.1")
    _, body = call(owner_api, "get", f"/api/v1/heartbeats/{heartbeat.pk}/")
    assert body["states"][0]["last_checkin_at"] is not None


def test_checkin_by_name_decodes_each_segment(owner_api: Client, service: Service) -> None:
    name = "nightly job/x:y?#"
    state = make_state(heartbeat=make_heartbeat(service=service, name=name), environment="prod:eu")
    # Client 0.1.0's encoding; Django's test client decodes the path like any WSGI server.
    path = f"/api/v1/heartbeats/checkin/{service.pk}/nightly%20job%2Fx%3Ay%3F%23/prod%3Aeu"
    assert owner_api.get(path).status_code == 200
    # Client 0.0.x sends `:` raw.
    assert (
        owner_api.get(
            f"/api/v1/heartbeats/checkin/{service.pk}/nightly%20job%2Fx%3Ay%3F%23/prod:eu"
        ).status_code
        == 200
    )
    assert HeartbeatCheckIn.objects.filter(state=state).count() == 2


def test_checkin_by_name_uses_the_raw_path_for_an_environment_with_a_slash(
    owner_api: Client, service: Service
) -> None:
    state = make_state(heartbeat=make_heartbeat(service=service, name="job"), environment="eu/west")
    raw = f"/api/v1/heartbeats/checkin/{service.pk}/job/eu%2Fwest"
    # What gunicorn (RAW_URI) or uWSGI (REQUEST_URI) tell Django next to the decoded path.
    for meta in ("RAW_URI", "REQUEST_URI"):
        extra: dict[str, Any] = {meta: raw + "?x=1"}
        assert owner_api.get(raw, **extra).status_code == 200
    # Without the raw path, the decoded path splits on its last `/`: name "job/eu", env "west".
    status, body = call(owner_api, "get", raw)
    assert status == 404
    assert HeartbeatCheckIn.objects.filter(state=state).count() == 2


@pytest.mark.parametrize(
    ("tail", "detail"),
    [
        ("alpha/staging", "Heartbeat “alpha” has no environment “staging”."),
        ("beta/prod", "Service “API” has no heartbeat “beta”."),
        ("alpha/prod/", "Not found."),  # no route: the trailing slash is not served
    ],
)
def test_checkin_by_name_404s_with_a_json_detail(
    owner_api: Client, service: Service, tail: str, detail: str
) -> None:
    make_state(heartbeat=make_heartbeat(service=service, name="alpha"), environment="prod")
    status, body = call(owner_api, "get", f"/api/v1/heartbeats/checkin/{service.pk}/{tail}")
    assert (status, body) == (404, {"detail": detail})
    assert not HeartbeatCheckIn.objects.exists()


def test_checkin_by_name_on_foreign_or_invisible_services_is_404(
    outsider_api: Client,
    member_api: Client,
    owner_api: Client,
    service: Service,
    other_service: Service,
) -> None:
    make_state(heartbeat=make_heartbeat(service=service, name="alpha"))
    make_state(heartbeat=make_heartbeat(service=other_service, name="alpha"))
    cases = [(outsider_api, service), (member_api, other_service)]
    for client, target in cases:
        status, body = call(client, "get", f"/api/v1/heartbeats/checkin/{target.pk}/alpha/prod")
        assert (status, body) == (404, {"detail": "Not found."})
    assert call(owner_api, "get", "/api/v1/heartbeats/checkin/999999/alpha/prod")[0] == 404
    assert not HeartbeatCheckIn.objects.exists()


def test_checkin_by_name_is_get_only_and_never_redirects(
    owner_api: Client, service: Service
) -> None:
    make_state(heartbeat=make_heartbeat(service=service, name="alpha"))
    path = f"/api/v1/heartbeats/checkin/{service.pk}/alpha/prod"
    assert call(owner_api, "post", path)[0] == 405
    for variant in (path + "/", f"/api/v1/heartbeats/checkin/{service.pk}/alpha"):
        response = owner_api.get(variant)
        assert response.status_code == 404, variant
        assert "Location" not in response


def test_openapi_names_the_heartbeat_operations_like_the_client() -> None:
    document = json.loads(Client().get("/api/v1/openapi.json").content)
    paths = document["paths"]
    operations = {
        ("/api/v1/heartbeats/", "get"): "list_heartbeats",
        ("/api/v1/heartbeats/", "post"): "create_heartbeat",
        ("/api/v1/heartbeats/{heartbeat_id}/", "get"): "retrieve_heartbeat",
        ("/api/v1/heartbeats/{heartbeat_id}/", "put"): "update_heartbeat",
        ("/api/v1/heartbeats/{heartbeat_id}/", "delete"): "delete_heartbeat",
        ("/api/v1/heartbeats/states/", "post"): "create_heartbeat_state",
        ("/api/v1/heartbeats/states/{heartbeat_state_id}/", "put"): "update_heartbeat_state",
        ("/api/v1/heartbeats/states/{heartbeat_state_id}/", "delete"): "delete_heartbeat_state",
        (
            "/api/v1/heartbeats/checkin/{service_id}/{name}/{environment}",
            "get",
        ): "healthcheck_environment_checkin",
    }
    for (path, method), name in operations.items():
        assert paths[path][method]["operationId"] == f"opsduty_api_v1_heartbeats_{name}"
    assert "201" in paths["/api/v1/heartbeats/"]["post"]["responses"]
    assert "204" in paths["/api/v1/heartbeats/{heartbeat_id}/"]["delete"]["responses"]
    schemas = document["components"]["schemas"]
    assert set(schemas["HeartbeatSchema"]["properties"]) == HEARTBEAT_KEYS
    assert {"CronHeartbeatStateSchema", "IntervalHeartbeatStateSchema"} <= set(schemas)


def test_a_member_of_the_team_is_a_full_manager(member_api: Client, service: Service) -> None:
    """Members of the service's team create, change and delete (not only owners)."""
    status, created = call(
        member_api,
        "post",
        "/api/v1/heartbeats/",
        {"name": "m", "description": "", "service": service.pk, "link": None},
    )
    assert status == 201
    assert call(member_api, "put", f"/api/v1/heartbeats/{created['id']}/", {"name": "m2"})[0] == 200
    assert member_api.delete(f"/api/v1/heartbeats/{created['id']}/").status_code == 204


# --- found by the fuzzer (tests/api/test_schemathesis.py) -------------------------------------


def test_the_document_maps_each_state_type_to_its_schema_and_states_the_bounds() -> None:
    """Every `interval` state in an answer failed the document's discriminator (it mapped
    "null"); the bounds of the seconds were enforced but not documented."""
    document = json.loads(Client().get("/api/v1/openapi.json").content)
    schemas = document["components"]["schemas"]
    assert schemas["HeartbeatStateSchema"]["discriminator"]["mapping"] == {
        "cron": "#/components/schemas/CronHeartbeatStateSchema",
        "interval": "#/components/schemas/IntervalHeartbeatStateSchema",
    }
    update = schemas["UpdateHeartbeatStateInputRequest"]["properties"]
    assert (update["timeout_seconds"]["minimum"], update["timeout_seconds"]["maximum"]) == (
        0,
        7 * 24 * 3600,
    )
    assert update["interval_seconds"]["minimum"] == 1
    create = schemas["CreateHeartbeatInputRequest"]["properties"]
    assert create["name"]["maxLength"] == 200 and create["name"]["pattern"] == NOT_BLANK_PATTERN
    assert (
        schemas["CreateHeartbeatStateInputRequest"]["properties"]["environment"]["maxLength"] == 200
    )
    [service] = [
        p
        for p in document["paths"]["/api/v1/heartbeats/"]["get"]["parameters"]
        if p["name"] == "service"
    ]
    assert service["schema"] == {"type": "integer", "minimum": 0}


def test_out_of_range_seconds_and_numbers_for_text_answer_422_with_the_same_messages(
    owner_api: Client, service: Service
) -> None:
    heartbeat = make_heartbeat(service=service)
    status, body = call(
        owner_api,
        "post",
        "/api/v1/heartbeats/states/",
        {"heartbeat_id": heartbeat.pk, "environment": "prod", "type": "interval",
         "interval_seconds": 0, "timeout_seconds": -1},
    )  # fmt: skip
    assert status == 422
    messages = {tuple(item["loc"]): item["msg"] for item in body["detail"]}
    assert messages == {
        ("body", "timeout_seconds"): (
            "Timeout must be a whole number of seconds from 0 to 604800 (7 days)."
        ),
        ("body", "interval_seconds"): (
            "An interval state needs interval_seconds: a whole number of seconds "
            "from 1 to 31622400 (366 days)."
        ),
    }
    status, body = call(
        owner_api, "post", "/api/v1/heartbeats/", {"name": 42, "service": service.pk}
    )
    assert status == 422 and locs(body) == [["body", "name"]]
    status, body = call(
        owner_api, "post", "/api/v1/heartbeats/", {"name": "  ", "service": service.pk}
    )
    assert (status, body["detail"][0]["msg"]) == (422, "Enter a name.")
    assert not Heartbeat.objects.filter(service=service).exclude(pk=heartbeat.pk).exists()
    status, _ = call(owner_api, "get", "/api/v1/heartbeats/?service=-1")
    assert status == 422


def test_put_bodies_are_documented_as_partial_as_they_are(owner_api: Client, service: Service):
    """PUT keeps absent keys; the document required `name`, `service` and `type` there."""
    heartbeat = make_heartbeat(service=service)
    state = make_state(heartbeat=heartbeat)
    document = json.loads(Client().get("/api/v1/openapi.json").content)
    schemas = document["components"]["schemas"]
    assert "required" not in schemas["UpdateHeartbeatInputRequest"]
    assert "required" not in schemas["UpdateHeartbeatStateInputRequest"]
    assert schemas["CreateHeartbeatStateInputRequest"]["required"] == [
        "environment", "heartbeat_id", "type"
    ]  # fmt: skip
    status, body = call(owner_api, "put", f"/api/v1/heartbeats/{heartbeat.pk}/", {})
    assert (status, body["name"]) == (200, heartbeat.name)
    status, body = call(owner_api, "put", f"/api/v1/heartbeats/states/{state.pk}/", {})
    assert (status, body["type"]) == (200, state.type)
