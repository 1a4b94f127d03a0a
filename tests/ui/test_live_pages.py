"""What pages give live updates to work with: the tab title's open count, the stream's
address, the fragments a live refresh fetches (and what they must not do)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from escalations.catalog.services import service_set_policy
from escalations.models import StepKind
from escalations.policies.services import policy_create, step_add
from escalations.schedules.services import schedule_create
from incidents import services
from opsduty.models import Organization, Team, User
from tests import factories
from tests.conftest import session_client_for

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def _title(client: Client, path: str = "/incidents/") -> str:
    page = client.get(path).content.decode()
    match = re.search(r"<title>(.*?)</title>", page, re.S)
    assert match is not None
    return match.group(1)


def test_the_tab_title_counts_open_incidents_on_my_teams(
    org_a: Organization, team_a: Team, team_b: Team, owner: User, member: User, outsider: User
) -> None:
    factories.add_member(team_a, member)
    ours = factories.make_service(team=team_a)
    other_team = factories.make_service(team=factories.make_team(organization=org_a, name="Ops"))
    factories.make_incident(service=ours, summary="open")
    acknowledged = factories.make_incident(service=ours, summary="acknowledged")
    services.incident_acknowledge(incident=acknowledged, by=owner)
    resolved = factories.make_incident(service=ours, summary="resolved")
    services.incident_resolve(incident=resolved, by=owner)
    factories.make_incident(service=other_team, summary="not my team")
    factories.make_incident(service=factories.make_service(team=team_b), summary="org B")

    assert _title(session_client_for(member)).startswith("(2) Incidents")
    assert _title(session_client_for(owner), "/services/").startswith("(3) Services")
    assert _title(session_client_for(outsider)).startswith("(1) Incidents")
    loner = factories.make_user(organization=org_a, email="new@a.example")
    assert _title(session_client_for(loner)).startswith("Incidents")


def test_signed_in_pages_open_the_stream_and_the_login_page_does_not(
    owner_client: Client,
) -> None:
    page = owner_client.get("/incidents/").content.decode()
    assert 'data-live-url="/live/"' in page and "js/live.js" in page
    login = Client().get("/login/").content.decode()
    assert "data-live-url" not in login and "js/live.js" not in login


def test_a_live_refresh_of_an_incident_leaves_a_waiting_message_alone(
    team_a: Team, owner_client: Client
) -> None:
    incident = factories.make_incident(service=factories.make_service(team=team_a))
    path = f"/incidents/{incident.pk}/"
    owner_client.post(f"{path}acknowledge/")  # the message waits for the next page
    fragment = owner_client.get(path, headers=HTMX).content.decode()
    assert 'id="incident-body"' in fragment and f'data-live="incident:{incident.pk}"' in fragment
    assert "acknowledged." not in fragment and 'id="messages"' not in fragment
    assert f"Incident #{incident.number} acknowledged." in owner_client.get(path).content.decode()


def test_on_call_parts_answer_alone_and_only_to_those_who_may_see_them(
    team_a: Team, owner: User, owner_client: Client, outsider_client: Client
) -> None:
    factories.add_member(team_a, owner)
    schedule = schedule_create(team=team_a, by=None, name="Primary")
    service = factories.make_service(team=team_a)
    policy = policy_create(team=team_a, by=None, name="Default")
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[owner])
    service_set_policy(service=service, policy=policy, by=None)

    part = owner_client.get(f"/schedules/{schedule.pk}/?part=oncall", headers=HTMX)
    content = part.content.decode().strip()
    assert content.startswith('<dd id="oncall-now"') and "Nobody" in content
    assert 'hx-trigger="live"' in content and 'data-live="oncall"' in content
    part = owner_client.get(f"/services/{service.pk}/?part=oncall", headers=HTMX)
    content = part.content.decode().strip()
    assert content.startswith('<dd id="service-oncall"') and owner.get_full_name() in content
    assert "<html" not in content

    for path in (f"/schedules/{schedule.pk}/", f"/services/{service.pk}/"):
        assert outsider_client.get(f"{path}?part=oncall", headers=HTMX).status_code == 404
        page = owner_client.get(path).content.decode()
        assert 'data-live="oncall"' in page
