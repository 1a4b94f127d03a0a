"""The pipeline end to end: the receiver URL, a drain, and what each stage did.

Every test POSTs through the Django test client to the real receiver path and processes with
`services.raw_events_drain(linger=0)`, as a worker would; the payloads are the recorded ones
of tests/fixtures/receive_channels/.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from incidents.ingest import drain as services
from incidents.models import Incident, IncidentEvent, IncidentNote, Status
from opsduty.models import Organization, Service, Team, User
from processing.channels.rendering import FALLBACK_SUMMARY
from processing.models import AutoResolve, Escalate, OrchestrationUrgency, RoutingRule
from processing.routing.services import (
    OrchestrationFields,
    orchestration_create,
    route_create,
    routing_rule_create,
)
from signals.models import RawEvent, RawEventStatus, ReferenceStatus, Webhook
from tests import factories
from tests.signals.conftest import url

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "receive_channels"
AM_GROUP_KEY = '{}/{severity="critical"}:{alertname="HighErrorRate"}'
TEAM_IS_PAYMENTS = {
    "operator": "and",
    "conditions": [
        {
            "type": "filter",
            "source": "payload",
            "path": "commonLabels.team",
            "operation": "matches",
            "value": "payments",
        }
    ],
}


def fixture(source: str, name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / source / f"{name}.json").read_text())
    return payload


def alert(team: str | None = None, name: str = "firing") -> dict[str, Any]:
    """The Alertmanager fixture, optionally with `commonLabels.team`."""
    payload = fixture("alertmanager", name)
    if team is not None:
        payload["commonLabels"]["team"] = team
    return payload


def send(client: Client, webhook: Webhook, routing_key: str, body: dict[str, Any]) -> str:
    response = client.post(
        url(webhook, routing_key), data=json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 202, response.content
    return str(response.json()["id"])


def deliver(client: Client, webhook: Webhook, routing_key: str, body: dict[str, Any]) -> RawEvent:
    """POST, drain, and return the processed raw event."""
    reference = send(client, webhook, routing_key, body)
    assert services.raw_events_drain(linger=0) == 1
    raw = RawEvent.objects.select_related("reference", "incident").get(
        reference__public_id=reference
    )
    assert raw.status == RawEventStatus.PROCESSED, raw.error
    assert raw.reference.status == ReferenceStatus.COMPLETED
    return raw


def incident_of(raw: RawEvent) -> Incident:
    """The raw event's incident, fresh from the database."""
    assert raw.incident_id is not None
    return Incident.objects.get(pk=raw.incident_id)


def hook(org: Organization, template: str) -> Webhook:
    return factories.make_webhook(organization=org, builtin_template=template)


@pytest.fixture
def service_b(org_a: Organization) -> Service:
    payments = factories.make_team(organization=org_a, name="Payments")
    return factories.make_service(team=payments, name="Checkout")


@pytest.fixture
def rule(team: Team, service: Service, service_b: Service) -> RoutingRule:
    """Default service A ("API"); route 1 sends team=payments to service B ("Checkout")."""
    rule = routing_rule_create(team=team, by=None, name="Router", default_service=service)
    route_create(rule=rule, by=None, service=service_b, conditions=TEAM_IS_PAYMENTS, name="pay")
    return rule


# --- built-in templates ---------------------------------------------------------------------

