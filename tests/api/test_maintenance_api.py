"""#27 POST and #28 DELETE /api/v1/services/{service_id}/maintenance/ (spec §C)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client

from escalations.catalog.services import DURATION_MESSAGE, MODE_MESSAGE
from incidents.models import Incident, Status
from opsduty.models import Organization, Service, User
from tests import factories
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SERVICE_KEYS = {
    "id",
    "name",
    "description",
    "service_type",
    "routing_key",
    "maintenance_mode",
    "maintenance_window_start",
    "maintenance_window_end",
}


def _url(service_id: int) -> str:
    return f"/api/v1/services/{service_id}/maintenance/"


def _post(client: Client, service_id: int, body: str = "") -> tuple[int, Any]:
    with time_machine.travel(START, tick=False):
        response = client.post(_url(service_id), body, content_type="application/json")
    return response.status_code, json.loads(response.content)


def _delete(client: Client, service_id: int, at: datetime = START) -> tuple[int, Any]:
    with time_machine.travel(at, tick=False):
        response = client.delete(_url(service_id))
    return response.status_code, json.loads(response.content)


@pytest.fixture
def service(org_a: Organization, member: User, stakeholder: User) -> Service:
    team = factories.make_team(organization=org_a, name="Platform")
    factories.add_member(team, member)
    factories.add_member(team, stakeholder)
    return factories.make_service(team=team, name="API")


@pytest.fixture
def member_api(member: User) -> Client:
    return api_client_for(member)


def test_empty_json_body_starts_the_default_maintenance(
    service: Service, member_api: Client
) -> None:
    status, body = _post(member_api, service.pk, "")
    assert status == 200
    assert set(body) == SERVICE_KEYS
    assert body["id"] == service.pk
    assert body["routing_key"] == service.routing_key
    assert body["maintenance_mode"] == "maintenance"
    assert body["maintenance_window_start"] == "2026-03-01T12:00:00Z"
    assert body["maintenance_window_end"] == "2026-03-01T13:00:00Z"
    assert Incident.objects.filter(service=service, is_maintenance=True).count() == 1


@pytest.mark.parametrize(
    ("payload", "mode", "end"),
    [
        ("{}", "maintenance", "2026-03-01T13:00:00Z"),
        ('{"mode": "debug"}', "debug", "2026-03-01T13:00:00Z"),
        ('{"duration_minutes": 15}', "maintenance", "2026-03-01T12:15:00Z"),
        ('{"mode": "debug", "duration_minutes": 1440}', "debug", "2026-03-02T12:00:00Z"),
    ],
)
def test_missing_keys_get_the_defaults(
    service: Service, member_api: Client, payload: str, mode: str, end: str
) -> None:
    status, body = _post(member_api, service.pk, payload)
    assert status == 200
    assert (body["maintenance_mode"], body["maintenance_window_end"]) == (mode, end)


@pytest.mark.parametrize(
    ("payload", "loc", "msg"),
    [
        ('{"duration_minutes": 0}', ["body", "duration_minutes"], DURATION_MESSAGE),
        ('{"duration_minutes": 1441}', ["body", "duration_minutes"], DURATION_MESSAGE),
        ('{"duration_minutes": "soon"}', ["body", "duration_minutes"], DURATION_MESSAGE),
        ('{"duration_minutes": 1.5}', ["body", "duration_minutes"], DURATION_MESSAGE),
        ('{"duration_minutes": null}', ["body", "duration_minutes"], DURATION_MESSAGE),
        ('{"mode": "paused"}', ["body", "mode"], MODE_MESSAGE),
        ('{"mode": null}', ["body", "mode"], MODE_MESSAGE),
    ],
)
def test_bad_input_answers_422_and_changes_nothing(
    service: Service, member_api: Client, payload: str, loc: list[str], msg: str
) -> None:
    status, body = _post(member_api, service.pk, payload)
    assert status == 422
    assert body == {"detail": [{"loc": loc, "msg": msg, "type": "value_error"}]}
    service.refresh_from_db()
    assert service.maintenance_mode is None


def test_malformed_json_and_non_object_bodies_answer_422(
    service: Service, member_api: Client
) -> None:
    for payload in ("{oops", "[]", '"debug"'):
        status, body = _post(member_api, service.pk, payload)
        assert status == 422, payload
        assert body["detail"][0]["loc"][0] == "body"
    service.refresh_from_db()
    assert service.maintenance_mode is None


def test_starting_again_while_in_maintenance_answers_422(
    service: Service, member_api: Client
) -> None:
    assert _post(member_api, service.pk, '{"duration_minutes": 30}')[0] == 200
    status, body = _post(member_api, service.pk, '{"mode": "debug"}')
    assert status == 422
    [error] = body["detail"]
    assert error["loc"] == ["body"]
    assert "already in maintenance until 2026-03-01 12:30 UTC" in error["msg"]
    assert error["type"] == "value_error"


def test_expired_maintenance_reads_null_and_can_start_again(
    service: Service, member_api: Client
) -> None:
    _post(member_api, service.pk, '{"duration_minutes": 5}')
    with time_machine.travel(START + timedelta(minutes=5), tick=False):
        listed = json.loads(member_api.get("/api/v1/services/").content)["items"][0]
        response = member_api.post(_url(service.pk), "", content_type="application/json")
    assert listed["maintenance_mode"] is None
    assert listed["maintenance_window_end"] is None
    assert response.status_code == 200
    assert json.loads(response.content)["maintenance_window_start"] == "2026-03-01T12:05:00Z"


def test_delete_ends_maintenance_with_a_200_service_body(
    service: Service, member_api: Client
) -> None:
    child = factories.make_incident(service=service)
    _post(member_api, service.pk, "")
    status, body = _delete(member_api, service.pk, START + timedelta(minutes=3))
    assert status == 200
    assert set(body) == SERVICE_KEYS
    assert body["id"] == service.pk
    assert body["maintenance_mode"] is None
    assert body["maintenance_window_start"] is None
    assert body["maintenance_window_end"] is None
    child.refresh_from_db()
    assert child.parent_id is None
    assert Incident.objects.get(is_maintenance=True).status == Status.RESOLVED


def test_delete_outside_maintenance_is_a_200_no_op(service: Service, member_api: Client) -> None:
    status, body = _delete(member_api, service.pk)
    assert status == 200
    assert body["name"] == "API"
    assert body["maintenance_mode"] is None


def test_acknowledging_maintenance_incidents_answers_422(
    service: Service, member_api: Client
) -> None:
    child = factories.make_incident(service=service)
    _post(member_api, service.pk, "")
    maintenance = Incident.objects.get(is_maintenance=True)
    for incident in (maintenance, child):
        response = member_api.post(f"/api/v1/incidents/{incident.pk}/acknowledge/")
        assert response.status_code == 422
        assert isinstance(json.loads(response.content)["detail"], list)
        incident.refresh_from_db()
        assert incident.status == Status.TRIGGERED
    # The maintenance incident and its child show up in the incident routes.
    detail = json.loads(member_api.get(f"/api/v1/incidents/{maintenance.pk}/").content)
    assert detail["summary"].startswith("Maintenance of API until")


def test_unknown_and_foreign_services_answer_404(
    service: Service, outsider: User, outsider_api: Client, member_api: Client
) -> None:
    foreign = factories.make_service(organization=outsider.organization, name="Bravo")
    assert _post(member_api, foreign.pk)[0] == 404
    assert _delete(member_api, foreign.pk)[0] == 404
    assert _post(member_api, 999_999) == (404, {"detail": "Not found."})
    assert _post(outsider_api, service.pk) == (404, {"detail": "Not found."})
    assert _delete(outsider_api, service.pk) == (404, {"detail": "Not found."})
    service.refresh_from_db()
    foreign.refresh_from_db()
    assert service.maintenance_mode is None and foreign.maintenance_mode is None


def test_a_member_of_another_team_gets_404(service: Service, org_a: Organization) -> None:
    other = factories.make_user(organization=org_a, email="web@a.example")
    factories.add_member(factories.make_team(organization=org_a, name="Web"), other)
    assert _post(api_client_for(other), service.pk)[0] == 404


def test_a_stakeholder_gets_403(service: Service, stakeholder: User) -> None:
    client = api_client_for(stakeholder)
    status, body = _post(client, service.pk)
    assert status == 403
    assert isinstance(body["detail"], str)
    assert _delete(client, service.pk)[0] == 403
    service.refresh_from_db()
    assert service.maintenance_mode is None


def test_unauthenticated_gets_401(service: Service) -> None:
    response = Client().post(_url(service.pk), "", content_type="application/json")
    assert response.status_code == 401


def test_other_methods_answer_405(service: Service, member_api: Client) -> None:
    assert member_api.get(_url(service.pk)).status_code == 405
    assert member_api.put(_url(service.pk)).status_code == 405
