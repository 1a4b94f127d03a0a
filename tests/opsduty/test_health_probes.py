"""`/healthz` (liveness) and `/readyz` (readiness), and the paths that must not fail because
Redis is unreachable or a database connection was closed by the server (docs/operations.md).

The outages with the product's real processes are in test_degradation.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client

from opsduty.health import tick_record
from opsduty.models import Organization
from opsduty.tasks import sessions_clear_expired
from signals.models import RawEvent, Webhook
from signals.receiver import ingest
from tests import factories
from tests.signals.conftest import url
from tests.signals.test_receive_asgi import _call_async, _in_own_loop

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: refused at once


def _dead_redis(settings: Any) -> None:
    settings.REDIS_URL = DEAD_REDIS
    settings.CELERY_BROKER_URL = DEAD_REDIS
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": DEAD_REDIS,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }


def test_healthz_answers_200_whatever_the_dependencies(client: Client, settings: Any) -> None:
    _dead_redis(settings)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"].startswith("max-age=0")
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_readyz_is_ok_when_everything_runs(client: Client) -> None:
    tick_record("escalations.run_sweep")
    tick_record("signals.raw_event_sweep")
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["failing"]) == ("ok", [])
    checks = body["checks"]
    assert checks["postgres"] == {"status": "ok"}
    assert checks["redis"] == {"status": "ok"}
    empty = {"length": 0, "oldest_seconds": None}
    assert checks["queues"] == {
        "status": "ok",
        "max_age_seconds": 60,
        "ingest": empty,
        "escalation": empty,
        "notify": empty,
        "default": empty,
    }
    for name in ("escalator", "sweeper"):
        assert checks[name]["status"] == "ok"
        assert 0 <= checks[name]["last_run_seconds_ago"] < 60


@pytest.mark.django_db
def test_readyz_names_a_backed_up_queue_and_a_silent_sweeper(client: Client) -> None:
    tick_record("signals.raw_event_sweep")  # the escalator never ran
    sessions_clear_expired.apply_async()  # no worker consumes "default" here
    sessions_clear_expired.apply_async()
    with time_machine.travel(time.time() + 90, tick=False):
        response = client.get("/readyz")
        strict = client.get("/readyz?strict=1")
    # Only PostgreSQL is required by default: a late queue does not take web out of service.
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["failing"]) == ("degraded", ["escalator", "queues", "sweeper"])
    queues = body["checks"]["queues"]
    assert (queues["status"], queues["default"]["length"]) == ("late", 2)
    assert queues["default"]["oldest_seconds"] >= 90
    assert queues["ingest"] == {"length": 0, "oldest_seconds": None}
    assert body["checks"]["escalator"] == {"status": "late", "last_run_seconds_ago": None}
    assert body["checks"]["sweeper"]["status"] == "late"  # 90 s since its run
    assert strict.status_code == 503
    assert strict.json()["status"] == "unavailable"


@pytest.mark.django_db
def test_readyz_with_redis_down_is_degraded_unless_redis_is_required(
    client: Client, settings: Any
) -> None:
    _dead_redis(settings)
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["postgres"] == {"status": "ok"}
    assert body["checks"]["redis"] == {"status": "unavailable"}
    assert body["checks"]["queues"] == {"status": "unavailable"}
    assert body["checks"]["escalator"] == {"status": "unknown"}
    settings.OPSDUTY_READYZ_REQUIRED = ["postgres", "redis"]
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["escalator", "queues", "redis", "sweeper"]


@pytest.mark.django_db
def test_api_and_pages_answer_with_redis_down(
    owner_api: Client, owner_client: Client, settings: Any
) -> None:
    """The API's rate-limit counters live in Redis: without it requests go unthrottled."""
    _dead_redis(settings)
    response = owner_api.get("/api/v1/incidents/")
    assert response.status_code == 200
    assert response.json()["items"] == []
    response = owner_client.get("/incidents/")
    assert response.status_code == 200
    assert "No incidents match these filters." in response.content.decode()


def _terminate_pool_connections() -> int:
    """End the backends the receiver's pool used, as a PgBouncer or PostgreSQL restart does
    (the client learns it only when it next uses the connection)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND (query LIKE '%%INSERT INTO signals_rawevent%%'"
            " OR query LIKE '%%FROM signals_webhook%%')"
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


@pytest.mark.django_db(transaction=True)
def test_webhook_after_the_server_closed_its_connections_is_still_202(
    org_a: Organization,
) -> None:
    service = factories.make_service(organization=org_a, name="API")
    webhook = Webhook.objects.create(organization=org_a, name="Generic")
    path = url(webhook, service.routing_key)
    ingest.cache_clear()

    async def scenario() -> tuple[int, int, int]:
        first = await _call_async(path, json.dumps({"title": "one"}).encode())
        ended = await asyncio.to_thread(_terminate_pool_connections)
        second = await _call_async(path, json.dumps({"title": "two"}).encode())
        return first[0], ended, second[0]

    first, ended, second = _in_own_loop(scenario())
    assert ended >= 1
    assert (first, second) == (202, 202)
    titles = sorted(RawEvent.objects.values_list("body__title", flat=True))
    assert titles == ["one", "two"]
