"""The real opsduty-client 0.1.0 against a live server: #27 start and #28 stop maintenance."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from opsduty_client import AuthenticatedClient
from opsduty_client.api.incidents import (
    opsduty_api_v1_incidents_acknowledge_incident_endpoint as acknowledge_incident,
)
from opsduty_client.api.services import (
    opsduty_api_v1_services_start_service_maintenance as start_service_maintenance,
)
from opsduty_client.api.services import (
    opsduty_api_v1_services_stop_service_maintenance as stop_service_maintenance,
)
from opsduty_client.models.maintenance_mode import MaintenanceMode
from opsduty_client.models.service_schema import ServiceSchema
from opsduty_client.models.start_maintenance_input_schema import StartMaintenanceInputSchema

from incidents.models import Incident
from opsduty import services
from opsduty.models import Role, Service
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def service(transactional_db: None) -> Service:
    organization = factories.make_organization(domain="live", name="Live")
    team = factories.make_team(organization=organization, name="Platform")
    return factories.make_service(team=team, name="API")


@pytest.fixture
def live_client(live_server: Any, service: Service) -> Any:
    owner = factories.make_user(organization=service.organization, role=Role.OWNER)
    token = services.api_token_create(user=owner)
    with AuthenticatedClient(
        base_url=live_server.url, token=token, raise_on_unexpected_status=True
    ) as authenticated:
        yield authenticated


def test_client_starts_and_stops_maintenance(live_client: Any, service: Service) -> None:
    child = factories.make_incident(service=service)
    body = StartMaintenanceInputSchema(mode=MaintenanceMode.DEBUG, duration_minutes=15)
    started = start_service_maintenance.sync(service.pk, client=live_client, body=body)
    assert isinstance(started, ServiceSchema)
    assert started.maintenance_mode == MaintenanceMode.DEBUG
    assert isinstance(started.maintenance_window_start, datetime.datetime)
    assert isinstance(started.maintenance_window_end, datetime.datetime)
    assert started.maintenance_window_end - started.maintenance_window_start == (
        datetime.timedelta(minutes=15)
    )
    assert started.routing_key == service.routing_key

    refused = start_service_maintenance.sync(service.pk, client=live_client, body=None)
    assert refused.__class__.__name__.endswith("Response422")

    stopped = stop_service_maintenance.sync(service.pk, client=live_client)
    assert isinstance(stopped, ServiceSchema)
    assert stopped.maintenance_mode is None
    assert stopped.maintenance_window_start is None
    assert stopped.maintenance_window_end is None
    again = stop_service_maintenance.sync(service.pk, client=live_client)
    assert isinstance(again, ServiceSchema)
    child.refresh_from_db()
    assert child.parent_id is None  # debug mode attaches nothing
    assert not Incident.objects.filter(is_maintenance=True).exists()


def test_client_default_body_opens_a_maintenance_incident(
    live_client: Any, service: Service
) -> None:
    child = factories.make_incident(service=service)
    started = start_service_maintenance.sync(
        service.pk, client=live_client, body=StartMaintenanceInputSchema()
    )
    assert isinstance(started, ServiceSchema)
    assert started.maintenance_mode == MaintenanceMode.MAINTENANCE
    assert isinstance(started.maintenance_window_end, datetime.datetime)
    assert isinstance(started.maintenance_window_start, datetime.datetime)
    assert started.maintenance_window_end - started.maintenance_window_start == (
        datetime.timedelta(minutes=60)
    )
    maintenance = Incident.objects.get(service=service, is_maintenance=True)
    child.refresh_from_db()
    assert child.parent_id == maintenance.pk
    refused = acknowledge_incident.sync(child.pk, client=live_client)
    assert refused.__class__.__name__.endswith("Response422")


def test_client_empty_body_and_unknown_service(live_client: Any, service: Service) -> None:
    # body=None sends Content-Type: application/json with no body (spec §C.2).
    started = start_service_maintenance.sync(service.pk, client=live_client, body=None)
    assert isinstance(started, ServiceSchema)
    assert started.maintenance_mode == MaintenanceMode.MAINTENANCE
    missing = start_service_maintenance.sync(999_999, client=live_client, body=None)
    assert missing.__class__.__name__.endswith("Response404")
    missing_stop = stop_service_maintenance.sync(999_999, client=live_client)
    assert missing_stop.__class__.__name__.endswith("Response404")
