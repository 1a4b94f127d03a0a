"""Routing rule, route and orchestration pages through the Django test client: create a
rule, add routes with conditions, reorder, toggle, per-row condition errors (422), the
orchestration section of the service page, who may manage, and tenancy."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from opsduty.models import Service, Team, User
from processing.models import EventOrchestration, Route, RoutingRule
from processing.routing.services import route_create, routing_rule_create
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(team_a: Team, member: User) -> Team:
    factories.add_member(team_a, member)
    return team_a


@pytest.fixture
def api(team: Team) -> Service:
    return factories.make_service(team=team, name="API")


@pytest.fixture
def db_service(team: Team) -> Service:
    return factories.make_service(team=team, name="Database")


@pytest.fixture
def rule(team: Team, api: Service, member: User) -> RoutingRule:
    return routing_rule_create(team=team, by=member, name="Alertmanager", default_service=api)


def editor(*rows: dict[str, Any], operator: str = "and") -> dict[str, Any]:
    data: dict[str, Any] = {
        "cond-operator": operator,
        "cond-row-TOTAL_FORMS": str(len(rows)),
        "cond-row-INITIAL_FORMS": "0",
        "cond-row-MIN_NUM_FORMS": "0",
        "cond-row-MAX_NUM_FORMS": "50",
    }
    for index, row in enumerate(rows):
        data.update({f"cond-row-{index}-{key}": value for key, value in row.items()})
    return data


FILTER_DB = {"type": "filter", "source": "payload", "path": "team", "operation": "matches",
             "value": "db"}  # fmt: skip


def test_member_creates_a_rule_and_sees_its_key(
    team: Team, api: Service, member_client: Client
) -> None:
    page = member_client.get("/routing-rules/new/").content.decode()
    assert "Default service" in page
    response = member_client.post(
        "/routing-rules/new/", {"name": "Alertmanager", "team": team.pk, "default_service": api.pk}
    )
    rule = RoutingRule.objects.get(name="Alertmanager")
    assert response.status_code == 302 and response["Location"] == f"/routing-rules/{rule.pk}/"
    detail = member_client.get(response["Location"]).content.decode()
    assert f'value="{rule.routing_key}" readonly' in detail and "data-copy-target" in detail
    assert "every event goes to the default service" in detail
    listing = member_client.get("/routing-rules/").content.decode()
    assert "Alertmanager" in listing and "API" in listing
    assert 'href="/routing-rules/"' in listing  # the nav link


def test_bad_rule_form_is_422(team: Team, api: Service, member_client: Client) -> None:
    response = member_client.post("/routing-rules/new/", {"name": "", "team": team.pk})
    assert response.status_code == 422 and not RoutingRule.objects.exists()


def test_add_a_route_with_conditions(
    rule: RoutingRule, db_service: Service, member_client: Client
) -> None:
    page = member_client.get(f"/routing-rules/{rule.pk}/routes/new/").content.decode()
    assert "cond-row-0-type" in page and "conditions.js" in page
    weekly = {"type": "weekly", "days": ["0", "4"], "time_start": "22:00", "time_end": "06:00",
              "timezone": "Europe/Oslo"}  # fmt: skip
    data = {"name": "DB team", "service": db_service.pk, "enabled": "on",
            **editor(FILTER_DB, weekly, operator="or")}  # fmt: skip
    response = member_client.post(f"/routing-rules/{rule.pk}/routes/new/", data)
    assert response.status_code == 302
    route = Route.objects.get(routing_rule=rule)
    assert (route.name, route.service, route.enabled, route.position) == (
        "DB team",
        db_service,
        True,
        0,
    )
    assert route.conditions == {
        "operator": "or",
        "conditions": [
            {"type": "filter", "source": "payload", "path": "team", "operation": "matches",
             "value": "db"},
            {"type": "weekly", "days": [0, 4], "start": "22:00", "end": "06:00",
             "timezone": "Europe/Oslo"},
        ],
    }  # fmt: skip
    detail = member_client.get(f"/routing-rules/{rule.pk}/").content.decode()
    assert "payload.team matches “db” OR Mon, Fri 22:00–06:00 (Europe/Oslo)" in detail
    edit = member_client.get(f"/routes/{route.pk}/edit/").content.decode()
    assert 'value="Europe/Oslo"' in edit and 'value="team"' in edit


def test_bad_condition_rows_answer_422_with_errors_on_each_row(
    rule: RoutingRule, db_service: Service, member_client: Client
) -> None:
    bad_regex = {**FILTER_DB, "operation": "matches_regex", "value": "(unclosed"}
    bad_zone = {"type": "weekly", "days": ["1"], "time_start": "09:00", "time_end": "17:00",
                "timezone": "Mars/Olympus"}  # fmt: skip
    data = {"service": db_service.pk, **editor(FILTER_DB, bad_regex, bad_zone)}
    response = member_client.post(f"/routing-rules/{rule.pk}/routes/new/", data)
    assert response.status_code == 422
    content = response.content.decode()
    assert "Invalid regular expression" in content
    assert "Unknown time zone &#x27;Mars/Olympus&#x27;" in content
    assert content.index("Invalid regular expression") < content.index("Unknown time zone")
    assert not Route.objects.exists()


def test_no_condition_at_all_is_422(
    rule: RoutingRule, db_service: Service, member_client: Client
) -> None:
    data = {"service": db_service.pk, **editor({**FILTER_DB, "DELETE": "on"})}
    response = member_client.post(f"/routing-rules/{rule.pk}/routes/new/", data)
    assert response.status_code == 422
    assert "Add at least one condition" in response.content.decode()


def test_add_condition_button_adds_a_row_without_saving(
    rule: RoutingRule, db_service: Service, member_client: Client
) -> None:
    data = {"service": db_service.pk, "add_condition": "1", **editor(FILTER_DB)}
    response = member_client.post(f"/routing-rules/{rule.pk}/routes/new/", data)
    content = response.content.decode()
    assert response.status_code == 200 and "cond-row-1-type" in content
    assert not Route.objects.exists()


def test_reorder_toggle_edit_and_delete_routes(
    rule: RoutingRule, api: Service, db_service: Service, member: User, member_client: Client
) -> None:
    first = route_create(rule=rule, by=member, service=api, name="first")
    second = route_create(rule=rule, by=member, service=db_service, name="second")
    assert member_client.post(f"/routes/{second.pk}/move/", {"direction": "up"}).status_code == 302
    order = list(Route.objects.order_by("position").values_list("name", flat=True))
    assert order == ["second", "first"]
    member_client.post(f"/routes/{second.pk}/move/", {"direction": "down"})
    assert list(Route.objects.order_by("position").values_list("name", flat=True)) == [
        "first",
        "second",
    ]

    member_client.post(f"/routes/{first.pk}/toggle/", {"enabled": "0"})
    first.refresh_from_db()
    assert first.enabled is False
    assert "disabled" in member_client.get(f"/routing-rules/{rule.pk}/").content.decode()
    member_client.post(f"/routes/{first.pk}/toggle/", {"enabled": "1"})
    first.refresh_from_db()
    assert first.enabled is True

    data = {"name": "renamed", "service": api.pk, **editor({"type": "match_all"})}
    assert member_client.post(f"/routes/{second.pk}/edit/", data).status_code == 302
    second.refresh_from_db()
    assert (second.name, second.service, second.enabled) == ("renamed", api, False)

    assert member_client.get(f"/routes/{first.pk}/delete/").status_code == 200
    assert member_client.post(f"/routes/{first.pk}/delete/").status_code == 302
    assert list(Route.objects.values_list("name", "position")) == [("renamed", 0)]


def test_regenerate_key_and_delete_rule(rule: RoutingRule, member_client: Client) -> None:
    old = rule.routing_key
    assert member_client.post(f"/routing-rules/{rule.pk}/routing-key/").status_code == 422
    member_client.post(f"/routing-rules/{rule.pk}/routing-key/", {"confirm": "on"})
    rule.refresh_from_db()
    assert rule.routing_key != old
    assert member_client.post(f"/routing-rules/{rule.pk}/delete/").status_code == 302
    assert not RoutingRule.objects.exists()


def test_stakeholder_reads_without_key_or_controls(
    rule: RoutingRule, team: Team, stakeholder: User, stakeholder_client: Client
) -> None:
    factories.add_member(team, stakeholder)
    content = stakeholder_client.get(f"/routing-rules/{rule.pk}/").content.decode()
    assert "Read-only" in content and rule.routing_key not in content
    assert stakeholder_client.get(f"/routing-rules/{rule.pk}/edit/").status_code == 403
    assert stakeholder_client.post(f"/routing-rules/{rule.pk}/routes/new/").status_code == 403
    assert stakeholder_client.get("/routing-rules/new/").status_code == 403


def test_outsider_gets_404_everywhere(
    rule: RoutingRule, api: Service, member: User, outsider_client: Client
) -> None:
    route = route_create(rule=rule, by=member, service=api)
    assert "Alertmanager" not in outsider_client.get("/routing-rules/").content.decode()
    assert outsider_client.get(f"/routing-rules/{rule.pk}/").status_code == 404
    for url in (
        f"/routing-rules/{rule.pk}/edit/",
        f"/routing-rules/{rule.pk}/delete/",
        f"/routing-rules/{rule.pk}/routes/new/",
        f"/routes/{route.pk}/edit/",
        f"/routes/{route.pk}/move/",
        f"/routes/{route.pk}/toggle/",
        f"/routes/{route.pk}/delete/",
        f"/services/{api.pk}/orchestrations/new/",
    ):
        assert outsider_client.post(url).status_code == 404, url
    assert Route.objects.filter(pk=route.pk).exists()


# --- orchestrations ---------------------------------------------------------------------------


def test_orchestrations_on_the_service_page(
    api: Service, rule: RoutingRule, member: User, owner: User, member_client: Client
) -> None:
    page = member_client.get(f"/services/{api.pk}/").content.decode()
    assert "Event orchestrations" in page and f"/services/{api.pk}/orchestrations/new/" in page
    data = {
        "name": "Quiet staging",
        "enabled": "on",
        "routing_rule": rule.pk,
        "urgency": "low",
        "silence_minutes": "30",
        "note": "Staging: low priority",
        "auto_resolve": "deny",
        "escalate": "bypass",
        "notify_users": [member.pk, owner.pk],
        "ack_timeout_minutes": "10",
        **editor({**FILTER_DB, "path": "env", "value": "staging"}),
    }
    response = member_client.post(f"/services/{api.pk}/orchestrations/new/", data)
    assert response.status_code == 302 and response["Location"] == f"/services/{api.pk}/"
    o = EventOrchestration.objects.get()
    assert (o.name, o.routing_rule, o.urgency, o.silence_minutes, o.auto_resolve) == (
        "Quiet staging", rule, "low", 30, "deny",
    )  # fmt: skip
    assert (o.escalate, sorted(o.notify_user_ids), o.ack_timeout_minutes) == (
        "bypass", sorted([member.pk, owner.pk]), 10,
    )  # fmt: skip
    assert (o.acknowledge, o.resolve, o.escalation_policy_override_id) == (False, False, None)
    page = member_client.get(f"/services/{api.pk}/").content.decode()
    assert "Quiet staging" in page and "only via" in page

    edit = member_client.get(f"/orchestrations/{o.pk}/edit/").content.decode()
    assert "Staging: low priority" in edit and 'value="staging"' in edit
    data.update(name="Renamed", urgency="", acknowledge="on")
    assert member_client.post(f"/orchestrations/{o.pk}/edit/", data).status_code == 302
    o.refresh_from_db()
    assert (o.name, o.urgency, o.acknowledge) == ("Renamed", "", True)

    member_client.post(f"/orchestrations/{o.pk}/toggle/", {"enabled": "0"})
    o.refresh_from_db()
    assert o.enabled is False
    assert member_client.post(f"/orchestrations/{o.pk}/delete/").status_code == 302
    assert not EventOrchestration.objects.exists()


def test_orchestration_bad_input_is_422(api: Service, member_client: Client) -> None:
    data = {
        "name": "x",
        "silence_minutes": "99999",
        **editor({**FILTER_DB, "operation": "jinja", "value": "field =="}),
    }
    response = member_client.post(f"/services/{api.pk}/orchestrations/new/", data)
    assert response.status_code == 422
    content = response.content.decode()
    assert "Invalid Jinja" in content and "less than or equal to 10080" in content
    assert not EventOrchestration.objects.exists()


def test_orchestrations_reorder(api: Service, member: User, member_client: Client) -> None:
    for name in ("a", "b"):
        member_client.post(
            f"/services/{api.pk}/orchestrations/new/",
            {"name": name, "enabled": "on", **editor({"type": "match_all"})},
        )
    b = EventOrchestration.objects.get(name="b")
    member_client.post(f"/orchestrations/{b.pk}/move/", {"direction": "up"})
    order = list(EventOrchestration.objects.order_by("position").values_list("name", flat=True))
    assert order == ["b", "a"]
