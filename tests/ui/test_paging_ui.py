"""The incident page's "Page someone" and "Reassign" actions: success (PRG and htmx),
refusals (422 with the message), permissions and tenancy."""

from __future__ import annotations

import html

import pytest
from django.test import Client

from escalations.engine.models import EscalationRun
from escalations.models import EscalationPolicy
from escalations.notifications.models import Notification
from escalations.policies.services import policy_create
from incidents import services
from incidents.models import Incident, IncidentLogEntry
from opsduty.models import Organization, Team, User
from tests import factories
from tests.ui.helpers import HTMX

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(team_a: Team, owner: User, member: User) -> Team:
    factories.add_member(team_a, owner)
    factories.add_member(team_a, member)
    return team_a


@pytest.fixture
def incident(team: Team) -> Incident:
    return factories.make_incident(service=factories.make_service(team=team, name="API"))


@pytest.fixture
def night(team: Team) -> EscalationPolicy:
    return policy_create(team=team, by=None, name="Night shift")


def _url(incident: Incident, action: str = "") -> str:
    return f"/incidents/{incident.pk}/" + (f"{action}/" if action else "")


def test_page_shows_both_forms_with_the_teams_policies(
    incident: Incident, night: EscalationPolicy, member_client: Client, org_a: Organization
) -> None:
    other = policy_create(team=factories.make_team(organization=org_a), by=None, name="Other")
    content = member_client.get(_url(incident)).content.decode()
    assert "Page someone" in content and _url(incident, "page") in content
    assert _url(incident, "reassign") in content and "Night shift" in content
    assert other.name not in content.split('id="id_reassign_policy"')[1].split("</select>")[0]


def test_page_someone_notifies_and_redirects(
    incident: Incident, member: User, owner: User, member_client: Client
) -> None:
    response = member_client.post(_url(incident, "page"), {"users": [owner.pk]})
    assert response.status_code == 302 and response["Location"] == _url(incident)
    assert Notification.objects.filter(incident=incident, user=owner).exists()
    assert IncidentLogEntry.objects.filter(
        incident=incident, actor=member, message__startswith="Paged"
    ).exists()


def test_page_team_with_htmx_returns_the_fragment(
    incident: Incident, team: Team, member_client: Client, owner: User
) -> None:
    response = member_client.post(_url(incident, "page"), {"teams": [team.pk]}, headers=HTMX)
    assert response.status_code == 200 and 'id="incident-body"' in response.content.decode()
    assert Notification.objects.filter(incident=incident, user=owner).exists()


def test_page_refusals_are_422_with_the_message(
    incident: Incident, stakeholder: User, outsider: User, member_client: Client, owner: User
) -> None:
    nobody = member_client.post(_url(incident, "page"), {"users": [stakeholder.pk]})
    assert nobody.status_code == 422 and "Nobody to page" in nobody.content.decode()
    empty = member_client.post(_url(incident, "page"), {})
    assert empty.status_code == 422 and "at least one user or team" in empty.content.decode()
    foreign = member_client.post(_url(incident, "page"), {"users": [outsider.pk]})
    assert foreign.status_code == 422 and "Unknown users" in foreign.content.decode()
    services.incident_resolve(incident=incident, by=owner)
    resolved = member_client.post(_url(incident, "page"), {"users": [owner.pk]})
    assert resolved.status_code == 422
    assert "resolved incident cannot be paged" in resolved.content.decode()
    assert not Notification.objects.filter(incident=incident).exists()


def test_reassign_replaces_the_policy(
    incident: Incident, night: EscalationPolicy, member_client: Client
) -> None:
    response = member_client.post(_url(incident, "reassign"), {"escalation_policy": night.pk})
    assert response.status_code == 302
    run = EscalationRun.objects.get(incident=incident)
    assert run.policy_id == night.pk and run.policy_overridden
    page = html.unescape(member_client.get(_url(incident)).content.decode())
    assert "Reassigned to policy “Night shift”" in page


def test_reassign_refuses_another_teams_or_a_foreign_policy(
    incident: Incident, member_client: Client, org_a: Organization, outsider: User
) -> None:
    other = policy_create(
        team=factories.make_team(organization=org_a, name="DB"), by=None, name="X"
    )
    response = member_client.post(_url(incident, "reassign"), {"escalation_policy": other.pk})
    assert response.status_code == 422 and "belongs to team DB" in response.content.decode()
    team_b = factories.make_team(organization=outsider.organization)
    foreign = policy_create(team=team_b, by=None, name="Bravo")
    response = member_client.post(_url(incident, "reassign"), {"escalation_policy": foreign.pk})
    assert response.status_code == 422 and "Unknown escalation policy" in response.content.decode()
    bad = member_client.post(_url(incident, "reassign"), {"escalation_policy": ""}, headers=HTMX)
    assert bad.status_code == 422 and 'id="incident-body"' in bad.content.decode()
    assert not EscalationRun.objects.filter(incident=incident, policy_overridden=True).exists()


def test_reassign_a_resolved_incident_is_422(
    incident: Incident, night: EscalationPolicy, owner: User, member_client: Client
) -> None:
    services.incident_resolve(incident=incident, by=owner)
    response = member_client.post(_url(incident, "reassign"), {"escalation_policy": night.pk})
    assert response.status_code == 422
    assert "resolved incident cannot be reassigned" in response.content.decode()


def test_stakeholder_and_outsider_cannot_page_or_reassign(
    incident: Incident,
    team: Team,
    night: EscalationPolicy,
    owner: User,
    stakeholder: User,
    stakeholder_client: Client,
    outsider_client: Client,
) -> None:
    factories.add_member(team, stakeholder)
    assert "Page someone" not in stakeholder_client.get(_url(incident)).content.decode()
    for client, status in ((stakeholder_client, 403), (outsider_client, 404)):
        assert client.post(_url(incident, "page"), {"users": [owner.pk]}).status_code == status
        reassign = client.post(_url(incident, "reassign"), {"escalation_policy": night.pk})
        assert reassign.status_code == status
    assert not Notification.objects.filter(incident=incident).exists()
