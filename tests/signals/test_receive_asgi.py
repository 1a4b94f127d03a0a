"""The receiver as `make run` serves it: ASGI (uvicorn), async I/O, the same answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from incidents.ingest import drain as services
from opsduty.asgi import application
from opsduty.models import Service
from signals.models import RawEvent, RawEventStatus, ReferenceStatus, Webhook
from signals.receiver import ingest, ingest_async
from tests.signals.conftest import url

pytestmark = pytest.mark.django_db(transaction=True)

_T = TypeVar("_T")

ALERT = {"title": "Disk full on db-1", "dedup_id": "disk-db-1"}


def _in_own_loop(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run on a fresh event loop in another thread (Playwright may own this thread's loop),
    closing the receiver's pool and Redis client with it."""

    async def run() -> _T:
        try:
            return await coroutine
        finally:
            await ingest_async.close()

    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(asyncio.run, run()).result()


def _call(
    path: str, body: bytes = b"", method: str = "POST", content_type: str = "application/json"
) -> tuple[int, dict[str, str], Any]:
    return _in_own_loop(_call_async(path, body, method, content_type))


async def _call_async(
    path: str, body: bytes = b"", method: str = "POST", content_type: str = "application/json"
) -> tuple[int, dict[str, str], Any]:
    headers = [(b"host", b"testserver"), (b"user-agent", b"Alertmanager/0.27")]
    if content_type:
        headers.append((b"content-type", content_type.encode()))
    headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "query_string": b"",
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await application(scope, receive, send)
    start, content = sent[0], sent[1]["body"]
    response_headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], response_headers, json.loads(content)


def _raw_events() -> list[RawEvent]:
    return list(RawEvent.objects.select_related("reference").order_by("id"))


def test_accepts_stores_and_kicks_a_drain(webhook: Webhook, service: Service) -> None:
    status, headers, answer = _call(url(webhook, service.routing_key), json.dumps(ALERT).encode())
    assert status == 202
    assert headers["content-type"] == "application/json"
    (raw,) = _raw_events()
    assert str(raw.reference.public_id) == answer["id"]
    assert raw.body == ALERT
    assert raw.status == RawEventStatus.PENDING
    assert raw.headers["user-agent"] == "Alertmanager/0.27"
    assert raw.headers["remote-addr"] == "127.0.0.1"
    assert raw.reference.status == ReferenceStatus.PENDING
    # The same drain as behind the WSGI receiver turns it into an incident.
    assert services.raw_events_drain(linger=0) == 1


@pytest.mark.parametrize(
    ("method", "path_key", "body", "content_type", "status"),
    [
        ("GET", "ok", b"", "", 405),
        ("POST", "unknown-routing-key", b"{}", "application/json", 404),
        ("POST", "ok", b"[1]", "application/json", 400),
        ("POST", "ok", b"not json", "application/json", 400),
        ("POST", "ok", b"{}", "text/plain", 415),
        ("POST", "ok", b"{" + b" " * (512 * 1024) + b"}", "application/json", 413),
    ],
)
def test_refusals_match_the_wsgi_receiver(
    webhook: Webhook,
    service: Service,
    method: str,
    path_key: str,
    body: bytes,
    content_type: str,
    status: int,
) -> None:
    key = service.routing_key if path_key == "ok" else path_key
    answered, _, answer = _call(url(webhook, key), body, method, content_type)
    assert answered == status
    assert answer["detail"]
    assert _raw_events() == []


def test_unknown_webhook_and_bad_paths_are_404(service: Service) -> None:
    unknown = f"{ingest.PREFIX}0b7d3d3c-5b5c-4a3e-9a5a-8c2f4d1e0a11/{service.routing_key}"
    assert (_call(unknown, b"{}"))[0] == 404
    assert (_call(f"{ingest.PREFIX}not-a-uuid/x", b"{}"))[0] == 404
    assert (_call(f"{ingest.PREFIX}only-one-part", b"{}"))[0] == 404


def test_rate_limit_answers_429(webhook: Webhook, service: Service) -> None:
    Webhook.objects.filter(pk=webhook.pk).update(rate_limit_per_minute=2)
    path = url(webhook, service.routing_key)
    statuses = [(_call(path, b"{}"))[0] for _ in range(3)]
    assert statuses == [202, 202, 429]
    status, headers, _ = _call(path, b"{}")
    assert status == 429
    assert 1 <= int(headers["retry-after"]) <= 60


def test_over_the_limit_stays_refused_for_the_minute_without_asking_redis(
    webhook: Webhook, service: Service, settings: Any
) -> None:
    """Once Redis said the minute's budget is spent, the process refuses the rest of the
    minute itself: a flood's 429s cost no Redis round trip (and a Redis outage then does not
    let the flood through until the next minute)."""
    Webhook.objects.filter(pk=webhook.pk).update(rate_limit_per_minute=2)
    path = url(webhook, service.routing_key)
    assert [(_call(path, b"{}"))[0] for _ in range(3)] == [202, 202, 429]
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    ingest_async._redis = None
    try:
        assert [(_call(path, b"{}"))[0] for _ in range(3)] == [429, 429, 429]
    finally:
        ingest_async._redis = None
    assert len(_raw_events()) == 2


def test_disabled_webhook_stores_as_rejected(webhook: Webhook, service: Service) -> None:
    Webhook.objects.filter(pk=webhook.pk).update(enabled=False)
    status, _, answer = _call(url(webhook, service.routing_key), b"{}")
    assert (status, answer["status"]) == (202, "stopped")
    (raw,) = _raw_events()
    assert raw.status == RawEventStatus.REJECTED


def test_other_paths_reach_django(webhook: Webhook) -> None:
    scope_path = "/login/"  # no database access: a2wsgi threads would keep connections
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": scope_path,
        "raw_path": scope_path.encode(),
        "root_path": "",
        "scheme": "http",
        "server": ("127.0.0.1", 8000),
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 50000),
        "query_string": b"",
        "http_version": "1.1",
    }
    _in_own_loop(application(scope, receive, send))
    assert sent[0]["status"] == 200
