"""The analytics API (/api/v1/analytics/...): the selectors' figures for data made through the
services, each filter, 422s that name the parameter, 401 without a token, who sees what, and
the endpoints in the served OpenAPI document."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client

from analytics.selectors import (
    Filters,
    breakdown,
    incidents_over_time,
    overview,
    responder_load,
    scope_for,
)
from analytics.services import responder_notified
from escalations.catalog import services as catalog
from escalations.policies.services import policy_create, policy_delete
from incidents import services as incident_services
from incidents.models import Incident
from opsduty.models import Organization, Role, Service, Team, User
from tests import factories
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db

API = "/api/v1/analytics/"
TABS = ["overview", "services", "policies", "teams", "responders"]
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday, 11:00 in Oslo
DAY = date(2026, 3, 2)
ON_DAY = {"range": "custom", "start": "2026-03-02", "end": "2026-03-02"}
FILTERS_NONE = {"team": None, "service": None, "urgency": None, "label": None}


def get(client: Client, tab: str, **params: Any) -> tuple[int, Any]:
    response = client.get(f"{API}{tab}/", params)
    assert response["Content-Type"] == "application/json", response.content[:200]
    return response.status_code, json.loads(response.content)


def ok(client: Client, tab: str, **params: Any) -> Any:
    status, body = get(client, tab, **params)
    assert status == 200, body
    return body


def _open(service: Service, at: datetime = T0, **event: Any) -> Incident:
    with time_machine.travel(at, tick=False):
        return factories.make_incident(service=service, **event)


def _at(at: datetime, action: Any, **kwargs: Any) -> Any:
    with time_machine.travel(at, tick=False):
        return action(**kwargs)


@pytest.fixture
def oslo(org_a: Organization) -> Organization:
    org_a.time_zone = "Europe/Oslo"
    org_a.save(update_fields=["time_zone"])
    return org_a


@pytest.fixture
def payments(oslo: Organization, member: User) -> Team:
    """The member's team."""
    team = factories.make_team(organization=oslo, name="Payments")
    factories.add_member(team, member)
    return team


@pytest.fixture
def checkout(payments: Team) -> Service:
    """The member's team's service, with an escalation policy."""
    service = catalog.service_create(team=payments, by=None, name="Checkout")
    policy = policy_create(team=payments, by=None, name="Payments default")
    return catalog.service_set_policy(service=service, policy=policy, by=None)


@pytest.fixture
def platform(oslo: Organization) -> Team:
    """A team the member is not in."""
    return factories.make_team(organization=oslo, name="Platform")


@pytest.fixture
def api_service(platform: Team) -> Service:
    """Another team's service, without an escalation policy."""
    return catalog.service_create(team=platform, by=None, name="API")


@pytest.fixture
def incidents(checkout: Service, api_service: Service, member: User) -> list[Incident]:
    """Checkout: acknowledged after 4 minutes then resolved after 30; a low-urgency one with
    the label "db", left open. API: one resolved by the system after 10 minutes."""
    acked = _open(checkout)
    _at(
        T0 + timedelta(minutes=4), incident_services.incident_acknowledge, incident=acked, by=member
    )
    _at(T0 + timedelta(minutes=30), incident_services.incident_resolve, incident=acked, by=member)
    low = _open(checkout, urgency="low", labels=["db"])
    other = _open(api_service)
    _at(T0 + timedelta(minutes=10), incident_services.incident_resolve, incident=other, by=None)
    return [acked, low, other]


def _series(points: Any) -> list[dict[str, Any]]:
    return [{"start": p.start.isoformat(), "high": p.high, "low": p.low} for p in points]


# --- shapes and numbers --------------------------------------------------------------------