# template, firing fixture, resolving fixture (or None), summary, urgency, dedup id
BUILTINS = [
    (
        "alertmanager",
        "firing",
        "resolved",
        "HighErrorRate: High 5xx rate on the checkout API",
        "high",
        AM_GROUP_KEY,
    ),
    (
        "alertmanager",
        "firing_warning_single",
        None,
        "DiskWillFillIn4Hours: Disk /dev/sda1 on db-3 fills up within 4 hours",
        "low",
        '{}:{alertname="DiskWillFillIn4Hours"}',
    ),
    (
        "checkly",
        "failure",
        "recovery",
        "Checkout API health failed in Frankfurt",
        "high",
        "checkly-c7e4f2a0-6f1c-4a5e-9d3b-2f8a1e9b7c44",
    ),
    (
        "checkly",
        "degraded",
        "recovery",
        "Checkout API health is degraded in N. Virginia",
        "low",
        "checkly-c7e4f2a0-6f1c-4a5e-9d3b-2f8a1e9b7c44",
    ),
    (
        "deadmanssnitch",
        "missing",
        "reporting",
        "Snitch Nightly billing export is missing (no check-in)",
        "high",
        "snitch-c2354d53d2",
    ),
    (
        "sentry",
        "issue_created",
        "issue_resolved",
        "TypeError: Cannot read properties of undefined (reading 'token')",
        "high",
        "sentry-4512388841",
    ),
    (
        "sentry",
        "event_alert_triggered",
        "issue_resolved",
        "TypeError: Cannot read properties of undefined (reading 'token')",
        "high",
        "sentry-4512388841",
    ),
    (
        "generic",
        "firing",
        "resolved",
        "Queue depth above 10k on orders",
        "low",
        "orders-queue-depth",
    ),
]


@pytest.mark.parametrize(
    ("template", "firing", "resolving", "summary", "urgency", "dedup_id"), BUILTINS
)
def test_builtin_template_opens_and_resolves_an_incident(
    client: Client,
    org_a: Organization,
    service: Service,
    template: str,
    firing: str,
    resolving: str | None,
    summary: str,
    urgency: str,
    dedup_id: str,
) -> None:
    webhook = hook(org_a, template)
    raw = deliver(client, webhook, service.routing_key, fixture(template, firing))
    incident = Incident.objects.get()
    assert raw.incident_id == incident.pk
    assert (incident.summary, incident.urgency, incident.dedup_id) == (summary, urgency, dedup_id)
    assert incident.service_id == service.pk
    assert incident.status == Status.TRIGGERED
    assert raw.result["channel"]["template"] == f"built-in template “{template}”"
    assert raw.result["channel"]["errors"] == {}
    assert raw.result["routing"] == {"service": service.pk, "service_name": service.name}
    if resolving is None:
        return
    resolved = deliver(client, webhook, service.routing_key, fixture(template, resolving))
    assert resolved.incident_id == incident.pk
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED
    assert Incident.objects.count() == 1
    assert IncidentEvent.objects.filter(incident=incident).count() == 2


def test_an_organization_receive_channel_overrides_the_template(
    client: Client, org_a: Organization, service: Service
) -> None:
    channel = factories.make_receive_channel(
        organization=org_a,
        name="Prometheus (ours)",
        base_template="alertmanager",
        overrides={"summary": "[{{ payload.commonLabels.service }}] {{ payload.status }}"},
    )
    webhook = hook(org_a, "generic")  # the channel wins over the webhook's built-in
    webhook.receive_channel = channel
    webhook.save(update_fields=["receive_channel"])
    raw = deliver(client, webhook, service.routing_key, alert())
    incident = Incident.objects.get()
    assert incident.summary == "[checkout] firing"
    # Fields without an override come from the channel's base template.
    assert (incident.dedup_id, incident.urgency) == (AM_GROUP_KEY, "high")
    assert raw.result["channel"]["template"] == "receive channel “Prometheus (ours)”"
    event = IncidentEvent.objects.get()
    assert event.processing["channel"]["template"] == "receive channel “Prometheus (ours)”"


def test_a_template_error_keeps_the_event_with_a_fallback_summary(
    client: Client, org_a: Organization, service: Service
) -> None:
    channel = factories.make_receive_channel(
        organization=org_a,
        base_template="alertmanager",
        # Compiles, but an attribute of an undefined value fails when rendered.
        overrides={"summary": "{{ payload.no_such_key.deeper }}"},
    )
    webhook = hook(org_a, "alertmanager")
    webhook.receive_channel = channel
    webhook.save(update_fields=["receive_channel"])
    raw = deliver(client, webhook, service.routing_key, alert())
    incident = Incident.objects.get()
    assert incident.summary.startswith(f"{FALLBACK_SUMMARY} (")
    assert incident.dedup_id == AM_GROUP_KEY  # the other fields still rendered
    errors = raw.result["channel"]["errors"]
    assert set(errors) == {"summary"}
    assert "no_such_key" in errors["summary"]
    event = IncidentEvent.objects.get()
    assert event.processing["channel"]["errors"] == errors
    assert event.summary == incident.summary


