"""GET /api/v1/services/ (#19): visible services, oldest first, all eight ServiceSchema keys."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from opsduty.models import Organization, Service, User
from tests import factories
from tests.api.conftest import get_json
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/services/"
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
RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


@pytest.fixture
def services(org_a: Organization, owner: User, member: User, org_b: Organization) -> list[Service]:
    """Org A: "API" (team with the member), "Billing" (business, another team); org B: one."""
    platform = factories.make_team(organization=org_a, name="Platform")
    factories.add_member(platform, member)
    finance = factories.make_team(organization=org_a, name="Finance")
    api = factories.make_service(team=platform, name="API", description="Public API")
    billing = factories.make_service(team=finance, name="Billing", service_type="business")
    factories.make_service(organization=org_b, name="Foreign")
    return [api, billing]


def test_owner_lists_every_service_of_the_org_oldest_first_with_all_keys(owner_api, services):
    status, body = get_json(owner_api, URL)
    assert status == 200
    assert [s["name"] for s in body["items"]] == ["API", "Billing"]
    api, billing = body["items"]
    assert all(set(item) == SERVICE_KEYS for item in body["items"])
    assert api == {
        "id": services[0].pk,
        "name": "API",
        "description": "Public API",
        "service_type": "technical",
        "routing_key": services[0].routing_key,
        "maintenance_mode": None,
        "maintenance_window_start": None,
        "maintenance_window_end": None,
    }
    assert billing["service_type"] == "business"
    assert billing["description"] == ""
    assert isinstance(billing["routing_key"], str) and billing["routing_key"]
    assert body["page_info"]["has_next_page"] is False


def test_member_sees_only_the_services_of_their_teams(member, services):
    status, body = get_json(api_client_for(member), URL)
    assert status == 200
    assert [s["name"] for s in body["items"]] == ["API"]
    assert body["items"][0]["routing_key"] == services[0].routing_key


def test_stakeholder_sees_team_services_without_the_routing_key(stakeholder, services):
    team = services[0].team
    factories.add_member(team, stakeholder)
    status, body = get_json(api_client_for(stakeholder), URL)
    assert status == 200
    assert [s["name"] for s in body["items"]] == ["API"]
    assert body["items"][0]["routing_key"] == ""


def test_outsider_sees_only_their_own_organization(outsider_api, services):
    status, body = get_json(outsider_api, URL)
    assert status == 200
    assert [s["name"] for s in body["items"]] == ["Foreign"]


def test_services_page_with_first_after_and_legacy_page_size(owner_api, services):
    _, first = get_json(owner_api, URL, first=1)
    assert [s["name"] for s in first["items"]] == ["API"]
    assert first["page_info"]["has_next_page"] is True
    cursor = first["page_info"]["end_cursor"]
    _, second = get_json(owner_api, URL, first=1, after=cursor)
    assert [s["name"] for s in second["items"]] == ["Billing"]
    assert second["page_info"]["has_next_page"] is False
    _, legacy = get_json(owner_api, URL, page_size=1, after=cursor)
    assert legacy["items"] == second["items"]


def test_maintenance_keys_show_an_active_window_in_rfc3339_and_null_once_it_ended(
    owner_api, services
):
    now = timezone.now().replace(microsecond=0)
    api, billing = services
    Service.objects.filter(pk=api.pk).update(
        maintenance_mode="debug",
        maintenance_window_start=now,
        maintenance_window_end=now + timedelta(minutes=30),
    )
    Service.objects.filter(pk=billing.pk).update(
        maintenance_mode="maintenance",
        maintenance_window_start=now - timedelta(hours=2),
        maintenance_window_end=now - timedelta(hours=1),
    )
    _, body = get_json(owner_api, URL)
    active, expired = body["items"]
    assert active["maintenance_mode"] == "debug"
    assert RFC3339_Z.match(active["maintenance_window_start"])
    assert active["maintenance_window_end"] == (now + timedelta(minutes=30)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert expired["maintenance_mode"] is None
    assert expired["maintenance_window_start"] is None
    assert expired["maintenance_window_end"] is None


def test_services_need_a_token(services, client):
    status, body = get_json(client, URL)
    assert status == 401
    assert isinstance(body["detail"], str)
