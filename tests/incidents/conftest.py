"""Fixtures for the incident core: a service of org A whose team has the owner and member."""

from __future__ import annotations

import pytest

from escalations.catalog import services as escalation_services
from incidents.ingest import services as ingest
from incidents.models import Incident
from opsduty.events import EventData
from opsduty.models import Organization, Service, User
from tests import factories


@pytest.fixture
def service(org_a: Organization, owner: User, member: User) -> Service:
    team = factories.make_team(organization=org_a, name="Platform")
    factories.add_member(team, owner)
    factories.add_member(team, member)
    return escalation_services.service_create(team=team, by=None, name="API")


@pytest.fixture
def incident(service: Service) -> Incident:
    return ingest.ingest_event(
        service=service, event=EventData(summary="Disk full", dedup_id="disk")
    )