# --- routing rules --------------------------------------------------------------------------


def test_routing_rule_sends_matching_events_to_their_route(
    client: Client,
    org_a: Organization,
    service: Service,
    service_b: Service,
    rule: RoutingRule,
) -> None:
    webhook = hook(org_a, "alertmanager")
    raw = deliver(client, webhook, rule.routing_key, alert(team="payments"))
    assert raw.incident is not None
    assert raw.incident.service_id == service_b.pk
    route = rule.routes.get()
    assert raw.result["routing"] == {
        "rule": "Router",
        "rule_id": rule.pk,
        "route_id": route.pk,
        "matched": "route 1 “pay”",
        "service": service_b.pk,
        "service_name": "Checkout",
        "errors": [],
    }
    assert (
        IncidentEvent.objects.get(incident=raw.incident).processing["routing"]
        == raw.result["routing"]
    )

    other = deliver(client, webhook, rule.routing_key, alert(team="platform", name="resolved"))
    # Same dedup id, other service: the incident on B is untouched, A gets its own.
    assert other.incident is not None
    assert other.incident.service_id == service.pk
    assert other.result["routing"]["route_id"] is None
    assert other.result["routing"]["matched"] == "default service (no route matched)"
    no_team = deliver(client, webhook, rule.routing_key, alert())
    assert no_team.incident is not None
    assert no_team.incident.service_id == service.pk


def test_a_disabled_route_is_skipped(
    client: Client, org_a: Organization, service: Service, rule: RoutingRule
) -> None:
    rule.routes.update(enabled=False)
    raw = deliver(client, hook(org_a, "alertmanager"), rule.routing_key, alert(team="payments"))
    assert raw.incident is not None
    assert raw.incident.service_id == service.pk
    assert raw.result["routing"]["route_id"] is None


def test_a_routing_key_gone_before_processing_fails_the_event(
    client: Client, org_a: Organization, rule: RoutingRule
) -> None:
    """The service case is in test_processing.py; this is the routing rule's key."""
    reference = send(client, hook(org_a, "alertmanager"), rule.routing_key, alert())
    RoutingRule.objects.filter(pk=rule.pk).update(routing_key="moved-away")
    services.raw_events_drain(linger=0)
    raw = RawEvent.objects.select_related("reference").get(reference__public_id=reference)
    assert raw.status == RawEventStatus.FAILED
    assert f"routing key {rule.routing_key!r}" in raw.error
    assert raw.reference.status == ReferenceStatus.FAILED
    assert rule.routing_key in raw.reference.reason
    assert not Incident.objects.exists()


# --- event orchestrations -------------------------------------------------------------------


def orchestrate(service: Service, **fields: Any) -> None:
    fields.setdefault("name", "Orchestration")
    orchestration_create(service=service, by=None, fields=OrchestrationFields(**fields))


def test_orchestration_overrides_the_urgency(
    client: Client, org_a: Organization, service: Service
) -> None:
    orchestrate(service, name="Critical is low at night", urgency=OrchestrationUrgency.LOW)
    raw = deliver(client, hook(org_a, "alertmanager"), service.routing_key, alert())
    assert raw.incident is not None
    assert raw.incident.urgency == "low"  # the template said high
    assert raw.result["orchestration"]["urgency"] == "low"
    assert raw.result["orchestration"]["matched"][0]["name"] == "Critical is low at night"


def test_orchestration_adds_a_note(client: Client, org_a: Organization, service: Service) -> None:
    orchestrate(service, note="Runbook: https://runbooks.example.com/5xx")
    raw = deliver(client, hook(org_a, "alertmanager"), service.routing_key, alert())
    note = IncidentNote.objects.get()
    assert note.incident_id == raw.incident_id
    assert note.text == "Runbook: https://runbooks.example.com/5xx"
    assert note.author is None
    assert raw.result["actions"] == ["note: Runbook: https://runbooks.example.com/5xx"]