def test_overview_is_the_selectors_metrics_and_series(
    owner: User, owner_api: Client, incidents: list[Incident]
) -> None:
    body = ok(owner_api, "overview", **ON_DAY)
    assert set(body) == {"range", "filters", "metrics", "incidents_over_time"}
    assert body["range"] == {
        "start": "2026-03-02",
        "end": "2026-03-02",
        "time_zone": "Europe/Oslo",
        "bucket": "day",
    }
    assert body["filters"] == FILTERS_NONE
    filters = Filters(start=DAY, end=DAY)
    assert body["metrics"] == overview(scope_for(owner), filters).as_dict()
    metrics = body["metrics"]
    assert (metrics["incidents"], metrics["acknowledged"], metrics["resolved"]) == (3, 1, 2)
    assert (metrics["mtta_seconds"], metrics["mttr_seconds"]) == (240.0, (1800.0 + 600.0) / 2)
    assert (metrics["auto_resolved"], metrics["open"]) == (1, 1)
    assert body["incidents_over_time"] == [{"start": "2026-03-02", "high": 2, "low": 1}]


def test_a_range_over_31_days_is_counted_per_week_from_monday(
    owner: User, owner_api: Client, incidents: list[Incident]
) -> None:
    params = {"range": "custom", "start": "2026-02-01", "end": "2026-03-04"}  # 32 days
    body = ok(owner_api, "overview", **params)
    assert body["range"]["bucket"] == "week"
    series = body["incidents_over_time"]
    expected = incidents_over_time(
        scope_for(owner), Filters(start=date(2026, 2, 1), end=date(2026, 3, 4)), weekly=True
    )
    assert series == _series(expected)
    assert series[0]["start"] == "2026-01-26"  # the Monday of the range's first week
    assert all(date.fromisoformat(point["start"]).weekday() == 0 for point in series)
    assert {"start": "2026-03-02", "high": 2, "low": 1} in series
    assert sum(point["high"] + point["low"] for point in series) == 3
    thirty_one = {"range": "custom", "start": "2026-02-02", "end": "2026-03-04"}
    body = ok(owner_api, "overview", **thirty_one)
    assert body["range"]["bucket"] == "day"
    assert len(body["incidents_over_time"]) == 31


def test_presets_count_back_from_the_organizations_today(
    owner: User, incidents: list[Incident]
) -> None:
    # 23:30 UTC on Monday is already Tuesday in Oslo.
    with time_machine.travel(datetime(2026, 3, 2, 23, 30, tzinfo=UTC), tick=False):
        api = api_client_for(owner)
        week = ok(api, "overview", range="7")
        default = ok(api, "overview")
        quarter = ok(api, "overview", range="90")
    assert week["range"] == {
        "start": "2026-02-25",
        "end": "2026-03-03",
        "time_zone": "Europe/Oslo",
        "bucket": "day",
    }
    assert [p["start"] for p in week["incidents_over_time"]][-1] == "2026-03-03"
    assert len(week["incidents_over_time"]) == 7
    assert week["metrics"]["incidents"] == 3
    assert (default["range"]["start"], default["range"]["end"]) == ("2026-02-02", "2026-03-03")
    assert default["range"]["bucket"] == "day"
    assert quarter["range"]["bucket"] == "week"
    assert quarter["metrics"] == week["metrics"]


@pytest.mark.parametrize(("tab", "dimension"), [("services", "service"), ("teams", "team")])
def test_breakdowns_are_the_selectors_most_incidents_first(
    owner: User,
    owner_api: Client,
    incidents: list[Incident],
    checkout: Service,
    api_service: Service,
    tab: str,
    dimension: str,
) -> None:
    body = ok(owner_api, tab, **ON_DAY)
    assert set(body) == {"range", "filters", "items", "page_info"}
    assert body["range"]["bucket"] == "day"
    assert body["page_info"]["has_next_page"] is False
    by_id = breakdown(scope_for(owner), Filters(start=DAY, end=DAY), dimension)
    assert {item["id"]: item["metrics"] for item in body["items"]} == {
        pk: metrics.as_dict() for pk, metrics in by_id.items()
    }
    ids = {
        "service": (checkout.pk, api_service.pk),
        "team": (checkout.team_id, api_service.team_id),
    }
    names = {"service": ("Checkout", "API"), "team": ("Payments", "Platform")}
    assert [(item["id"], item["name"]) for item in body["items"]] == list(
        zip(ids[dimension], names[dimension], strict=True)
    )
    assert [item["metrics"]["incidents"] for item in body["items"]] == [2, 1]


