"""The public check-in URLs (spec §2.3 P): `/heartbeats/checkin/<key>/[<environment>/]`.

No token, no CSRF, no redirects; JSON answers; a check-in moves the deadline and is recorded
with the caller's address and User-Agent."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client

from opsduty.models import Service
from signals.models import Heartbeat, HeartbeatCheckIn, HeartbeatState
from tests.heartbeat_factories import make_heartbeat, make_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def heartbeat(service: Service) -> Heartbeat:
    return make_heartbeat(service=service)


def _get(path: str, method: str = "get", **extra: Any) -> tuple[int, Any, Any]:
    response = getattr(Client(enforce_csrf_checks=True), method)(path, **extra)
    assert "Location" not in response
    body = json.loads(response.content) if response.content else None
    return response.status_code, body, response


def test_checkin_without_environment_uses_the_only_one(heartbeat: Heartbeat) -> None:
    state = make_state(heartbeat=heartbeat, environment="prod")
    before = state.next_deadline
    status, body, response = _get(
        f"/heartbeats/checkin/{heartbeat.public_primary_key}/",
        HTTP_USER_AGENT="python-requests/2.34.2",
        REMOTE_ADDR="192.0.2.7",
    )
    assert (status, body) == (200, {"detail": "Check-in received.", "environment": "prod"})
    assert response["Content-Type"] == "application/json"
    state.refresh_from_db()
    assert state.last_checkin_at is not None
    assert state.next_deadline is not None and before is not None
    assert state.next_deadline >= before
    checkin = HeartbeatCheckIn.objects.get()
    assert (checkin.state_id, checkin.source_ip, checkin.user_agent) == (
        state.pk,
        "192.0.2.7",
        "python-requests/2.34.2",
    )
    assert checkin.at == state.last_checkin_at


def test_checkin_with_an_environment(heartbeat: Heartbeat) -> None:
    prod = make_state(heartbeat=heartbeat, environment="prod")
    eu = make_state(heartbeat=heartbeat, environment="prod:eu")
    key = heartbeat.public_primary_key
    assert _get(f"/heartbeats/checkin/{key}/prod:eu/")[0] == 200
    assert _get(f"/heartbeats/checkin/{key}/prod%3Aeu/")[0] == 200
    assert _get(f"/heartbeats/checkin/{key}/prod/")[0] == 200
    assert HeartbeatCheckIn.objects.filter(state=eu).count() == 2
    assert HeartbeatCheckIn.objects.filter(state=prod).count() == 1


def test_an_environment_may_contain_a_slash(heartbeat: Heartbeat) -> None:
    state = make_state(heartbeat=heartbeat, environment="eu/west")
    key = heartbeat.public_primary_key
    for path in (f"/heartbeats/checkin/{key}/eu%2Fwest/", f"/heartbeats/checkin/{key}/eu/west/"):
        assert _get(path)[0] == 200
    assert HeartbeatCheckIn.objects.filter(state=state).count() == 2


def test_the_forms_without_a_trailing_slash_are_served_not_redirected(
    heartbeat: Heartbeat,
) -> None:
    make_state(heartbeat=heartbeat, environment="prod")
    key = heartbeat.public_primary_key
    assert _get(f"/heartbeats/checkin/{key}")[0] == 200
    assert _get(f"/heartbeats/checkin/{key}/prod")[0] == 200
    assert HeartbeatCheckIn.objects.count() == 2


def test_head_and_post_check_in_too_without_csrf(heartbeat: Heartbeat) -> None:
    make_state(heartbeat=heartbeat, environment="prod")
    key = heartbeat.public_primary_key
    assert _get(f"/heartbeats/checkin/{key}/", method="head")[0] == 200
    status, body, _ = _get(f"/heartbeats/checkin/{key}/prod/", method="post")
    assert (status, body["environment"]) == (200, "prod")
    assert HeartbeatCheckIn.objects.count() == 2


@pytest.mark.parametrize("method", ["put", "patch", "delete", "options"])
def test_other_methods_are_405_json(heartbeat: Heartbeat, method: str) -> None:
    make_state(heartbeat=heartbeat, environment="prod")
    status, body, response = _get(f"/heartbeats/checkin/{heartbeat.public_primary_key}/", method)
    assert status == 405
    assert response["Allow"] == "GET, HEAD, POST"
    assert "detail" in body
    assert not HeartbeatCheckIn.objects.exists()


def test_unknown_key_is_404(heartbeat: Heartbeat) -> None:
    make_state(heartbeat=heartbeat, environment="prod")
    for path in ("/heartbeats/checkin/HBNOPE/", "/heartbeats/checkin/HBNOPE/prod/"):
        status, body, _ = _get(path)
        assert (status, body) == (404, {"detail": "Unknown heartbeat."})
    assert not HeartbeatCheckIn.objects.exists()


def test_unknown_environment_is_404(heartbeat: Heartbeat) -> None:
    make_state(heartbeat=heartbeat, environment="prod")
    status, body, _ = _get(f"/heartbeats/checkin/{heartbeat.public_primary_key}/staging/")
    assert (status, body) == (404, {"detail": "This heartbeat has no environment “staging”."})
    assert not HeartbeatCheckIn.objects.exists()


def test_several_environments_need_one_in_the_url(heartbeat: Heartbeat) -> None:
    make_state(heartbeat=heartbeat, environment="prod")
    make_state(heartbeat=heartbeat, environment="staging")
    status, body, _ = _get(f"/heartbeats/checkin/{heartbeat.public_primary_key}/")
    assert status == 404
    assert body == {
        "detail": "This heartbeat has several environments: check in at "
        "/heartbeats/checkin/<key>/<environment>/."
    }
    assert not HeartbeatCheckIn.objects.exists()


def test_a_heartbeat_without_environments_is_404(heartbeat: Heartbeat) -> None:
    status, body, _ = _get(f"/heartbeats/checkin/{heartbeat.public_primary_key}/")
    assert status == 404
    assert "no environments" in body["detail"]


def test_the_key_only_reaches_its_own_heartbeat(service: Service) -> None:
    one = make_heartbeat(service=service, name="one")
    two = make_heartbeat(service=service, name="two")
    make_state(heartbeat=one, environment="prod")
    other = make_state(heartbeat=two, environment="prod")
    assert _get(f"/heartbeats/checkin/{one.public_primary_key}/prod/")[0] == 200
    assert not HeartbeatCheckIn.objects.filter(state=other).exists()
    # A key of another heartbeat's environment name is not a key.
    assert _get(f"/heartbeats/checkin/{one.pk}/prod/")[0] == 404


def test_a_non_ip_remote_address_is_stored_as_null(heartbeat: Heartbeat) -> None:
    make_state(heartbeat=heartbeat, environment="prod")
    key = heartbeat.public_primary_key
    assert _get(f"/heartbeats/checkin/{key}/", REMOTE_ADDR="unix:/run/sock")[0] == 200
    assert HeartbeatCheckIn.objects.get().source_ip is None


@pytest.mark.django_db(transaction=True)
def test_a_database_failure_is_503_without_retry_after(service: Service) -> None:
    """A check-in that cannot get its row (here: locked past `lock_timeout`) answers 503 with
    a JSON detail and no Retry-After, and records nothing."""
    heartbeat = make_heartbeat(service=service)
    state = make_state(heartbeat=heartbeat, environment="prod")
    locked, release = threading.Event(), threading.Event()

    def hold_the_row() -> None:
        try:
            with transaction.atomic():
                HeartbeatState.objects.select_for_update().get(pk=state.pk)
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    try:
        assert locked.wait(timeout=30)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '50ms'")
        status, body, response = _get(f"/heartbeats/checkin/{heartbeat.public_primary_key}/")
    finally:
        release.set()
        holder.join(timeout=30)
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert status == 503
    assert body == {"detail": "Temporarily unavailable, try again."}
    assert "Retry-After" not in response
    assert not HeartbeatCheckIn.objects.exists()