def test_orchestration_silences_the_incident(
    client: Client, org_a: Organization, service: Service
) -> None:
    orchestrate(service, silence_minutes=15)
    raw = deliver(client, hook(org_a, "alertmanager"), service.routing_key, alert())
    incident = incident_of(raw)
    assert incident.status == Status.SILENCED
    assert incident.silenced_until is not None
    minutes = (incident.silenced_until - raw.received_at).total_seconds() / 60
    assert 14.5 < minutes < 16
    assert raw.result["actions"] == ["silenced for 15 min"]


def test_orchestration_acknowledges(client: Client, org_a: Organization, service: Service) -> None:
    orchestrate(service, acknowledge=True)
    raw = deliver(client, hook(org_a, "alertmanager"), service.routing_key, alert())
    assert incident_of(raw).status == Status.ACKNOWLEDGED
    assert raw.result["actions"] == ["acknowledged"]


def test_orchestration_resolves(client: Client, org_a: Organization, service: Service) -> None:
    orchestrate(service, resolve=True)
    raw = deliver(client, hook(org_a, "alertmanager"), service.routing_key, alert())
    assert incident_of(raw).status == Status.RESOLVED
    assert raw.result["actions"] == ["resolved"]


def test_orchestration_actions_that_no_longer_apply_are_skipped_not_failed(
    client: Client, org_a: Organization, service: Service
) -> None:
    """A resolving payload that opens an incident resolves it; silencing it is then refused."""
    webhook = hook(org_a, "alertmanager")
    orchestrate(service, silence_minutes=10)
    raw = deliver(client, webhook, service.routing_key, alert(name="resolved"))
    assert incident_of(raw).status == Status.RESOLVED
    (action,) = raw.result["actions"]
    assert action.startswith("silenced for 10 min: skipped (")


def test_note_silence_and_acknowledge_act_only_on_the_event_that_opens_the_incident(
    client: Client, org_a: Organization, service: Service
) -> None:
    orchestrate(service, note="Runbook: https://runbooks.example/disk")
    webhook = hook(org_a, "alertmanager")
    first = deliver(client, webhook, service.routing_key, alert())
    again = deliver(client, webhook, service.routing_key, alert())
    assert again.incident_id == first.incident_id
    assert first.result["actions"] == ["note: Runbook: https://runbooks.example/disk"]
    assert again.result["actions"] == []
    assert IncidentNote.objects.count() == 1


def test_auto_resolve_deny_drops_the_resolve_signal(
    client: Client, org_a: Organization, service: Service
) -> None:
    orchestrate(service, name="Resolve by hand", auto_resolve=AutoResolve.DENY)
    webhook = hook(org_a, "alertmanager")
    first = deliver(client, webhook, service.routing_key, alert())
    second = deliver(client, webhook, service.routing_key, alert(name="resolved"))
    assert second.incident_id == first.incident_id
    assert incident_of(first).status == Status.TRIGGERED
    assert second.result["channel"]["resolve"] is True  # the template saw a resolve...
    assert second.result["orchestration"]["auto_resolve"] is False
    event = IncidentEvent.objects.get(pk=IncidentEvent.objects.order_by("-id")[0].pk)
    assert event.resolve is False  # ...that the orchestration dropped


def test_orchestration_limited_to_a_routing_rule(
    client: Client, org_a: Organization, service: Service, rule: RoutingRule
) -> None:
    orchestrate(service, name="Via the router", routing_rule=rule, note="came through the rule")
    webhook = hook(org_a, "alertmanager")
    direct = deliver(client, webhook, service.routing_key, alert(team="platform"))
    assert direct.result["orchestration"]["matched"] == []
    assert not IncidentNote.objects.exists()
    deliver(client, webhook, service.routing_key, alert(team="platform", name="resolved"))
    routed = deliver(client, webhook, rule.routing_key, alert(team="platform"))
    assert routed.incident_id != direct.incident_id  # a new incident on service A
    assert incident_of(routed).service_id == service.pk
    assert [m["name"] for m in routed.result["orchestration"]["matched"]] == ["Via the router"]
    assert IncidentNote.objects.get().text == "came through the rule"


