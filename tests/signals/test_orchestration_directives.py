"""Orchestration directives travel with the event (docs/routing.md): the escalation of the
incident an event opens starts with the right policy, or not at all, before anyone is paged.

Each test POSTs to the real receiver, drains as a worker does, and checks who got a
notification row (the outbox: a row is a page on its way), not only the escalation run.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from escalations.catalog.services import service_set_policy
from escalations.models import EscalationPolicy, EscalationRun, Notification
from escalations.policies.services import policy_create, step_add
from incidents import services as incident_services
from incidents.models import Incident, Status
from opsduty.models import Organization, Service, Team, User
from processing.models import Escalate
from tests import factories
from tests.signals.test_pipeline import alert, deliver, hook, incident_of, orchestrate

pytestmark = pytest.mark.django_db


def _member(team: Team, name: str) -> User:
    user = factories.make_user(organization=team.organization, email=f"{name}@a.example")
    factories.add_member(team, user)
    return user


@pytest.fixture
def alice(team: Team) -> User:
    return _member(team, "alice")


@pytest.fixture
def bob(team: Team) -> User:
    return _member(team, "bob")


@pytest.fixture
def carol(team: Team) -> User:
    return _member(team, "carol")


def _policy(service: Service, name: str, user: User) -> EscalationPolicy:
    policy = policy_create(team=service.team, by=None, name=name)
    step_add(policy=policy, by=None, kind="notify", users=[user])
    return policy


@pytest.fixture
def paged_alice(service: Service, alice: User) -> EscalationPolicy:
    """The service's own policy: step 1 pages Alice."""
    policy = _policy(service, "Default", alice)
    service_set_policy(service=service, policy=policy, by=None)
    return policy


def paged(incident: Incident) -> list[str]:
    """Who the incident's notification rows are for (each person once)."""
    rows = Notification.objects.filter(incident=incident).select_related("user")
    return sorted({row.user.email for row in rows})


def test_without_directives_the_services_policy_pages_its_step_1(
    client: Client, org_a: Organization, service: Service, paged_alice: EscalationPolicy
) -> None:
    raw = deliver(client, hook(org_a, "alertmanager"), service.routing_key, alert())
    assert paged(incident_of(raw)) == ["alice@a.example"]


def test_a_policy_override_pages_only_the_override_policys_step_1(
    client: Client,
    org_a: Organization,
    service: Service,
    paged_alice: EscalationPolicy,
    bob: User,
) -> None:
    override = _policy(service, "Night shift", bob)
    orchestrate(service, name="Nights", escalation_policy_override_id=override.pk)
    raw = deliver(client, hook(org_a, "alertmanager"), service.routing_key, alert())
    incident = incident_of(raw)
    assert paged(incident) == ["bob@a.example"]  # never Alice, not even as a cancelled row
    run = EscalationRun.objects.get(incident=incident)
    assert (run.policy_id, run.policy_overridden) == (override.pk, True)


def test_a_policy_of_another_team_is_skipped_and_the_services_own_pages(
    client: Client, org_a: Organization, service: Service, paged_alice: EscalationPolicy
) -> None:
    other_team = factories.make_team(organization=org_a, name="Elsewhere")
    stranger = factories.make_user(organization=org_a, email="stranger@a.example")
    factories.add_member(other_team, stranger)
    foreign = policy_create(team=other_team, by=None, name="Foreign")
    step_add(policy=foreign, by=None, kind="notify", users=[stranger])
    orchestrate(service, name="Wrong", escalation_policy_override_id=foreign.pk)
    raw = deliver(client, hook(org_a, "alertmanager"), service.routing_key, alert())
    assert paged(incident_of(raw)) == ["alice@a.example"]
    assert raw.result["actions"][0] == f"policy {foreign.pk}: skipped (not a policy of the team)"


def test_a_silence_orchestration_writes_no_notification(
    client: Client, org_a: Organization, service: Service, paged_alice: EscalationPolicy
) -> None:
    orchestrate(service, name="Quiet", silence_minutes=30)
    raw = deliver(client, hook(org_a, "alertmanager"), service.routing_key, alert())
    incident = incident_of(raw)
    assert incident.status == Status.SILENCED
    assert paged(incident) == []


