"""Catastrophic regular expressions in routing and orchestration conditions: refused when saved
where the shape can be detected, cut off when evaluated otherwise, with the reason on the
raw event page, and the next events processed as usual."""

from __future__ import annotations

import html
import json
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from incidents.ingest import drain
from incidents.models import Incident
from opsduty.models import Service, Team
from processing.models import Route
from processing.routing.services import (
    OrchestrationFields,
    orchestration_create,
    route_create,
    routing_rule_create,
)
from processing.sandbox import regexes
from signals.models import RawEvent, RawEventStatus, Webhook
from tests import factories
from tests.signals.conftest import url

pytestmark = pytest.mark.django_db

# Shapes the save-time check detects (a repeat of something that is only repeats).
DETECTED = ["(a+)+$", "(a*)*b", "(\\w+\\s?)*$", "(.*)*x", "((a+))+$", "(?:a+|b)+$", "(x+x+)+y"]
# Ordinary patterns with repeats inside repeats that are not ambiguous: accepted.
ACCEPTED = ["^(\\d+\\.)+\\d+$", "^(ab)+$", "(?:[a-z]+,)*[a-z]+", "disk|cpu", "\\p{L}+"]
# Catastrophic, but not the detected shape: bounded by the timeout when evaluated.
UNDETECTED = "^(a|a)*$"
EVIL_TEXT = "a" * 40 + "!"


def _filter(pattern: str, operation: str = "matches_regex") -> dict[str, Any]:
    condition = {"type": "filter", "source": "payload", "path": "text", "operation": operation}
    return {"operator": "and", "conditions": [{**condition, "value": pattern}]}


@pytest.mark.parametrize("pattern", DETECTED)
def test_catastrophic_shapes_are_refused_when_saved(pattern: str) -> None:
    with pytest.raises(regexes.RegexError, match="repeats a repeat"):
        regexes.regex_check(pattern)


@pytest.mark.parametrize("pattern", ACCEPTED)
def test_ordinary_nested_repeats_are_accepted(pattern: str) -> None:
    regexes.regex_check(pattern)


# team, api and db_service: tests/processing/conftest.py


def _editor(pattern: str, operation: str) -> dict[str, str]:
    return {
        "cond-operator": "and",
        "cond-row-TOTAL_FORMS": "1",
        "cond-row-INITIAL_FORMS": "0",
        "cond-row-MIN_NUM_FORMS": "0",
        "cond-row-MAX_NUM_FORMS": "50",
        "cond-row-0-type": "filter",
        "cond-row-0-source": "payload",
        "cond-row-0-path": "text",
        "cond-row-0-operation": operation,
        "cond-row-0-value": pattern,
    }


@pytest.mark.parametrize("operation", ["matches_regex", "not_matches_regex"])
def test_the_route_form_refuses_a_catastrophic_pattern_with_the_reason(
    team: Team, api: Service, db_service: Service, member_client: Client, operation: str
) -> None:
    rule = routing_rule_create(team=team, by=None, name="Router", default_service=api)
    data = {"name": "evil", "service": db_service.pk, **_editor("(a+)+$", operation)}
    response = member_client.post(f"/routing-rules/{rule.pk}/routes/new/", data)
    assert response.status_code in (200, 422)
    assert "repeats a repeat" in html.unescape(response.content.decode())
    assert not Route.objects.exists()


def test_services_refuse_catastrophic_patterns_for_routes_and_orchestrations(
    team: Team, api: Service
) -> None:
    rule = routing_rule_create(team=team, by=None, name="Router", default_service=api)
    with pytest.raises(ValidationError, match="repeats a repeat"):
        route_create(rule=rule, by=None, service=api, conditions=_filter("(a+)+$"))
    with pytest.raises(ValidationError, match="repeats a repeat"):
        orchestration_create(
            service=api, by=None, fields=OrchestrationFields(name="o", conditions=_filter("(.*)*x"))
        )


def _send(client: Client, webhook: Webhook, key: str, body: dict[str, Any]) -> str:
    response = client.post(url(webhook, key), json.dumps(body), content_type="application/json")
    assert response.status_code == 202
    return str(response.json()["id"])


def test_an_undetected_catastrophic_pattern_is_cut_off_and_shown(
    client: Client,
    org_a: Any,
    team: Team,
    api: Service,
    db_service: Service,
    owner_client: Client,
) -> None:
    """A route and an orchestration whose patterns the check cannot detect: each evaluation
    ends at the timeout, counts as no match, and says so on the raw event page; the event and
    the next ordinary one are routed and become incidents."""
    regexes.regex_check(UNDETECTED)  # passes the save-time check
    rule = routing_rule_create(team=team, by=None, name="Router", default_service=api)
    route_create(rule=rule, by=None, service=db_service, conditions=_filter(UNDETECTED))
    orchestration_create(
        service=api,
        by=None,
        fields=OrchestrationFields(name="evil", conditions=_filter(UNDETECTED), note="matched"),
    )
    webhook = factories.make_webhook(organization=org_a)
    evil = _send(client, webhook, rule.routing_key, {"title": "evil", "text": EVIL_TEXT})
    plain = _send(client, webhook, rule.routing_key, {"title": "plain", "text": "aaaa"})
    assert drain.raw_events_drain(linger=0) == 2

    raw = RawEvent.objects.get(reference__public_id=evil)
    assert raw.status == RawEventStatus.PROCESSED, raw.error
    assert raw.incident is not None and raw.incident.service_id == api.pk  # default service
    (routing_error,) = raw.result["routing"]["errors"]
    assert "took longer than" in routing_error
    page = html.unescape(owner_client.get(f"/raw-events/{raw.pk}/").content.decode())
    assert "took longer than" in page
    assert UNDETECTED in page

    other = RawEvent.objects.get(reference__public_id=plain)
    assert other.status == RawEventStatus.PROCESSED
    # "aaaa" matches ^(a|a)*$ quickly: the route sends it to the database service.
    assert other.incident is not None and other.incident.service_id == db_service.pk
    assert set(Incident.objects.values_list("summary", flat=True)) == {"evil", "plain"}
