"""Service pages: list, detail (routing key, open incidents, new incident), create, edit,
regenerate key, delete; who may manage, who only reads, and tenancy."""

from __future__ import annotations

import pytest
from django.test import Client

from incidents.models import Incident, Status
from opsduty.models import Organization, Role, Service, ServiceType, Team, User
from tests import factories
from tests.conftest import session_client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(team_a: Team, member: User) -> Team:
    factories.add_member(team_a, member)
    return team_a


@pytest.fixture
def api(team: Team) -> Service:
    return factories.make_service(team=team, name="API", description="The public API")


@pytest.fixture
def other_team(org_a: Organization) -> Team:
    return factories.make_team(organization=org_a, name="Web")


@pytest.fixture
def foreign_service(team_b: Team) -> Service:
    return factories.make_service(team=team_b, name="Bravo service")


def _form(team: Team, **overrides: str) -> dict[str, str | int]:
    data: dict[str, str | int] = {
        "name": "Checkout",
        "service_type": ServiceType.BUSINESS,
        "team": team.pk,
        "slack_channel": "#checkout",
        "description": "Payments",
    }
    return {**data, **overrides}


# --- list and detail --------------------------------------------------------------------------


def test_list_shows_visible_services_with_open_incident_counts(
    api: Service, other_team: Team, owner: User, member_client: Client, owner_client: Client
) -> None:
    factories.make_service(team=other_team, name="Web app")
    factories.make_incident(service=api)
    resolved = factories.make_incident(service=api)
    Incident.objects.filter(pk=resolved.pk).update(status=Status.RESOLVED)
    content = member_client.get("/services/").content.decode()
    assert "API" in content and "Technical" in content and "Platform" in content
    assert '<span class="badge status-triggered">1</span>' in content
    assert "Web app" not in content  # not the member's team
    assert "Web app" in owner_client.get("/services/").content.decode()


def test_outsider_sees_no_service_of_another_organization(
    api: Service, foreign_service: Service, outsider_client: Client, owner_client: Client
) -> None:
    content = outsider_client.get("/services/").content.decode()
    assert "Bravo service" in content and ">API<" not in content
    assert outsider_client.get(f"/services/{api.pk}/").status_code == 404
    assert owner_client.get(f"/services/{foreign_service.pk}/").status_code == 404
    for suffix in ("edit/", "delete/", "routing-key/", "incidents/new/"):
        assert outsider_client.post(f"/services/{api.pk}/{suffix}").status_code == 404
        assert owner_client.post(f"/services/{foreign_service.pk}/{suffix}").status_code == 404
    assert Service.objects.filter(pk=api.pk).exists()


def test_detail_shows_fields_open_incidents_and_routing_key_to_managers(
    api: Service, member_client: Client
) -> None:
    incident = factories.make_incident(service=api, summary="Latency high")
    content = member_client.get(f"/services/{api.pk}/").content.decode()
    assert "The public API" in content and "Platform" in content
    assert f'href="/incidents/{incident.pk}/"' in content and "Latency high" in content
    assert f'value="{api.routing_key}" readonly' in content
    assert "data-copy-target" in content and "Regenerate routing key" in content


def test_member_outside_the_team_gets_404(api: Service, org_a: Organization) -> None:
    lone = factories.make_user(organization=org_a, email="lone@a.example", role=Role.MEMBER)
    client = session_client_for(lone)
    assert client.get(f"/services/{api.pk}/").status_code == 404
    assert "API" not in client.get("/services/").content.decode()


def test_stakeholder_of_the_team_reads_without_key_or_controls(
    api: Service, team: Team, stakeholder: User, stakeholder_client: Client
) -> None:
    factories.add_member(team, stakeholder)
    content = stakeholder_client.get(f"/services/{api.pk}/").content.decode()
    assert "Read-only" in content and api.routing_key not in content
    assert f"/services/{api.pk}/edit/" not in content
    assert stakeholder_client.get(f"/services/{api.pk}/edit/").status_code == 403
    assert stakeholder_client.post(f"/services/{api.pk}/delete/").status_code == 403
    assert stakeholder_client.get("/services/new/").status_code == 403