def test_when_the_silence_ends_the_override_policy_pages(
    client: Client,
    org_a: Organization,
    service: Service,
    paged_alice: EscalationPolicy,
    bob: User,
) -> None:
    override = _policy(service, "Night shift", bob)
    orchestrate(
        service, name="Quiet nights", silence_minutes=30, escalation_policy_override_id=override.pk
    )
    raw = deliver(client, hook(org_a, "alertmanager"), service.routing_key, alert())
    incident = incident_of(raw)
    assert paged(incident) == []
    later = timezone.now() + timedelta(minutes=31)
    assert incident_services.incident_silence_expire(incident_id=incident.pk, now=later)
    assert paged(incident) == ["bob@a.example"]


def test_a_bypass_orchestration_writes_no_notification(
    client: Client, org_a: Organization, service: Service, paged_alice: EscalationPolicy
) -> None:
    orchestrate(service, name="Bypass", escalate=Escalate.BYPASS)
    raw = deliver(client, hook(org_a, "alertmanager"), service.routing_key, alert())
    incident = incident_of(raw)
    assert incident.status == Status.TRIGGERED
    assert paged(incident) == []
    assert not EscalationRun.objects.filter(incident=incident, state="active").exists()


def test_an_acknowledge_orchestration_writes_no_notification(
    client: Client, org_a: Organization, service: Service, paged_alice: EscalationPolicy
) -> None:
    orchestrate(service, name="Known noise", acknowledge=True)
    raw = deliver(client, hook(org_a, "alertmanager"), service.routing_key, alert())
    assert incident_of(raw).status == Status.ACKNOWLEDGED
    assert paged(incident_of(raw)) == []


def test_notify_users_pages_exactly_those_users(
    client: Client, org_a: Organization, service: Service, alice: User, bob: User, carol: User
) -> None:
    orchestrate(service, name="Tell them", notify_user_ids=[bob.pk, carol.pk])
    raw = deliver(client, hook(org_a, "alertmanager"), service.routing_key, alert())
    assert paged(incident_of(raw)) == ["bob@a.example", "carol@a.example"]
    rows = Notification.objects.filter(incident=incident_of(raw)).count()
    # The same alert again joins the incident and pages nobody a second time.
    again = deliver(client, hook(org_a, "alertmanager"), service.routing_key, alert())
    assert again.incident_id == raw.incident_id
    assert Notification.objects.filter(incident=incident_of(raw)).count() == rows


def test_bypass_with_notify_users_pages_only_those_users(
    client: Client,
    org_a: Organization,
    service: Service,
    paged_alice: EscalationPolicy,
    bob: User,
) -> None:
    orchestrate(service, name="Only Bob", escalate=Escalate.BYPASS, notify_user_ids=[bob.pk])
    raw = deliver(client, hook(org_a, "alertmanager"), service.routing_key, alert())
    assert paged(incident_of(raw)) == ["bob@a.example"]


def test_silence_with_notify_users_pages_nobody(
    client: Client, org_a: Organization, service: Service, paged_alice: EscalationPolicy, bob: User
) -> None:
    orchestrate(service, name="Quiet", silence_minutes=10, notify_user_ids=[bob.pk])
    raw = deliver(client, hook(org_a, "alertmanager"), service.routing_key, alert())
    assert paged(incident_of(raw)) == []
    assert "notify users: skipped (the incident is not triggered)" in raw.result["actions"]


def test_bypass_with_silence_and_notify_users_pages_nobody(
    client: Client, org_a: Organization, service: Service, paged_alice: EscalationPolicy, bob: User
) -> None:
    orchestrate(
        service,
        name="Quiet",
        escalate=Escalate.BYPASS,
        silence_minutes=10,
        notify_user_ids=[bob.pk],
    )
    raw = deliver(client, hook(org_a, "alertmanager"), service.routing_key, alert())
    assert paged(incident_of(raw)) == []


def test_notify_users_pages_nobody_while_the_service_is_in_debug_maintenance(
    client: Client, org_a: Organization, service: Service, owner: User, bob: User
) -> None:
    from escalations.catalog.services import service_maintenance_start

    factories.add_member(service.team, owner)
    service_maintenance_start(service=service, by=owner, mode="debug", duration_minutes=60)
    orchestrate(service, name="Tell Bob", notify_user_ids=[bob.pk])
    raw = deliver(client, hook(org_a, "alertmanager"), service.routing_key, alert())
    assert paged(incident_of(raw)) == []
    assert "notify users: skipped (the service is in maintenance)" in raw.result["actions"]