def test_orchestration_conditions_select_events(
    client: Client, org_a: Organization, service: Service
) -> None:
    orchestrate(service, name="Payments only", conditions=TEAM_IS_PAYMENTS, acknowledge=True)
    webhook = hook(org_a, "generic")
    raw = deliver(client, webhook, service.routing_key, {"title": "a", "dedup_id": "a"})
    assert raw.result["orchestration"]["matched"] == []
    assert incident_of(raw).status == Status.TRIGGERED


def test_orchestration_escalation_transformations_take_effect(
    client: Client, org_a: Organization, service: Service, owner: User, member: User
) -> None:
    from escalations.models import Notification

    orchestrate(
        service,
        name="Page harder",
        escalate=Escalate.FORCE,
        escalation_policy_override_id=42,  # not a policy of the team: skipped, said so
        notify_user_ids=[owner.pk, member.pk],
        ack_timeout_minutes=30,
    )
    raw = deliver(client, hook(org_a, "alertmanager"), service.routing_key, alert())
    stored = raw.result["orchestration"]
    assert stored["escalate"] == "force"
    assert stored["notify_user_ids"] == [owner.pk, member.pk]
    assert stored["ack_timeout_minutes"] == 30
    assert raw.result["actions"] == [
        "policy 42: skipped (not a policy of the team)",
        "escalation forced",
        "acknowledge timeout 30 min",
        "notified 2 user(s) directly",
    ]
    from escalations.models import EscalationRun

    assert EscalationRun.objects.get(incident=incident_of(raw)).ack_timeout_minutes == 30
    notified = set(
        Notification.objects.filter(incident=incident_of(raw)).values_list("user_id", flat=True)
    )
    assert notified == {owner.pk, member.pk}
    event = IncidentEvent.objects.get()
    assert event.processing["orchestration"] == stored


def test_orchestration_policy_override_and_bypass(
    client: Client, org_a: Organization, service: Service, member: User
) -> None:
    from escalations.catalog.services import service_set_policy
    from escalations.models import EscalationRun, Notification, RunState
    from escalations.policies.services import policy_create, step_add

    default = policy_create(team=service.team, by=None, name="Default")
    step_add(policy=default, by=None, kind="notify", users=[member])
    service_set_policy(service=service, policy=default, by=None)
    quiet = policy_create(team=service.team, by=None, name="Quiet")
    step_add(policy=quiet, by=None, kind="wait", wait_minutes=30)
    orchestrate(service, name="Quiet for payments", escalation_policy_override_id=quiet.pk)
    raw = deliver(client, hook(org_a, "alertmanager"), service.routing_key, alert())
    run = EscalationRun.objects.get(incident=incident_of(raw))
    assert (run.policy_id, run.policy_overridden, run.state) == (quiet.pk, True, RunState.ACTIVE)
    assert raw.result["actions"] == ["escalation policy “Quiet”"]

    orchestrate(service, name="Bypass", escalate=Escalate.BYPASS)
    second = deliver(
        client, hook(org_a, "generic"), service.routing_key, {"title": "b", "dedup_id": "b"}
    )
    assert not EscalationRun.objects.filter(incident=incident_of(second), state="active")
    assert "escalation bypassed" in second.result["actions"]
    # Nothing was written to take back: the run never started (tests/signals/
    # test_orchestration_directives.py checks every directive on the notification rows).
    assert not Notification.objects.filter(incident=incident_of(second)).exists()


# --- the incident page ----------------------------------------------------------------------


def test_incident_page_shows_how_the_event_was_processed(
    client: Client,
    owner_client: Client,
    org_a: Organization,
    service: Service,
    rule: RoutingRule,
) -> None:
    orchestrate(service, name="Tag platform", note="platform event")
    raw = deliver(client, hook(org_a, "alertmanager"), rule.routing_key, alert(team="platform"))
    response = owner_client.get(f"/incidents/{raw.incident_id}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "parsed by built-in template “alertmanager”" in page
    assert "routed by “Router”: default service (no route matched)" in page
    assert "orchestrations: Tag platform" in page
