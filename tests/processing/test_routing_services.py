"""Routing rule, route and orchestration services: permissions, tenancy, validation, order."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from escalations.catalog.services import service_delete
from opsduty.models import Organization, Role, Service, Team, User
from processing.models import EventOrchestration, Route, RoutingRule
from processing.routing.services import (
    OrchestrationFields,
    orchestration_create,
    orchestration_delete,
    orchestration_move,
    orchestration_set_enabled,
    orchestration_update,
    route_create,
    route_delete,
    route_move,
    route_update,
    routing_rule_create,
    routing_rule_delete,
    routing_rule_regenerate_key,
    routing_rule_update,
)
from tests import factories

pytestmark = pytest.mark.django_db

BAD = {"operator": "and", "conditions": [{"type": "weekly", "days": [9]}]}


@pytest.fixture
def rule(team: Team, api: Service, member: User) -> RoutingRule:
    return routing_rule_create(team=team, by=member, name="Alertmanager", default_service=api)


def positions(rule: RoutingRule) -> list[tuple[str, int]]:
    return [
        (r.name, r.position) for r in Route.objects.filter(routing_rule=rule).order_by("position")
    ]


# --- routing rules ------------------------------------------------------------------------------


def test_member_creates_a_rule_with_an_unguessable_key(rule: RoutingRule, api: Service) -> None:
    assert len(rule.routing_key) >= 32 and rule.routing_key != api.routing_key
    old = rule.routing_key
    routing_rule_regenerate_key(rule=rule, by=None)
    assert (
        rule.routing_key != old
        and not Service.objects.filter(routing_key=rule.routing_key).exists()
    )


def test_new_key_never_equals_a_service_key(
    team: Team, api: Service, member: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = iter([api.routing_key, "fresh-key-" + "x" * 30])
    monkeypatch.setattr("opsduty.routing_keys.new_routing_key", lambda: next(keys))
    rule = routing_rule_create(team=team, by=member, name="R", default_service=api)
    assert rule.routing_key.startswith("fresh-key-")


def test_rule_names_are_unique_per_organization(
    rule: RoutingRule, team: Team, api: Service, member: User, outsider: User
) -> None:
    with pytest.raises(ValidationError, match="already exists"):
        routing_rule_create(team=team, by=member, name=" Alertmanager ", default_service=api)
    bravo = factories.make_team(organization=outsider.organization)
    service = factories.make_service(team=bravo)
    routing_rule_create(team=bravo, by=outsider, name="Alertmanager", default_service=service)


def test_member_of_another_team_or_stakeholder_cannot_create(
    team: Team, api: Service, org_a: Organization, stakeholder: User
) -> None:
    lone = factories.make_user(organization=org_a, role=Role.MEMBER)
    factories.add_member(team, stakeholder)
    for user in (lone, stakeholder):
        with pytest.raises(PermissionDenied):
            routing_rule_create(team=team, by=user, name="R", default_service=api)


def test_default_service_must_be_manageable_and_of_the_organization(
    team: Team, member: User, owner: User, other_team_service: Service, foreign_service: Service
) -> None:
    with pytest.raises(ValidationError, match="teams you belong to"):
        routing_rule_create(team=team, by=member, name="R", default_service=other_team_service)
    routing_rule_create(team=team, by=owner, name="R", default_service=other_team_service)
    with pytest.raises(ValidationError, match="Unknown service"):
        routing_rule_create(team=team, by=owner, name="R2", default_service=foreign_service)


def test_update_rule_checks_team_and_service(
    rule: RoutingRule, db_service: Service, member: User, outsider: User, foreign_service: Service
) -> None:
    routing_rule_update(rule=rule, by=member, name="AM", team=rule.team, default_service=db_service)
    rule.refresh_from_db()
    assert (rule.name, rule.default_service) == ("AM", db_service)
    foreign_team = foreign_service.team
    with pytest.raises(ValidationError, match="Unknown team"):
        routing_rule_update(
            rule=rule, by=member, name="AM", team=foreign_team, default_service=db_service
        )
    with pytest.raises(PermissionDenied):
        routing_rule_update(
            rule=rule, by=outsider, name="X", team=rule.team, default_service=db_service
        )


def test_delete_rule_refused_while_an_orchestration_is_limited_to_it(
    rule: RoutingRule, api: Service, member: User
) -> None:
    route_create(rule=rule, by=member, service=api)
    orchestration = orchestration_create(
        service=api, by=member, fields=OrchestrationFields(name="Only AM", routing_rule=rule)
    )
    with pytest.raises(ValidationError, match="“Only AM” \\(API\\)"):
        routing_rule_delete(rule=rule, by=member)
    orchestration_delete(orchestration=orchestration, by=member)
    routing_rule_delete(rule=rule, by=member)
    assert not RoutingRule.objects.exists() and not Route.objects.exists()


def test_service_used_by_a_rule_cannot_be_deleted(
    rule: RoutingRule, api: Service, member: User
) -> None:
    with pytest.raises(ValidationError, match="Routing rules send events"):
        service_delete(service=api, by=member)


# --- routes -------------------------------------------------------------------------------------


def test_routes_are_appended_moved_and_renumbered(
    rule: RoutingRule, api: Service, member: User
) -> None:
    a, b, c = (route_create(rule=rule, by=member, service=api, name=n) for n in "abc")
    assert positions(rule) == [("a", 0), ("b", 1), ("c", 2)]
    route_move(route=c, position=0, by=member)
    assert positions(rule) == [("c", 0), ("a", 1), ("b", 2)]
    route_move(route=c, position=99, by=member)
    assert positions(rule) == [("a", 0), ("b", 1), ("c", 2)]
    route_move(route=a, position=1, by=member)
    assert positions(rule) == [("b", 0), ("a", 1), ("c", 2)]
    route_delete(route=b, by=member)
    assert positions(rule) == [("a", 0), ("c", 1)]


def test_route_conditions_are_validated_and_stored_normalized(
    rule: RoutingRule, api: Service, member: User
) -> None:
    with pytest.raises(ValidationError) as caught:
        route_create(rule=rule, by=member, service=api, conditions=BAD)
    assert "Condition 1: Choose at least one weekday" in caught.value.message_dict["conditions"][0]
    assert not Route.objects.exists()
    route = route_create(rule=rule, by=member, service=api)
    assert route.conditions == {"operator": "and", "conditions": [{"type": "match_all"}]}
    spec = {"conditions": [{"type": "filter", "source": "event", "path": " summary ",
                            "operation": "exists", "value": "ignored"}]}  # fmt: skip
    route_update(
        route=route,
        by=member,
        service=api,
        conditions=spec,
        name="n",
        description="",
        enabled=False,
    )
    route.refresh_from_db()
    assert route.conditions["conditions"][0] == {
        "type": "filter", "source": "event", "path": "summary", "operation": "exists", "value": ""
    }  # fmt: skip
    assert route.enabled is False


def test_route_services_refuse_foreign_services_and_outsiders(
    rule: RoutingRule, api: Service, member: User, outsider: User, foreign_service: Service,
    other_team_service: Service,
) -> None:  # fmt: skip
    with pytest.raises(ValidationError, match="Unknown service"):
        route_create(rule=rule, by=member, service=foreign_service)
    with pytest.raises(ValidationError, match="teams you belong to"):
        route_create(rule=rule, by=member, service=other_team_service)
    with pytest.raises(PermissionDenied):
        route_create(rule=rule, by=outsider, service=api)
    route = route_create(rule=rule, by=member, service=api)
    for call in (
        lambda: route_move(route=route, position=0, by=outsider),
        lambda: route_delete(route=route, by=outsider),
        lambda: route_update(route=route, by=outsider, service=api, conditions=None, name="",
                             description="", enabled=True),
    ):  # fmt: skip
        with pytest.raises(PermissionDenied):
            call()
    assert Route.objects.filter(pk=route.pk).exists()


# --- orchestrations -----------------------------------------------------------------------------


def fields(**kwargs: Any) -> OrchestrationFields:
    kwargs.setdefault("name", "O")
    return OrchestrationFields(**kwargs)


def test_orchestration_defaults_change_nothing(api: Service, member: User) -> None:
    o = orchestration_create(service=api, by=member, fields=fields())
    assert (o.escalate, o.urgency, o.auto_resolve, o.note) == ("", "", "", "")
    assert (o.silence_minutes, o.ack_timeout_minutes, o.escalation_policy_override_id) == (
        None,
    ) * 3
    assert (o.acknowledge, o.resolve, o.notify_user_ids, o.enabled) == (False, False, [], True)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"silence_minutes": 0}, "silence_minutes"),
        ({"silence_minutes": 10081}, "silence_minutes"),
        ({"ack_timeout_minutes": 1441}, "ack_timeout_minutes"),
        ({"urgency": "medium"}, "urgency"),
        ({"escalate": "sometimes"}, "escalate"),
        ({"auto_resolve": "maybe"}, "auto_resolve"),
        ({"name": " "}, "name"),
        ({"conditions": BAD}, "conditions"),
        ({"notify_user_ids": ["1"]}, "notify_user_ids"),
        ({"notify_user_ids": [999999]}, "notify_user_ids"),
    ],
)
def test_orchestration_validation(api: Service, member: User, kwargs: Any, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        orchestration_create(service=api, by=member, fields=fields(**kwargs))
    assert field in caught.value.message_dict
    assert not EventOrchestration.objects.exists()


def test_orchestration_refuses_foreign_users_rules_and_outsiders(
    api: Service, member: User, outsider: User, foreign_service: Service
) -> None:
    with pytest.raises(ValidationError, match="Unknown user"):
        orchestration_create(service=api, by=member, fields=fields(notify_user_ids=[outsider.pk]))
    foreign_rule = routing_rule_create(
        team=foreign_service.team, by=outsider, name="B", default_service=foreign_service
    )
    with pytest.raises(ValidationError, match="Unknown routing rule"):
        orchestration_create(service=api, by=member, fields=fields(routing_rule=foreign_rule))
    with pytest.raises(PermissionDenied):
        orchestration_create(service=api, by=outsider, fields=fields())
    o = orchestration_create(service=api, by=member, fields=fields())
    for call in (
        lambda: orchestration_update(orchestration=o, by=outsider, fields=fields(name="X")),
        lambda: orchestration_move(orchestration=o, position=0, by=outsider),
        lambda: orchestration_set_enabled(orchestration=o, by=outsider, enabled=False),
        lambda: orchestration_delete(orchestration=o, by=outsider),
    ):
        with pytest.raises(PermissionDenied):
            call()
    o.refresh_from_db()
    assert (o.name, o.enabled) == ("O", True)


def test_orchestrations_reorder_and_update(api: Service, member: User) -> None:
    a, b, c = (orchestration_create(service=api, by=member, fields=fields(name=n)) for n in "abc")
    orchestration_move(orchestration=a, position=2, by=member)
    order = list(EventOrchestration.objects.order_by("position").values_list("name", flat=True))
    assert order == ["b", "c", "a"]
    orchestration_update(
        orchestration=b, by=member, fields=fields(name="b2", urgency="low", note="n")
    )
    b.refresh_from_db()
    assert (b.name, b.urgency, b.note, b.position) == ("b2", "low", "n", 0)
    orchestration_delete(orchestration=c, by=member)
    rows = EventOrchestration.objects.order_by("position").values_list("name", "position")
    assert list(rows) == [("b2", 0), ("a", 1)]


def test_deleting_a_service_deletes_its_orchestrations(team: Team, member: User) -> None:
    service = factories.make_service(team=team, name="Temp")
    orchestration_create(service=service, by=member, fields=fields())
    service_delete(service=service, by=member)
    assert not EventOrchestration.objects.exists()