def test_a_breakdown_comes_a_page_at_a_time_each_item_with_its_percentiles(
    owner: User, owner_api: Client, oslo: Organization, payments: Team
) -> None:
    """Seven services, the k-th's incidents acknowledged after k minutes: pages of three
    (`first`/`after`, back with `last`/`before`) hold every service once, most incidents
    first, each with the selector's metrics, percentiles included (read per page)."""
    for k in range(1, 8):
        service = catalog.service_create(team=payments, by=None, name=f"S{k}")
        for _ in range(k % 3 + 1):
            incident = _open(service)
            _at(
                T0 + timedelta(minutes=k),
                incident_services.incident_acknowledge,
                incident=incident,
                by=owner,
            )
    by_id = breakdown(scope_for(owner), Filters(start=DAY, end=DAY), "service")
    expected = sorted(by_id, key=lambda pk: (-by_id[pk].incidents, pk))
    seen: list[int] = []
    pages: list[dict[str, Any]] = []
    after: dict[str, str] = {}
    while True:
        body = ok(owner_api, "services", **ON_DAY, first="3", **after)
        pages.append(body["page_info"])
        for item in body["items"]:
            assert item["metrics"] == by_id[item["id"]].as_dict()
            assert item["metrics"]["mtta_p50_seconds"] is not None
            seen.append(item["id"])
        if not body["page_info"]["has_next_page"]:
            break
        after = {"after": body["page_info"]["end_cursor"]}
    assert seen == expected and len(seen) == 7
    assert [(p["has_previous_page"], p["has_next_page"]) for p in pages] == [
        (False, True),
        (True, True),
        (True, False),
    ]
    back = ok(owner_api, "services", **ON_DAY, last="2", before=pages[1]["start_cursor"])
    assert [item["id"] for item in back["items"]] == expected[1:3]
    status, body = get(owner_api, "services", **ON_DAY, after="not-a-cursor")
    assert status == 422, body


def test_policies_without_a_policy_are_id_0_and_a_deleted_policy_has_no_name(
    owner: User, owner_api: Client, incidents: list[Incident], checkout: Service, payments: Team
) -> None:
    policy = checkout.escalation_policy
    assert policy is not None
    items = ok(owner_api, "policies", **ON_DAY)["items"]
    assert [(item["id"], item["name"]) for item in items] == [
        (policy.pk, "Payments default"),
        (0, None),  # the API service has no policy
    ]
    by_id = breakdown(scope_for(owner), Filters(start=DAY, end=DAY), "policy")
    assert items[1]["metrics"] == by_id[0].as_dict()

    policy_id = policy.pk
    catalog.service_set_policy(service=checkout, policy=None, by=None)
    policy_delete(policy=policy, by=None)
    items = ok(owner_api, "policies", **ON_DAY)["items"]
    assert [(item["id"], item["name"]) for item in items] == [(policy_id, None), (0, None)]
    assert items[0]["metrics"]["incidents"] == 2


