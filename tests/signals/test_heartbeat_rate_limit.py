"""Check-ins are limited per heartbeat (OPSDUTY_RATE_HEARTBEAT_CHECKIN, opsduty/ratelimit.py):
past the limit 429 with Retry-After and nothing recorded, on the Django view and on the
event-loop fast path alike, while another organization's heartbeat is still served."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from opsduty.models import Organization, Service
from signals.models import Heartbeat, HeartbeatCheckIn
from tests import factories
from tests.heartbeat_factories import make_heartbeat, make_state
from tests.signals.test_heartbeat_checkin_asgi import _get as asgi_get


@pytest.fixture
def limit(settings: Any) -> int:
    settings.OPSDUTY_RATE_LIMITS = {**settings.OPSDUTY_RATE_LIMITS, "heartbeat_checkin": "3/minute"}
    return 3


@pytest.fixture
def heartbeat(service: Service) -> Heartbeat:
    heartbeat = make_heartbeat(service=service)
    make_state(heartbeat=heartbeat, environment="prod")
    return heartbeat


@pytest.fixture
def other_heartbeat(org_b: Organization) -> Heartbeat:
    service = factories.make_service(organization=org_b, name="Billing")
    heartbeat = make_heartbeat(service=service, name="invoices")
    make_state(heartbeat=heartbeat, environment="prod")
    return heartbeat


def _view_get(path: str) -> tuple[int, Any, Any]:
    response = Client().get(path)
    return response.status_code, json.loads(response.content), response


@pytest.mark.django_db
def test_the_view_answers_429_with_retry_after_past_the_limit(
    limit: int, heartbeat: Heartbeat, other_heartbeat: Heartbeat
) -> None:
    path = f"/heartbeats/checkin/{heartbeat.public_primary_key}/prod/"
    for _ in range(limit):
        assert _view_get(path)[0] == 200
    status, body, response = _view_get(path)
    assert status == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert body == {"detail": f"Too many requests; retry in {response['Retry-After']} seconds."}
    # The refused check-in was not recorded; the other organization's heartbeat is served.
    assert HeartbeatCheckIn.objects.filter(state__heartbeat=heartbeat).count() == limit
    other = f"/heartbeats/checkin/{other_heartbeat.public_primary_key}/prod/"
    assert _view_get(other)[:2] == (200, {"detail": "Check-in received.", "environment": "prod"})


@pytest.mark.django_db(transaction=True)
def test_the_fast_path_answers_429_with_retry_after_past_the_limit(
    limit: int, heartbeat: Heartbeat, other_heartbeat: Heartbeat
) -> None:
    path = f"/heartbeats/checkin/{heartbeat.public_primary_key}/prod/"
    for _ in range(limit):
        assert asgi_get(path)[::2] == (200, True)
    status, body, fast = asgi_get(path)
    assert (status, fast) == (429, True)
    assert body["detail"].startswith("Too many requests; retry in ")
    assert HeartbeatCheckIn.objects.filter(state__heartbeat=heartbeat).count() == limit
    other = f"/heartbeats/checkin/{other_heartbeat.public_primary_key}/prod/"
    assert asgi_get(other) == (200, {"detail": "Check-in received.", "environment": "prod"}, True)


@pytest.mark.django_db
def test_the_limit_can_be_switched_off(settings: Any, heartbeat: Heartbeat) -> None:
    settings.OPSDUTY_RATE_LIMITS = {**settings.OPSDUTY_RATE_LIMITS, "heartbeat_checkin": "off"}
    path = f"/heartbeats/checkin/{heartbeat.public_primary_key}/prod/"
    assert all(_view_get(path)[0] == 200 for _ in range(5))
