"""Health probes: `/healthz` (liveness) and `/readyz` (readiness), docs/operations.md.

`/healthz` answers 200 whenever the process can answer at all: it checks no dependency, so
an orchestrator never restarts a healthy web process because PostgreSQL or Redis is down
(a restart would not bring them back, and would drop the requests in flight).

`/readyz` checks what serving needs and what keeps paging people on time: PostgreSQL,
Redis, each Celery queue's backlog (length, and age of its oldest waiting task from the
`opsduty_sent_at` header that `opsduty/celery.py` stamps), and the beats of the sweepers
(`tick_record`: the escalation sweeper and the raw event sweeper write their last run to
Redis). It answers 503 when a *required* check fails (`OPSDUTY_READYZ_REQUIRED`, by default
PostgreSQL only: without it nothing can be accepted, whereas with Redis down webhooks are
still stored and answered 202), and 200 otherwise with `"status": "degraded"` naming the
failing checks. `/readyz?strict=1` answers 503 on any failing check, for monitors.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from opsduty.celery import QUEUES, SENT_AT_HEADER

logger = logging.getLogger(__name__)

# The sweepers whose last run /readyz reports (task name -> check name).
TICKS = {
    "escalations.run_sweep": "escalator",
    "signals.raw_event_sweep": "sweeper",
}
_TICK_KEY = "opsduty:health:tick:"
_clients: dict[str, redis.Redis] = {}


def _client(url: str | None = None) -> redis.Redis:
    """A Redis client with short time-outs (a probe must answer within a second or two),
    one per URL and process; REDIS_URL unless another is named (the broker's)."""
    url = url or settings.REDIS_URL
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(
            url, socket_timeout=1.0, socket_connect_timeout=1.0
        )
    return client


def tick_record(task_name: str) -> None:
    """A sweeper ran to the end: remember when (best effort; Redis may be down)."""
    try:
        _client().set(f"{_TICK_KEY}{task_name}", f"{time.time():.3f}", ex=24 * 3600)
    except redis.RedisError:
        logger.warning("health tick of %s not recorded: Redis unavailable", task_name)


def _check_postgres() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        logger.warning("readyz: PostgreSQL unavailable: %s", type(error).__name__)
        return {"status": "unavailable"}
    return {"status": "ok"}


def _check_redis() -> dict[str, Any]:
    try:
        _client().ping()
    except redis.RedisError as error:
        logger.warning("readyz: Redis unavailable: %s", type(error).__name__)
        return {"status": "unavailable"}
    return {"status": "ok"}


def _sent_at(message: bytes | None) -> float | None:
    """The queuing time stamped on a task message (kombu's JSON envelope), if any."""
    if not message:
        return None
    try:
        value = orjson.loads(message).get("headers", {}).get(SENT_AT_HEADER)
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return float(value) if isinstance(value, int | float) else None


def _check_queues(now: float) -> dict[str, Any]:
    """Each queue's waiting tasks and the age of the oldest (kombu's Redis list: LPUSH new,
    BRPOP from the right, so the oldest is at index -1; tasks run at their default priority,
    which kombu keeps in the list named after the queue)."""
    limit = settings.OPSDUTY_READYZ_QUEUE_MAX_AGE
    queues: dict[str, Any] = {}
    try:
        pipe = _client(settings.CELERY_BROKER_URL).pipeline(transaction=False)
        for name in QUEUES:
            pipe.llen(name)
            pipe.lindex(name, -1)
        replies = pipe.execute()
    except redis.RedisError:
        return {"status": "unavailable"}
    late = False
    for index, name in enumerate(QUEUES):
        length, oldest = int(replies[2 * index]), _sent_at(replies[2 * index + 1])
        age = None if oldest is None else round(max(0.0, now - oldest), 1)
        late = late or (age is not None and age > limit)
        queues[name] = {"length": length, "oldest_seconds": age}
    return {"status": "late" if late else "ok", "max_age_seconds": limit, **queues}


def _check_ticks(now: float) -> dict[str, dict[str, Any]]:
    limit = settings.OPSDUTY_READYZ_TICK_MAX_AGE
    try:
        values = _client().mget([f"{_TICK_KEY}{task}" for task in TICKS])
    except redis.RedisError:
        return {name: {"status": "unknown"} for name in TICKS.values()}
    checks: dict[str, dict[str, Any]] = {}
    for name, value in zip(TICKS.values(), values, strict=True):
        if value is None:
            checks[name] = {"status": "late", "last_run_seconds_ago": None}
            continue
        ago = round(max(0.0, now - float(value)), 1)
        checks[name] = {
            "status": "late" if ago > limit else "ok",
            "last_run_seconds_ago": ago,
        }
    return checks


def readiness() -> dict[str, dict[str, Any]]:
    """Every check of /readyz by name (each a dict with at least `status`)."""
    now = time.time()
    return {
        "postgres": _check_postgres(),
        "redis": _check_redis(),
        "queues": _check_queues(now),
        **_check_ticks(now),
    }


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: 200 whenever this process answers (no dependency is checked)."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: every check; 503 when a required one (or, with ?strict=1, any) fails."""
    checks = readiness()
    failing = sorted(name for name, check in checks.items() if check["status"] != "ok")
    required = set(settings.OPSDUTY_READYZ_REQUIRED)
    strict = request.GET.get("strict") in {"1", "true", "yes"}
    blocking = failing if strict else [name for name in failing if name in required]
    status = "unavailable" if blocking else "degraded" if failing else "ok"
    body = {"status": status, "failing": failing, "checks": checks}
    return JsonResponse(body, status=503 if blocking else 200)