def test_responders_are_the_selectors_load_with_the_person(
    owner: User, owner_api: Client, member: User, payments: Team, oslo: Organization
) -> None:
    member.first_name, member.last_name = "Mia", "Member"
    member.save(update_fields=["first_name", "last_name"])
    # Oslo: 11:00 Monday (business), 23:30 Monday (sleep), 19:00 Tuesday (off), and one
    # within a minute of the first (a notification, not another interruption).
    for at in (
        T0,
        T0 + timedelta(seconds=30),
        datetime(2026, 3, 2, 22, 30, tzinfo=UTC),
        datetime(2026, 3, 3, 18, 0, tzinfo=UTC),
    ):
        responder_notified(organization_id=oslo.pk, user_id=member.pk, at=at)
    responder_notified(organization_id=oslo.pk, user_id=owner.pk, at=T0)
    params = {"range": "custom", "start": "2026-03-01", "end": "2026-03-07"}
    body = ok(owner_api, "responders", **params)
    assert set(body) == {"range", "filters", "items"}
    assert body["items"] == [
        {
            "user": {"id": member.pk, "name": "Mia Member", "email": "member@a.example"},
            "business": 1,
            "off": 1,
            "sleep": 1,
            "interruptions": 3,
            "notifications": 4,
        },
        {
            "user": {"id": owner.pk, "name": owner.get_full_name(), "email": "owner@a.example"},
            "business": 1,
            "off": 0,
            "sleep": 0,
            "interruptions": 1,
            "notifications": 1,
        },
    ]
    loads = responder_load(scope_for(owner), Filters(start=date(2026, 3, 1), end=date(2026, 3, 7)))
    assert [(item["user"]["id"], item["interruptions"]) for item in body["items"]] == [
        (load.user_id, load.interruptions) for load in loads
    ]


def test_a_deleted_person_keeps_their_load_without_a_name(
    owner_api: Client, org_a: Organization
) -> None:
    gone = factories.make_user(organization=org_a, email="gone@a.example")
    responder_notified(organization_id=org_a.pk, user_id=gone.pk, at=T0)
    gone_id = gone.pk
    gone.delete()
    items = ok(owner_api, "responders", **ON_DAY)["items"]
    assert [item["user"] for item in items] == [{"id": gone_id, "name": None, "email": None}]
    assert items[0]["interruptions"] == 1


# --- filters -------------------------------------------------------------------------------


@pytest.mark.parametrize("tab", ["overview", "services", "policies", "teams"])
def test_each_filter_narrows_the_figures_as_the_selectors_do(
    owner: User,
    owner_api: Client,
    incidents: list[Incident],
    checkout: Service,
    api_service: Service,
    platform: Team,
    tab: str,
) -> None:
    both = {"service_id": checkout.pk, "urgency": "high"}
    cases: list[tuple[dict[str, str], dict[str, Any], int]] = [
        ({"team": str(platform.pk)}, {"team_id": platform.pk}, 1),
        ({"service": str(checkout.pk)}, {"service_id": checkout.pk}, 2),
        ({"urgency": "low"}, {"urgency": "low"}, 1),
        ({"urgency": "high"}, {"urgency": "high"}, 2),
        ({"label": "db"}, {"label": "db"}, 1),
        ({"service": str(checkout.pk), "urgency": "high"}, both, 1),
    ]
    scope = scope_for(owner)
    for params, kwargs, count in cases:
        body = ok(owner_api, tab, **ON_DAY, **params)
        filters = Filters(start=DAY, end=DAY, **kwargs)
        echoed = {**FILTERS_NONE, **{k: int(v) if v.isdigit() else v for k, v in params.items()}}
        assert body["filters"] == echoed
        if tab == "overview":
            assert body["metrics"] == overview(scope, filters).as_dict()
            assert body["metrics"]["incidents"] == count
            total = sum(p["high"] + p["low"] for p in body["incidents_over_time"])
            assert total == count
        else:
            dimension = {"services": "service", "policies": "policy", "teams": "team"}[tab]
            expected = breakdown(scope, filters, dimension)
            assert {item["id"]: item["metrics"] for item in body["items"]} == {
                pk: metrics.as_dict() for pk, metrics in expected.items()
            }
            assert sum(item["metrics"]["incidents"] for item in body["items"]) == count


