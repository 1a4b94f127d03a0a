"""Maintenance on the service pages: start (mode + duration), current mode and end, stop,
the badge on the list, refused input (422, nothing changes), who may, tenancy; and the
incident page refusing to acknowledge a maintenance incident's child."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client

from incidents.models import Incident, Status
from opsduty.models import MaintenanceMode, Service, Team, User
from tests import factories

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def api(team_a: Team, member: User, stakeholder: User) -> Service:
    factories.add_member(team_a, member)
    factories.add_member(team_a, stakeholder)
    return factories.make_service(team=team_a, name="API")


def _start(client: Client, service: Service, **data: str | int) -> Any:
    with time_machine.travel(START, tick=False):
        return client.post(f"/services/{service.pk}/maintenance/", data)


def test_member_starts_maintenance_and_sees_mode_and_end(
    api: Service, member_client: Client
) -> None:
    page = member_client.get(f"/services/{api.pk}/").content.decode()
    assert "Not in maintenance." in page and "Start maintenance" in page
    response = _start(member_client, api, mode="maintenance", duration_minutes=45)
    assert response.status_code == 302
    api.refresh_from_db()
    assert api.maintenance_mode == MaintenanceMode.MAINTENANCE
    assert api.maintenance_window_end == START + timedelta(minutes=45)
    with time_machine.travel(START + timedelta(minutes=1), tick=False):
        page = member_client.get(f"/services/{api.pk}/").content.decode()
        listing = member_client.get("/services/").content.decode()
    maintenance = Incident.objects.get(is_maintenance=True)
    assert "until <strong>2026-03-01 12:45 UTC</strong>" in page
    assert f'href="/incidents/{maintenance.pk}/"' in page
    assert "Stop maintenance" in page and "Start maintenance" not in page
    assert '<span class="badge status-silenced" title="Until 2026-03-01 12:45 UTC">Maintenance' in (
        listing
    )


def test_badge_disappears_once_the_window_has_passed(api: Service, member_client: Client) -> None:
    _start(member_client, api, mode="debug", duration_minutes=5)
    with time_machine.travel(START + timedelta(minutes=5), tick=False):
        listing = member_client.get("/services/").content.decode()
        page = member_client.get(f"/services/{api.pk}/").content.decode()
    assert "status-silenced" not in listing
    assert "Not in maintenance." in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"mode": "maintenance", "duration_minutes": 0}, "whole number of minutes from 1 to 1440"),
        ({"mode": "maintenance", "duration_minutes": 2000}, "from 1 to 1440"),
        ({"mode": "maintenance", "duration_minutes": "soon"}, "from 1 to 1440"),
        ({"mode": "paused", "duration_minutes": 10}, "Mode must be"),
    ],
)
def test_refused_input_answers_422_and_changes_nothing(
    api: Service, member_client: Client, data: dict[str, str | int], message: str
) -> None:
    response = _start(member_client, api, **data)
    assert response.status_code == 422
    assert message in response.content.decode()
    api.refresh_from_db()
    assert api.maintenance_mode is None
    assert not Incident.objects.exists()


def test_starting_twice_is_refused_with_a_message(api: Service, member_client: Client) -> None:
    _start(member_client, api, mode="debug", duration_minutes=30)
    response = _start(member_client, api, mode="maintenance", duration_minutes=10)
    assert response.status_code == 422
    assert "already in maintenance until 2026-03-01 12:30 UTC" in response.content.decode()
    api.refresh_from_db()
    assert api.maintenance_mode == MaintenanceMode.DEBUG


def test_member_stops_maintenance(api: Service, member_client: Client) -> None:
    child = factories.make_incident(service=api)
    _start(member_client, api, mode="maintenance", duration_minutes=30)
    response = member_client.post(f"/services/{api.pk}/maintenance/stop/")
    assert response.status_code == 302
    api.refresh_from_db()
    assert api.maintenance_mode is None
    assert Incident.objects.get(is_maintenance=True).status == Status.RESOLVED
    child.refresh_from_db()
    assert child.parent_id is None


def test_stakeholder_sees_the_state_but_gets_no_controls(
    api: Service, member_client: Client, stakeholder_client: Client
) -> None:
    _start(member_client, api, mode="debug", duration_minutes=30)
    with time_machine.travel(START + timedelta(minutes=1), tick=False):
        page = stakeholder_client.get(f"/services/{api.pk}/").content.decode()
    assert "In <strong>debug</strong> maintenance" in page
    assert "Stop maintenance" not in page and "Start maintenance" not in page
    assert stakeholder_client.post(f"/services/{api.pk}/maintenance/stop/").status_code == 403
    assert _start(stakeholder_client, api, mode="debug", duration_minutes=5).status_code == 403
    api.refresh_from_db()
    assert api.maintenance_mode == MaintenanceMode.DEBUG


def test_outsider_gets_404(api: Service, outsider_client: Client) -> None:
    assert _start(outsider_client, api, mode="debug", duration_minutes=5).status_code == 404
    assert outsider_client.post(f"/services/{api.pk}/maintenance/stop/").status_code == 404
    api.refresh_from_db()
    assert api.maintenance_mode is None


def test_incident_page_refuses_to_acknowledge_a_child_of_maintenance(
    api: Service, member_client: Client
) -> None:
    child = factories.make_incident(service=api)
    _start(member_client, api, mode="maintenance", duration_minutes=30)
    response = member_client.post(f"/incidents/{child.pk}/acknowledge/")
    assert response.status_code == 422
    assert "attached to maintenance incident" in response.content.decode()
    child.refresh_from_db()
    assert child.status == Status.TRIGGERED
