"""OpsDuty's own incident actions of API v1: page and reassign (200 with the incident,
422 for bad input or a refused action, 404 for another organization's incident)."""

from __future__ import annotations

import pytest
from django.test import Client

from escalations.catalog.services import service_set_policy
from escalations.engine.models import EscalationRun
from escalations.models import EscalationPolicy
from escalations.notifications.models import Notification
from escalations.policies.models import StepKind
from escalations.policies.services import policy_create, step_add
from incidents import services as incident_services
from incidents.models import Incident
from opsduty.models import Organization, Service, Team, User
from tests import factories
from tests.api.test_incidents_api import action_url, assert_422, post_json
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(org_a: Organization, member: User) -> Team:
    team = factories.make_team(organization=org_a, name="Platform")
    factories.add_member(team, member)
    return team


@pytest.fixture
def api_service(team: Team) -> Service:
    return factories.make_service(team=team, name="API")


@pytest.fixture
def incident(api_service: Service) -> Incident:
    return factories.make_incident(service=api_service, summary="Disk full")


@pytest.fixture
def night(team: Team) -> EscalationPolicy:
    return policy_create(team=team, by=None, name="Night")


@pytest.fixture
def member_api(member: User) -> Client:
    return api_client_for(member)


def test_page_answers_the_incident(member_api, incident, owner, team, member):
    status, body = post_json(member_api, action_url(incident, "page"), {"users": [owner.pk]})
    assert status == 200
    assert body["id"] == incident.pk and body["status"] == "triggered" and "notes" in body
    assert Notification.objects.filter(incident=incident, user=owner).exists()
    status, _ = post_json(member_api, action_url(incident, "page"), {"teams": [team.pk]})
    assert status == 200
    assert Notification.objects.filter(incident=incident, user=member).exists()


@pytest.mark.parametrize(
    "body",
    [None, {}, {"users": []}, {"users": "1"}, {"users": ["x"]}, {"teams": [999999]}],
)
def test_page_bad_input_is_422(member_api, incident, body):
    status, response = post_json(member_api, action_url(incident, "page"), body)
    assert status == 422
    assert_422(response)


def test_page_refusals_are_422(member_api, incident, stakeholder, outsider, owner):
    status, body = post_json(member_api, action_url(incident, "page"), {"users": [stakeholder.pk]})
    assert status == 422 and "Nobody to page" in body["detail"][0]["msg"]
    status, body = post_json(member_api, action_url(incident, "page"), {"users": [outsider.pk]})
    assert status == 422 and body["detail"][0]["loc"] == ["body", "users"]
    incident_services.incident_resolve(incident=incident, by=owner)
    status, body = post_json(member_api, action_url(incident, "page"), {"users": [owner.pk]})
    assert status == 422
    assert_422(body)


def test_reassign_answers_the_incident(member_api, incident, night):
    url = action_url(incident, "reassign")
    status, body = post_json(member_api, url, {"escalation_policy": night.pk})
    assert status == 200 and body["id"] == incident.pk
    run = EscalationRun.objects.get(incident=incident)
    assert (run.policy_id, run.policy_overridden) == (night.pk, True)


def test_reassign_refusals_are_422(member_api, incident, org_a, outsider, owner, night):
    url = action_url(incident, "reassign")
    other = policy_create(team=factories.make_team(organization=org_a), by=None, name="Other")
    foreign = policy_create(
        team=factories.make_team(organization=outsider.organization), by=None, name="B"
    )
    for body in (None, {}, {"escalation_policy": "x"}, {"escalation_policy": other.pk}):
        status, answer = post_json(member_api, url, body)
        assert status == 422, body
        assert_422(answer)
    status, answer = post_json(member_api, url, {"escalation_policy": foreign.pk})
    assert status == 422 and answer["detail"][0]["loc"] == ["body", "escalation_policy"]
    incident_services.incident_resolve(incident=incident, by=owner)
    status, _ = post_json(member_api, url, {"escalation_policy": night.pk})
    assert status == 422


@pytest.mark.parametrize("action", ["page", "reassign"])
def test_foreign_and_unknown_incidents_are_404(outsider_api, incident, owner, night, action):
    body = {"users": [owner.pk], "escalation_policy": night.pk}
    status, _ = post_json(outsider_api, action_url(incident, action), body)
    assert status == 404
    status, _ = post_json(outsider_api, f"/api/v1/incidents/999999/{action}/", body)
    assert status == 404
    assert not Notification.objects.filter(incident=incident).exists()


def test_stakeholder_token_is_403(incident, team, stakeholder, owner):
    factories.add_member(team, stakeholder)
    client = api_client_for(stakeholder)
    status, _ = post_json(client, action_url(incident, "page"), {"users": [owner.pk]})
    assert status == 403


# --- escalate ---------------------------------------------------------------------------------


@pytest.fixture
def ladder(team: Team, api_service: Service, member: User, owner: User) -> EscalationPolicy:
    policy = policy_create(team=team, by=None, name="Ladder")
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[member])
    step_add(policy=policy, by=None, kind=StepKind.WAIT, wait_minutes=30)
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[owner])
    service_set_policy(service=api_service, policy=policy, by=None)
    return policy


def test_escalate_pages_the_next_step(member_api, ladder, api_service, owner):
    incident = factories.make_incident(service=api_service)
    assert not Notification.objects.filter(incident=incident, user=owner).exists()
    status, body = post_json(member_api, action_url(incident, "escalate"), {"step": 3})
    assert status == 200 and body["id"] == incident.pk and body["status"] == "triggered"
    paged = Notification.objects.filter(incident=incident, user=owner).count()
    assert paged >= 1  # one row per notification rule
    # Retried with the same step: refused, nobody paged twice.
    status, body = post_json(member_api, action_url(incident, "escalate"), {"step": 3})
    assert status == 422 and "Nothing to escalate to" in body["detail"][0]["msg"]
    assert Notification.objects.filter(incident=incident, user=owner).count() == paged


def test_escalate_refusals(member_api, ladder, api_service, owner, outsider):
    incident = factories.make_incident(service=api_service)
    for body in ({"step": 0}, {"step": "x"}):
        status, answer = post_json(member_api, action_url(incident, "escalate"), body)
        assert status == 422
        assert_422(answer)
    # A JSON `null` is not an empty body (found by schemathesis: it escalated).
    response = member_api.post(action_url(incident, "escalate"), "null", "application/json")
    assert response.status_code == 422
    assert_422(response.json())
    incident_services.incident_acknowledge(incident=incident, by=owner)
    status, answer = post_json(member_api, action_url(incident, "escalate"), {})
    assert status == 422 and "Only a triggered incident" in answer["detail"][0]["msg"]
    status, _ = post_json(api_client_for(outsider), action_url(incident, "escalate"), {})
    assert status == 404
    assert not Notification.objects.filter(incident=incident, user=owner).exists()
