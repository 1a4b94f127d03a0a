"""Routing decisions and orchestration outcomes, from rows created by the service functions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from opsduty.events import EventData
from opsduty.models import Service, Team, User
from processing.models import EventOrchestration, RoutingRule
from processing.routing.orchestrations import OrchestrationOutcome, orchestrations_apply
from processing.routing.routes import routing_rule_route
from processing.routing.selectors import orchestration_list_for_service, routing_rule_for_key
from processing.routing.services import (
    OrchestrationFields,
    orchestration_create,
    route_create,
    route_set_enabled,
    routing_rule_create,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 5, 15, 12, 0, tzinfo=UTC)
EVENT: dict[str, Any] = {"summary": "Disk full", "urgency": "high", "labels": []}


def when(path: str, value: str) -> dict[str, Any]:
    item = {"type": "filter", "source": "payload", "path": path, "operation": "matches"}
    return {"operator": "and", "conditions": [{**item, "value": value}]}


@pytest.fixture
def rule(team: Team, api: Service, member: User) -> RoutingRule:
    return routing_rule_create(team=team, by=member, name="Alertmanager", default_service=api)


def decide(rule: RoutingRule, payload: dict[str, Any]) -> Any:
    loaded = routing_rule_for_key(organization=rule.organization, routing_key=rule.routing_key)
    assert loaded is not None
    return routing_rule_route(rule=loaded, payload=payload, event=EVENT, now=NOW)


# --- routing ------------------------------------------------------------------------------------


def test_no_route_goes_to_the_default_service(rule: RoutingRule, api: Service) -> None:
    decision = decide(rule, {"team": "db"})
    assert (decision.service, decision.route_id, decision.errors) == (api, None, [])
    assert "default" in decision.matched


def test_first_matching_route_wins(
    rule: RoutingRule, api: Service, db_service: Service, member: User
) -> None:
    first = route_create(rule=rule, by=member, service=db_service, conditions=when("team", "db"))
    route_create(rule=rule, by=member, service=api, conditions=when("team", "db"), name="Later")
    decision = decide(rule, {"team": "db"})
    assert (decision.service, decision.route_id) == (db_service, first.pk)
    assert decision.matched == "route 1"
    assert decide(rule, {"team": "web"}).route_id is None


def test_disabled_route_is_skipped(rule: RoutingRule, db_service: Service, member: User) -> None:
    route = route_create(rule=rule, by=member, service=db_service, conditions=when("team", "db"))
    route_set_enabled(route=route, by=member, enabled=False)
    assert decide(rule, {"team": "db"}).route_id is None


def test_a_failing_route_is_skipped_with_its_error(
    rule: RoutingRule, api: Service, db_service: Service, member: User
) -> None:
    broken = {
        "operator": "and",
        "conditions": [{"type": "filter", "source": "payload", "path": "n",
                        "operation": "jinja", "value": "field / 0"}],
    }  # fmt: skip
    route_create(rule=rule, by=member, service=db_service, conditions=broken, name="Broken")
    route = route_create(rule=rule, by=member, service=api, name="Catch all")
    decision = decide(rule, {"n": 1})
    assert decision.route_id == route.pk and decision.matched == "route 2 “Catch all”"
    assert len(decision.errors) == 1 and decision.errors[0].startswith("route 1 “Broken”")


def test_routing_does_not_change_the_payload_or_event(
    rule: RoutingRule, db_service: Service, member: User
) -> None:
    route_create(rule=rule, by=member, service=db_service, conditions=when("team", "db"))
    payload, event = {"team": "db", "nested": {"x": [1]}}, dict(EVENT)
    before = (repr(payload), repr(event))
    decide(rule, payload)
    routing_rule_route(rule=rule, payload=payload, event=event, now=NOW)
    assert (repr(payload), repr(event)) == before


def test_loading_a_rule_with_routes_takes_two_queries_and_routing_none(
    rule: RoutingRule, db_service: Service, api: Service, member: User
) -> None:
    for n in range(5):
        route_create(rule=rule, by=member, service=db_service, conditions=when("n", str(n)))
    route_create(rule=rule, by=member, service=api)
    with CaptureQueriesContext(connection) as queries:
        loaded = routing_rule_for_key(organization=rule.organization, routing_key=rule.routing_key)
        assert loaded is not None
        for _ in range(3):
            decision = routing_rule_route(rule=loaded, payload={"n": 9}, event=EVENT, now=NOW)
            assert decision.service == api and decision.service.name == "API"
    assert len(queries) == 2


def test_rule_for_key_is_scoped_to_the_organization(rule: RoutingRule, outsider: User) -> None:
    assert (
        routing_rule_for_key(organization=outsider.organization, routing_key=rule.routing_key)
        is None
    )
    assert routing_rule_for_key(organization=rule.organization, routing_key="nope") is None


# --- orchestrations -----------------------------------------------------------------------------


def orchestrate(
    service: Service, payload: dict[str, Any], rule_id: int | None = None
) -> OrchestrationOutcome:
    return orchestrations_apply(
        orchestrations=orchestration_list_for_service(service=service),
        routing_rule_id=rule_id,
        payload=payload,
        event=EVENT,
        now=NOW,
    )


def make(service: Service, by: User, **fields: Any) -> EventOrchestration:
    fields.setdefault("name", f"O{EventOrchestration.objects.count() + 1}")
    return orchestration_create(service=service, by=by, fields=OrchestrationFields(**fields))


def test_no_orchestration_changes_nothing(api: Service) -> None:
    outcome = orchestrate(api, {})
    assert outcome == OrchestrationOutcome()
    event = EventData(summary="x", urgency="high", resolve=True)
    outcome.apply_to_event(event)
    assert (event.urgency, event.resolve) == ("high", True)


def test_every_transformation_is_reported(api: Service, member: User, owner: User) -> None:
    orchestration = make(
        api,
        member,
        name="Everything",
        escalate="force",
        escalation_policy_override_id=42,
        notify_user_ids=[member.pk, owner.pk],
        silence_minutes=30,
        urgency="low",
        ack_timeout_minutes=15,
        note="Runbook: https://wiki/disk",
        acknowledge=True,
        resolve=True,
        auto_resolve="deny",
    )
    outcome = orchestrate(api, {})
    assert outcome.as_dict() == {
        "matched": [{"id": orchestration.pk, "name": "Everything"}],
        "urgency": "low",
        "silence_minutes": 30,
        "notes": ["Runbook: https://wiki/disk"],
        "acknowledge": True,
        "resolve": True,
        "auto_resolve": False,
        "escalate": "force",
        "escalation_policy_id": 42,
        "notify_user_ids": [member.pk, owner.pk],
        "ack_timeout_minutes": 15,
        "errors": [],
    }


def test_apply_to_event_overrides_urgency_and_deny_drops_the_resolve_signal(
    api: Service, member: User
) -> None:
    make(api, member, urgency="low", auto_resolve="deny")
    event = EventData(summary="x", urgency="high", resolve=True, acknowledge=True)
    orchestrate(api, {}).apply_to_event(event)
    assert (event.urgency, event.resolve, event.acknowledge) == ("low", False, True)


def test_allow_auto_resolve_keeps_the_resolve_signal(api: Service, member: User) -> None:
    make(api, member, auto_resolve="allow")
    outcome = orchestrate(api, {})
    event = EventData(summary="x", resolve=True)
    outcome.apply_to_event(event)
    assert outcome.auto_resolve is True and event.resolve is True


def test_later_orchestrations_override_scalars_and_accumulate_lists(
    api: Service, member: User, owner: User
) -> None:
    first = make(api, member, urgency="low", silence_minutes=10, note="one",
                 notify_user_ids=[member.pk], escalate="force", auto_resolve="deny",
                 ack_timeout_minutes=5, escalation_policy_override_id=1)  # fmt: skip
    second = make(api, member, urgency="high", note="two", notify_user_ids=[owner.pk, member.pk],
                  acknowledge=True, escalate="bypass", auto_resolve="allow")  # fmt: skip
    third = make(api, member, silence_minutes=60, note="  ")
    outcome = orchestrate(api, {})
    assert [m["id"] for m in outcome.matched] == [first.pk, second.pk, third.pk]
    assert (outcome.urgency, outcome.silence_minutes, outcome.escalate) == ("high", 60, "bypass")
    assert outcome.notes == ["one", "two"]
    assert outcome.notify_user_ids == [member.pk, owner.pk]
    assert outcome.acknowledge is True and outcome.resolve is False
    assert outcome.auto_resolve is True
    assert (outcome.ack_timeout_minutes, outcome.escalation_policy_id) == (5, 1)


def test_only_matching_enabled_orchestrations_apply_in_position_order(
    api: Service, member: User
) -> None:
    make(api, member, urgency="low", conditions=when("env", "prod"), name="prod")
    make(api, member, urgency="high", conditions=when("env", "staging"), name="staging")
    make(api, member, note="off", enabled=False, name="off")
    assert orchestrate(api, {"env": "prod"}).urgency == "low"
    assert orchestrate(api, {"env": "staging"}).urgency == "high"
    outcome = orchestrate(api, {"env": "dev"})
    assert outcome.matched == [] and outcome.urgency is None and outcome.notes == []


def test_orchestration_limited_to_a_routing_rule(
    api: Service, member: User, rule: RoutingRule
) -> None:
    make(api, member, note="only via the rule", routing_rule=rule)
    make(api, member, note="always")
    assert orchestrate(api, {}, rule_id=rule.pk).notes == ["only via the rule", "always"]
    assert orchestrate(api, {}, rule_id=None).notes == ["always"]
    assert orchestrate(api, {}, rule_id=rule.pk + 1000).notes == ["always"]


def test_orchestration_errors_are_collected(api: Service, member: User) -> None:
    broken = {
        "operator": "and",
        "conditions": [{"type": "filter", "source": "event", "path": "summary",
                        "operation": "jinja", "value": "field / 0"}],
    }  # fmt: skip
    make(api, member, conditions=broken, name="Broken", urgency="low")
    outcome = orchestrate(api, {})
    assert outcome.urgency is None and outcome.errors[0].startswith("orchestration “Broken”")


def test_orchestration_list_for_service_is_one_query(api: Service, member: User) -> None:
    for _ in range(4):
        make(api, member)
    with CaptureQueriesContext(connection) as queries:
        orchestrate(api, {})
    assert len(queries) == 1