# --- create and edit --------------------------------------------------------------------------


def test_member_creates_a_service_in_their_team(
    team: Team, other_team: Team, member_client: Client
) -> None:
    page = member_client.get("/services/new/").content.decode()
    assert f'value="{team.pk}"' in page and f'value="{other_team.pk}"' not in page
    response = member_client.post("/services/new/", _form(team))
    service = Service.objects.get(name="Checkout")
    assert response.status_code == 302 and response["Location"] == f"/services/{service.pk}/"
    assert (service.team, service.service_type, service.slack_channel) == (
        team,
        ServiceType.BUSINESS,
        "#checkout",
    )


def test_member_cannot_create_a_service_for_another_team(
    team: Team, other_team: Team, member_client: Client
) -> None:
    response = member_client.post("/services/new/", _form(other_team))
    assert response.status_code == 422
    assert not Service.objects.filter(name="Checkout").exists()


def test_duplicate_service_name_is_a_form_error(
    api: Service, team: Team, member_client: Client
) -> None:
    response = member_client.post("/services/new/", _form(team, name="API"))
    assert response.status_code == 422
    assert "A service with this name already exists." in response.content.decode()
    assert Service.objects.filter(name="API").count() == 1


def test_member_edits_the_service(api: Service, team: Team, member_client: Client) -> None:
    assert member_client.get(f"/services/{api.pk}/edit/").status_code == 200
    response = member_client.post(f"/services/{api.pk}/edit/", _form(team, name="Public API"))
    assert response.status_code == 302
    api.refresh_from_db()
    assert (api.name, api.service_type) == ("Public API", ServiceType.BUSINESS)


def test_member_cannot_move_a_service_to_a_team_they_are_not_in(
    api: Service, other_team: Team, member_client: Client
) -> None:
    response = member_client.post(f"/services/{api.pk}/edit/", _form(other_team))
    assert response.status_code == 422
    api.refresh_from_db()
    assert api.team_id != other_team.pk and api.name == "API"


# --- routing key, new incident, delete --------------------------------------------------------


def test_regenerate_key_needs_confirmation_and_changes_it(
    api: Service, member_client: Client
) -> None:
    old_key = api.routing_key
    refused = member_client.post(f"/services/{api.pk}/routing-key/")
    assert refused.status_code == 422
    api.refresh_from_db()
    assert api.routing_key == old_key
    response = member_client.post(f"/services/{api.pk}/routing-key/", {"confirm": "on"})
    assert response.status_code == 302
    api.refresh_from_db()
    assert api.routing_key != old_key and len(api.routing_key) >= 32


def test_new_incident_form_triggers_an_incident(
    api: Service, member: User, member_client: Client
) -> None:
    response = member_client.post(
        f"/services/{api.pk}/incidents/new/", {"summary": "Checkout down", "urgency": "low"}
    )
    incident = Incident.objects.get(service=api)
    assert response.status_code == 302 and response["Location"] == f"/incidents/{incident.pk}/"
    assert (incident.summary, incident.urgency, incident.status) == (
        "Checkout down",
        "low",
        Status.TRIGGERED,
    )
    empty = member_client.post(f"/services/{api.pk}/incidents/new/", {"summary": " "})
    assert empty.status_code == 422
    assert Incident.objects.filter(service=api).count() == 1


def test_delete_a_service_without_incidents(api: Service, member_client: Client) -> None:
    assert member_client.get(f"/services/{api.pk}/delete/").status_code == 200
    response = member_client.post(f"/services/{api.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == "/services/"
    assert not Service.objects.filter(pk=api.pk).exists()


def test_delete_is_refused_while_the_service_has_incidents(
    api: Service, member_client: Client
) -> None:
    factories.make_incident(service=api)
    response = member_client.post(f"/services/{api.pk}/delete/", follow=True)
    assert response.redirect_chain[0][0] == f"/services/{api.pk}/"
    assert "it cannot be deleted while they exist" in response.content.decode()
    assert Service.objects.filter(pk=api.pk).exists()