def test_a_range_without_incidents_is_zeros_and_nulls(
    owner_api: Client, incidents: list[Incident]
) -> None:
    params = {"range": "custom", "start": "2026-03-03", "end": "2026-03-05"}
    body = ok(owner_api, "overview", **params)
    assert body["metrics"]["incidents"] == 0
    assert body["metrics"]["mtta_seconds"] is None and body["metrics"]["ack_rate"] is None
    assert body["incidents_over_time"] == [
        {"start": f"2026-03-0{day}", "high": 0, "low": 0} for day in (3, 4, 5)
    ]
    for tab in ("services", "policies", "teams", "responders"):
        assert ok(owner_api, tab, **params)["items"] == []


def test_responders_are_narrowed_by_team(
    owner_api: Client, member: User, owner: User, payments: Team, platform: Team
) -> None:
    factories.add_member(platform, owner)
    for user in (member, owner):
        responder_notified(organization_id=payments.organization_id, user_id=user.pk, at=T0)
    people = ok(owner_api, "responders", **ON_DAY, team=str(payments.pk))["items"]
    assert [item["user"]["id"] for item in people] == [member.pk]
    people = ok(owner_api, "responders", **ON_DAY, team=str(platform.pk))["items"]
    assert [item["user"]["id"] for item in people] == [owner.pk]


# --- refused parameters --------------------------------------------------------------------


def assert_422(client: Client, tab: str, name: str, **params: Any) -> str:
    """A 422 whose `detail` list has an entry at ["query", name]; return its message."""
    status, body = get(client, tab, **params)
    assert status == 422, body
    assert set(body) == {"detail"}
    entries = [entry for entry in body["detail"] if entry["loc"] == ["query", name]]
    assert entries, body
    assert entries[0]["type"] == "value_error" and entries[0]["msg"]
    return str(entries[0]["msg"])


BAD = [
    ({"range": "14"}, "range"),
    ({"range": "custom", "start": "yesterday", "end": "2026-03-02"}, "start"),
    ({"range": "custom", "start": "2026-03-02"}, "end"),
    ({"range": "custom", "start": "2026-03-02", "end": "2026-03-01"}, "end"),
    ({"range": "custom", "start": "2025-01-01", "end": "2026-01-02"}, "end"),  # 367 days
    ({"range": "custom", "start": "9999-12-25", "end": "9999-12-31"}, "end"),
    ({"range": "custom", "start": "0001-01-01", "end": "0001-01-07"}, "start"),
    ({"team": "abc"}, "team"),
    ({"team": "-1"}, "team"),
    ({"team": "²"}, "team"),
    ({"service": "٣"}, "service"),
    ({"service": "99999999999999999999999"}, "service"),
    ({"team": "999999"}, "team"),
    ({"urgency": "urgent"}, "urgency"),
]


@pytest.mark.parametrize(("params", "name"), BAD, ids=[f"{n}-{i}" for i, (_, n) in enumerate(BAD)])
@pytest.mark.parametrize("tab", TABS)
def test_a_bad_parameter_is_a_422_naming_it(
    owner_api: Client, tab: str, params: dict[str, str], name: str
) -> None:
    assert_422(owner_api, tab, name, **params)


def test_every_bad_parameter_is_reported_at_once(owner_api: Client) -> None:
    status, body = get(owner_api, "overview", range="custom", start="x", end="y", urgency="z")
    assert status == 422
    assert sorted(entry["loc"][1] for entry in body["detail"]) == ["end", "start", "urgency"]
    assert assert_422(owner_api, "overview", "range", range="nope").startswith("Choose 7, 30")


def test_unknown_parameters_are_ignored(owner_api: Client) -> None:
    assert ok(owner_api, "overview", colour="blue", range="7")["range"]["bucket"] == "day"


def test_a_nul_character_in_any_parameter_is_a_400(owner_api: Client) -> None:
    # Refused for every URL before the view (opsduty/middleware.py, NulRefusalMiddleware).
    for params in ({"label": "db\x00"}, {"colour": "\x00", "range": "7"}):
        status, body = get(owner_api, "overview", **params)
        assert status == 400 and "NUL" in body["detail"]


