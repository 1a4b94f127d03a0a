"""The incident page's "Page someone", "Reassign" and "Escalate" actions and its top (who is
paged, the next step): success (PRG and htmx), refusals (422 with the message), permissions
and tenancy."""

from __future__ import annotations

import html
import re

import pytest
from django.test import Client

from escalations.catalog.services import service_set_policy
from escalations.engine.models import EscalationRun
from escalations.models import EscalationPolicy
from escalations.notifications.models import Notification
from escalations.policies.models import StepKind
from escalations.policies.services import policy_create, step_add
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


# --- the top of the page: who is paged, where escalation stands, Escalate ----------------------


@pytest.fixture
def ladder(team: Team, member: User, owner: User) -> EscalationPolicy:
    policy = policy_create(team=team, by=None, name="Ladder")
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[member])
    step_add(policy=policy, by=None, kind=StepKind.WAIT, wait_minutes=30)
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[owner])
    return policy


@pytest.fixture
def laddered(team: Team, ladder: EscalationPolicy) -> Incident:
    service = factories.make_service(team=team, name="Checkout")
    service_set_policy(service=service, policy=ladder, by=None)
    return factories.make_incident(service=service, summary="Checkout down")


def _top(content: str) -> str:
    """The part of the page before the description and details: what fits above the fold."""
    return content.split('id="facts-heading"')[0]


def test_top_shows_who_is_paged_and_the_next_step(
    laddered: Incident, member: User, member_client: Client
) -> None:
    top = _top(member_client.get(_url(laddered)).content.decode())
    assert f'{member.get_full_name()} <small class="muted">(' in top
    assert "step 3 of 3 next" in top and "Ladder" in top
    assert re.search(r">in 2\d\W+minutes</time>", top)  # the 30-minute wait
    for action in ("Acknowledge", "Resolve", "Escalate", "Silence", "Reassign"):
        assert f">{action}</button>" in top, action


def test_escalate_pages_the_next_person_and_a_second_click_is_refused(
    laddered: Incident, owner: User, member_client: Client
) -> None:
    assert not Notification.objects.filter(incident=laddered, user=owner).exists()
    response = member_client.post(_url(laddered, "escalate"), {"step": "3"}, headers=HTMX)
    assert response.status_code == 200
    content = response.content.decode()
    assert f"Incident #{laddered.number} escalated: step 3 runs now." in content
    assert f'{owner.get_full_name()} <small class="muted">(' in _top(content)
    assert ">Escalate</button>" not in _top(content)  # nothing left to escalate to
    paged = Notification.objects.filter(incident=laddered, user=owner).count()
    assert paged >= 1  # one row per notification rule of the owner
    again = member_client.post(_url(laddered, "escalate"), {"step": "3"}, headers=HTMX)
    assert again.status_code == 422
    assert "Nothing to escalate to" in html.unescape(again.content.decode())
    assert Notification.objects.filter(incident=laddered, user=owner).count() == paged


def test_read_only_viewers_see_who_is_paged_but_no_actions(
    laddered: Incident, team: Team, stakeholder: User, stakeholder_client: Client, member: User
) -> None:
    factories.add_member(team, stakeholder)
    top = _top(stakeholder_client.get(_url(laddered)).content.decode())
    assert member.get_full_name() in top and "step 3 of 3 next" in top
    assert "Read-only" in top and ">Escalate</button>" not in top
    assert stakeholder_client.post(_url(laddered, "escalate"), {}).status_code == 403


def test_long_title_and_description_stay_in_their_boxes(team: Team, member_client: Client) -> None:
    service = factories.make_service(team=team, name="Batch")
    summary = "Job failed: " + "x" * 4000
    trace = 'Traceback (most recent call last):\n  File "job.py", line 1\n' + "y" * 3000
    incident = factories.make_incident(service=service, summary=summary, description=trace)
    content = member_client.get(_url(incident)).content.decode()
    incident.refresh_from_db()
    assert len(incident.summary) > 1000  # stored as long as the model allows
    assert f'<h1 class="incident-title" title="{incident.summary}">' in content
    assert "<summary>Full title</summary>" in content
    assert '<pre class="description"' in content and "line 1\n" in content
