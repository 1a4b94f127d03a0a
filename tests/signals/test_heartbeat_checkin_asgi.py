"""The public check-in as `make run` serves it (opsduty.asgi): the event-loop fast path and
the cases it hands to the Django view, with the same answers and the same stored result."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from django.utils import timezone

from incidents.models import Incident, Status
from opsduty.asgi import application
from opsduty.models import Organization, Service, User
from signals.heartbeats import checkin_async as heartbeat_checkin_async
from signals.heartbeats import services as heartbeats
from signals.models import Heartbeat, HeartbeatCheckIn, HeartbeatState
from signals.receiver import ingest_async
from tests import factories
from tests.heartbeat_factories import make_heartbeat, make_state

pytestmark = pytest.mark.django_db(transaction=True)

_T = TypeVar("_T")


def _in_own_loop(coroutine: Coroutine[Any, Any, _T]) -> _T:
    async def run() -> _T:
        try:
            return await coroutine
        finally:
            await ingest_async.close()

    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(asyncio.run, run()).result()


def _get(path: str, method: str = "GET") -> tuple[int, Any, bool]:
    """(status, JSON body or None, whether the fast path answered)."""

    async def call() -> tuple[int, Any, bool]:
        scope = {
            "type": "http",
            "method": method,
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "scheme": "http",
            "server": ("127.0.0.1", 8000),
            "http_version": "1.1",
            "headers": [(b"host", b"127.0.0.1"), (b"user-agent", b"cron/1.0")],
            "client": ("192.0.2.9", 50000),
            "query_string": b"",
        }
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        fast = await heartbeat_checkin_async.handle(scope, receive, send)
        if not fast:
            await application(scope, receive, send)
        body = b"".join(m.get("body", b"") for m in sent[1:])
        return sent[0]["status"], json.loads(body) if body else None, fast

    return _in_own_loop(call())


@pytest.fixture
def service(org_a: Organization, owner: User) -> Service:
    team = factories.make_team(organization=org_a, name="Platform")
    factories.add_member(team, owner)
    return factories.make_service(team=team, name="API")


@pytest.fixture
def heartbeat(service: Service) -> Heartbeat:
    return make_heartbeat(service=service)


def test_the_fast_path_records_a_checkin_like_the_view(heartbeat: Heartbeat) -> None:
    state = make_state(heartbeat=heartbeat, environment="prod:eu", interval_seconds=60)
    before = timezone.now()
    key = heartbeat.public_primary_key
    status, body, fast = _get(f"/heartbeats/checkin/{key}/prod:eu/")
    assert (status, body, fast) == (
        200,
        {"detail": "Check-in received.", "environment": "prod:eu"},
        True,
    )
    state.refresh_from_db()
    assert state.last_checkin_at is not None and state.last_checkin_at >= before
    assert state.next_expected_at == state.last_checkin_at + timedelta(seconds=60)
    assert state.next_deadline == state.next_expected_at + timedelta(seconds=state.timeout_seconds)
    (checkin,) = HeartbeatCheckIn.objects.filter(state=state)
    assert (checkin.source_ip, checkin.user_agent) == ("192.0.2.9", "cron/1.0")
    # Without the environment (it is the only one), without the slash, and HEAD.
    assert _get(f"/heartbeats/checkin/{key}/")[::2] == (200, True)
    assert _get(f"/heartbeats/checkin/{key}")[::2] == (200, True)
    assert _get(f"/heartbeats/checkin/{key}/prod:eu/", method="HEAD")[1:] == (None, True)
    assert HeartbeatCheckIn.objects.filter(state=state).count() == 4


def test_cron_deadlines_are_computed_as_in_the_view(heartbeat: Heartbeat) -> None:
    state = make_state(
        heartbeat=heartbeat, type="cron", cron_expression="*/5 * * * *", timeout_seconds=30
    )
    assert _get(f"/heartbeats/checkin/{heartbeat.public_primary_key}/prod/")[2]
    state.refresh_from_db()
    assert state.last_checkin_at is not None
    assert state.next_expected_at == heartbeats.next_expected(state, state.last_checkin_at)
    assert state.next_expected_at.minute % 5 == 0


def test_unknown_and_ambiguous_checkins_get_the_views_404s(heartbeat: Heartbeat) -> None:
    key = heartbeat.public_primary_key
    assert _get("/heartbeats/checkin/HBUNKNOWN/prod/") == (
        404,
        {"detail": "Unknown heartbeat."},
        False,
    )
    make_state(heartbeat=heartbeat, environment="prod")
    make_state(heartbeat=heartbeat, environment="staging")
    status, body, fast = _get(f"/heartbeats/checkin/{key}/")
    assert (status, fast) == (404, False) and "several environments" in body["detail"]
    status, body, fast = _get(f"/heartbeats/checkin/{key}/dev/")
    assert (status, fast) == (404, False) and "“dev”" in body["detail"]
    status, _, fast = _get(f"/heartbeats/checkin/{key}/prod/", method="DELETE")
    assert (status, fast) == (405, False)
    assert not HeartbeatCheckIn.objects.exists()


def test_a_checkin_that_must_resolve_an_incident_goes_through_the_view(
    heartbeat: Heartbeat, service: Service
) -> None:
    state = make_state(heartbeat=heartbeat, interval_seconds=60)
    HeartbeatState.objects.filter(pk=state.pk).update(
        next_deadline=timezone.now() - timedelta(seconds=1)
    )
    assert heartbeats.misses_detect() == 1
    incident = Incident.objects.get(service=service)
    status, _, fast = _get(f"/heartbeats/checkin/{heartbeat.public_primary_key}/prod/")
    assert (status, fast) == (200, False)
    incident.refresh_from_db()
    state.refresh_from_db()
    assert incident.status == Status.RESOLVED
    assert state.incident_id is None and state.missed_at is None
    # The next check-in is the fast path again.
    assert _get(f"/heartbeats/checkin/{heartbeat.public_primary_key}/prod/")[2]