def test_another_organizations_team_or_service_is_a_422(
    owner_api: Client, org_b: Organization
) -> None:
    service = factories.make_service(organization=org_b)
    for tab in TABS:
        assert assert_422(owner_api, tab, "team", team=str(service.team_id)) == "No such team."
        msg = assert_422(owner_api, tab, "service", service=str(service.pk))
        assert msg == "No such service."


# --- authentication ------------------------------------------------------------------------


@pytest.mark.parametrize("tab", TABS)
def test_without_a_valid_token_it_is_401(owner: User, tab: str) -> None:
    for client in (
        Client(),
        Client(HTTP_AUTHORIZATION="Bearer not-a-token"),
        api_client_for(owner, scope="read"),
    ):
        response = client.get(f"{API}{tab}/")
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer ")
        assert isinstance(json.loads(response.content)["detail"], str)


def test_a_personal_api_token_with_the_api_scope_works(owner: User) -> None:
    from opsduty.services import api_token_create

    token = api_token_create(user=owner, name="analytics", scope="api")
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get(f"{API}overview/")
    assert response.status_code == 200


def test_the_api_rate_limit_applies(owner_api: Client, settings: Any) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "2/min"},
    }
    assert [owner_api.get(f"{API}{tab}/").status_code for tab in TABS[:3]] == [200, 200, 429]


# --- who sees what -------------------------------------------------------------------------


def test_a_member_sees_only_their_teams(
    member: User,
    incidents: list[Incident],
    checkout: Service,
    payments: Team,
    platform: Team,
    owner: User,
) -> None:
    factories.add_member(platform, owner)
    for user in (member, owner):
        responder_notified(organization_id=payments.organization_id, user_id=user.pk, at=T0)
    api = api_client_for(member)
    overview_body = ok(api, "overview", **ON_DAY)
    assert overview_body["metrics"]["incidents"] == 2
    assert overview_body["metrics"] == overview(scope_for(member), Filters(DAY, DAY)).as_dict()
    assert [item["id"] for item in ok(api, "services", **ON_DAY)["items"]] == [checkout.pk]
    assert [item["id"] for item in ok(api, "teams", **ON_DAY)["items"]] == [payments.pk]
    assert [item["id"] for item in ok(api, "policies", **ON_DAY)["items"]] == [
        checkout.escalation_policy_id
    ]
    people = ok(api, "responders", **ON_DAY)["items"]
    assert [item["user"]["id"] for item in people] == [member.pk]
    # Another team of the organization is a valid filter that shows the member nothing.
    other = {**ON_DAY, "team": str(platform.pk)}
    assert ok(api, "overview", **other)["metrics"]["incidents"] == 0
    for tab in ("services", "policies", "teams", "responders"):
        assert ok(api, tab, **other)["items"] == []


def test_a_member_without_a_team_sees_nothing(
    org_a: Organization, incidents: list[Incident]
) -> None:
    loner = factories.make_user(organization=org_a, email="loner@a.example", role=Role.MEMBER)
    api = api_client_for(loner)
    assert ok(api, "overview", **ON_DAY)["metrics"]["incidents"] == 0
    assert ok(api, "services", **ON_DAY)["items"] == []


def test_a_stakeholder_and_an_owner_see_the_whole_organization(
    stakeholder: User, owner_api: Client, incidents: list[Incident]
) -> None:
    api = api_client_for(stakeholder)
    for tab in TABS:
        assert ok(api, tab, **ON_DAY) == ok(owner_api, tab, **ON_DAY)
    assert ok(api, "overview", **ON_DAY)["metrics"]["incidents"] == 3
    assert len(ok(api, "services", **ON_DAY)["items"]) == 2


