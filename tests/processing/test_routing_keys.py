"""The routing-key namespace (opsduty/routing_keys.py): a key names one service or one routing
rule, never both, and webhooks address it the same way whichever owns it."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from escalations.catalog.services import service_create, service_regenerate_routing_key
from opsduty.models import Service, Team, User
from processing.models import RoutingRule
from processing.routing.services import routing_rule_create, routing_rule_regenerate_key
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def rule(team: Team, api: Service, member: User) -> RoutingRule:
    return routing_rule_create(team=team, by=member, name="Alertmanager", default_service=api)


def test_a_service_cannot_take_a_routing_rules_key(rule: RoutingRule, team: Team) -> None:
    with pytest.raises(ValidationError, match="routing key is taken"):
        service_create(team=team, by=None, name="Copycat", routing_key=rule.routing_key)
    assert not Service.objects.filter(name="Copycat").exists()


def test_a_service_cannot_take_another_services_key(api: Service, team: Team) -> None:
    with pytest.raises(ValidationError, match="routing key is taken"):
        service_create(team=team, by=None, name="Copycat", routing_key=api.routing_key)


def test_a_regenerated_service_key_never_equals_a_routing_rules_key(
    rule: RoutingRule, api: Service, member: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = iter([rule.routing_key, "fresh-" + "s" * 32])
    monkeypatch.setattr("opsduty.routing_keys.new_routing_key", lambda: next(keys))
    service_regenerate_routing_key(service=api, by=member)
    api.refresh_from_db()
    assert api.routing_key == "fresh-" + "s" * 32


def test_a_regenerated_rule_key_never_equals_a_services_key(
    rule: RoutingRule, api: Service, member: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = iter([api.routing_key, "fresh-" + "t" * 32])
    monkeypatch.setattr("opsduty.routing_keys.new_routing_key", lambda: next(keys))
    routing_rule_regenerate_key(rule=rule, by=member)
    rule.refresh_from_db()
    assert rule.routing_key == "fresh-" + "t" * 32


def test_the_receiver_accepts_both_kinds_of_key_and_refuses_others(
    client: Client, rule: RoutingRule, api: Service
) -> None:
    webhook = factories.make_webhook(organization=api.organization)
    base = f"/integrations/webhooks/enque/event/{webhook.key}/"
    for key in (api.routing_key, rule.routing_key):
        answer = client.post(base + key, data={"title": "x"}, content_type="application/json")
        assert answer.status_code == 202, answer.content
    answer = client.post(base + "nobody-has-this-key", data={}, content_type="application/json")
    assert answer.status_code == 404
    assert "routing key" in answer.json()["detail"]