def test_another_organizations_incidents_are_never_counted(
    owner_api: Client,
    outsider: User,
    org_b: Organization,
    incidents: list[Incident],
    checkout: Service,
) -> None:
    foreign = factories.make_service(organization=org_b, name="Foreign")
    _open(foreign)
    _open(foreign, urgency="low")
    responder_notified(organization_id=org_b.pk, user_id=outsider.pk, at=T0)
    assert ok(owner_api, "overview", **ON_DAY)["metrics"]["incidents"] == 3
    for tab in ("services", "teams"):
        ids = {item["id"] for item in ok(owner_api, tab, **ON_DAY)["items"]}
        assert foreign.pk not in ids and foreign.team_id not in ids
    responders = ok(owner_api, "responders", **ON_DAY)["items"]
    assert outsider.pk not in [item["user"]["id"] for item in responders]
    theirs = api_client_for(outsider)
    body = ok(theirs, "overview", **ON_DAY)
    assert body["metrics"]["incidents"] == 2
    assert body["range"]["time_zone"] == org_b.time_zone
    assert [item["name"] for item in ok(theirs, "services", **ON_DAY)["items"]] == ["Foreign"]
    assert [item["user"]["id"] for item in ok(theirs, "responders", **ON_DAY)["items"]] == [
        outsider.pk
    ]
    # An id of org A is not a filter org B may use.
    assert_422(theirs, "overview", "service", service=str(checkout.pk))


# --- OpenAPI -------------------------------------------------------------------------------


def test_the_endpoints_are_in_the_served_openapi_document() -> None:
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = json.loads(response.content)
    schemas = document["components"]["schemas"]
    responses = {
        "overview": "AnalyticsOverviewSchema",
        "services": "AnalyticsBreakdownSchema",
        "policies": "AnalyticsBreakdownSchema",
        "teams": "AnalyticsBreakdownSchema",
        "responders": "AnalyticsResponderLoadSchema",
    }
    for tab, schema in responses.items():
        operation = document["paths"][f"/api/v1/analytics/{tab}/"]["get"]
        assert operation["operationId"] == f"opsduty_api_v1_analytics_{tab}"
        assert operation["tags"] == ["analytics"]
        assert "extension" in operation["description"]
        params = {p["name"]: p for p in operation["parameters"]}
        paged = {"first", "last", "after", "before", "page_size"}
        assert set(params) - paged == {
            "range",
            "start",
            "end",
            "team",
            "service",
            "urgency",
            "label",
        }
        assert (
            paged <= set(params)
            if schema == "AnalyticsBreakdownSchema"
            else not paged & set(params)
        )
        assert all(p["in"] == "query" for p in params.values())
        assert set(params["range"]["schema"]["enum"]) == {"7", "30", "90", "custom"}
        assert params["start"]["schema"] == {"type": "string", "format": "date"}
        assert params["team"]["schema"] == {"type": "integer"}
        ok_schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok_schema == {"$ref": f"#/components/schemas/{schema}"}
        assert {"401", "422"} <= set(operation["responses"])
        assert {"bearerAuth": []} in operation["security"]
    assert set(schemas["AnalyticsBreakdownSchema"]["required"]) == {
        "range", "filters", "items", "page_info"
    }  # fmt: skip
    assert set(schemas["AnalyticsOverviewSchema"]["required"]) == {
        "range", "filters", "metrics", "incidents_over_time"
    }  # fmt: skip
    metrics = schemas["AnalyticsMetricsSchema"]
    assert set(metrics["properties"]) == set(overview_keys())
    assert metrics["properties"]["mtta_seconds"]["nullable"] is True
    assert set(schemas["AnalyticsRangeSchema"]["properties"]) == {
        "start", "end", "time_zone", "bucket"
    }  # fmt: skip
    item = schemas["AnalyticsResponderSchema"]["properties"]
    assert set(item) == {"user", "business", "off", "sleep", "interruptions", "notifications"}
    assert set(schemas["AnalyticsResponderUserSchema"]["properties"]) == {"id", "name", "email"}
    assert schemas["AnalyticsBreakdownItemSchema"]["properties"]["name"]["nullable"] is True


def overview_keys() -> list[str]:
    from analytics.selectors import Metrics

    return list(Metrics().as_dict())
