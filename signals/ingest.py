"""The webhook receiver: the hottest code in the product, kept lean on purpose.

`POST /integrations/webhooks/enque/event/<webhook-key>/<routing-key>` answers 202 only
after the raw event and its incident reference are committed (invariant 2), with one SQL
statement in autocommit, then queues the processing task. Everything else is checks that
answer a JSON error: 404 unknown webhook / routing key, 405, 411/413 size, 415 content type,
400 not a JSON object, 429 rate limit (per webhook, Redis fixed window).

`opsduty/wsgi.py` sends these paths here straight from WSGI, skipping Django's middleware
(sessions, CSRF, auth, messages: none applies to a webhook); `signals/views.py` serves the
same paths through Django for the test client and the development server. Both call
`receive()`.

Webhook and routing-key lookups are cached per process for `CACHE_SECONDS`, so a disabled
webhook or a regenerated routing key takes up to that long to be seen by every process.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import orjson
import psycopg
import redis
from django.conf import settings
from django.db import connection
from django.db.utils import DatabaseError, InterfaceError, OperationalError
from django.utils import timezone

from incidents.models import ReferenceStatus
from signals.models import RawEventStatus

logger = logging.getLogger(__name__)

PREFIX = "/integrations/webhooks/enque/event/"
MAX_BODY = 512 * 1024
CACHE_SECONDS = 5.0
# Headers worth keeping with the event (lower-case, without the HTTP_ prefix of WSGI).
_DROP_HEADERS = frozenset({"cookie", "authorization", "proxy-authorization"})
_MAX_HEADER_BYTES = 8192


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()

    def content(self) -> bytes:
        return orjson.dumps(self.body)


@dataclass(frozen=True)
class WebhookInfo:
    id: int
    organization_id: int
    enabled: bool
    rate_limit_per_minute: int


def _error(status: int, detail: str, *headers: tuple[str, str]) -> Answer:
    return Answer(status, {"detail": detail}, headers)


# --- cached lookups -------------------------------------------------------------------------

_webhooks: dict[str, tuple[float, WebhookInfo | None]] = {}
_routing_keys: dict[tuple[int, str], tuple[float, bool]] = {}


def cache_clear() -> None:
    """Forget cached webhooks and routing keys (tests; a process sees changes after 5 s)."""
    _webhooks.clear()
    _routing_keys.clear()


def _cached(cache: dict[Any, tuple[float, Any]], key: Any, load: Callable[[], Any]) -> Any:
    now = time.monotonic()
    hit = cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    value = load()
    if len(cache) > 10_000:  # unknown keys from scanners must not grow the cache forever
        cache.clear()
    cache[key] = (now + CACHE_SECONDS, value)
    return value


def _load_webhook(key: str) -> WebhookInfo | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, organization_id, enabled, rate_limit_per_minute "
            "FROM signals_webhook WHERE key = %s",
            [key],
        )
        row = cursor.fetchone()
    return WebhookInfo(*row) if row else None


# Every table whose rows own a routing key that webhooks may address.
ROUTING_KEY_TABLES = ("escalations_service", "processing_routingrule")


def _load_routing_key(organization_id: int, routing_key: str) -> bool:
    union = " UNION ALL ".join(
        f"SELECT 1 FROM {table} WHERE organization_id = %s AND routing_key = %s"  # noqa: S608
        for table in ROUTING_KEY_TABLES
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS ({union})", [organization_id, routing_key] * len(ROUTING_KEY_TABLES)
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def _webhook(key: str) -> WebhookInfo | None:
    try:
        canonical = str(uuid.UUID(key))
    except ValueError:
        return None
    info: WebhookInfo | None = _cached(_webhooks, canonical, lambda: _load_webhook(canonical))
    return info


def _routing_key_known(organization_id: int, routing_key: str) -> bool:
    if not routing_key or len(routing_key) > 64:
        return False
    key = (organization_id, routing_key)
    return bool(_cached(_routing_keys, key, lambda: _load_routing_key(*key)))


# --- rate limit -----------------------------------------------------------------------------

_redis: redis.Redis | None = None


def _redis_client() -> redis.Redis:
    global _redis  # noqa: PLW0603 - one client (and connection pool) per process
    if _redis is None:
        _redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1.0)
    return _redis


# Limits up to this many events a minute are counted in Redis on every request (exact);
# higher ones, which only busy senders reach, are counted in batches: each process adds
# its local count to Redis every SYNC_EVERY events or SYNC_SECONDS, and decides with the
# last total it saw plus its own count since. A limit can then be overshot by at most
# SYNC_EVERY events per web process.
EXACT_UP_TO = 1200
SYNC_EVERY = 20
SYNC_SECONDS = 0.2


@dataclass
class _Window:
    minute: int
    total: int = 0  # the count in Redis when this process last synced
    local: int = 0  # events this process accepted since
    synced_at: float = 0.0


_windows: dict[int, _Window] = {}


def _redis_add(webhook_id: int, minute: int, amount: int) -> int:
    key = f"opsduty:rl:webhook:{webhook_id}:{minute}"
    pipe = _redis_client().pipeline(transaction=False)
    pipe.incrby(key, amount)
    pipe.expire(key, 61)
    return int(pipe.execute()[0])


def _rate_limited(webhook: WebhookInfo, now: float) -> int:
    """Seconds to wait when this webhook is over its per-minute limit, else 0 (and counted)."""
    minute = int(now // 60)
    wait = max(1, 60 - int(now % 60))
    limit = webhook.rate_limit_per_minute
    try:
        if limit <= EXACT_UP_TO:
            return wait if _redis_add(webhook.id, minute, 1) > limit else 0
        window = _windows.get(webhook.id)
        if window is None or window.minute != minute:
            window = _windows[webhook.id] = _Window(minute)
        if window.total + window.local >= limit:
            return wait
        window.local += 1
        if window.local >= SYNC_EVERY or now - window.synced_at > SYNC_SECONDS:
            window.total = _redis_add(webhook.id, minute, window.local)
            window.local, window.synced_at = 0, now
    except redis.RedisError:
        logger.warning("rate limit skipped: Redis unavailable")
    return 0  # accepting beats refusing when Redis is down: the event is stored durably


# --- the request ----------------------------------------------------------------------------


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _json_type(content_type: str) -> bool:
    media = _media_type(content_type)
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _parse(body: bytes) -> tuple[bytes, Answer | None]:
    """The body to store (UTF-8 JSON text), or the 400 answer."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        return body, _error(400, f"The body is not valid JSON: {error}")
    if not isinstance(data, dict):
        return body, _error(400, "The body must be a JSON object ({...}).")
    if b"\\u0000" in body:
        # PostgreSQL's jsonb cannot hold U+0000: store it as U+FFFD rather than lose the event.
        return orjson.dumps(_without_nul(data)), None
    return body, None


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    return value


_INSERT = """
WITH ref AS (
    INSERT INTO incidents_incidentreference
        (organization_id, public_id, status, reason, created_at, updated_at)
    VALUES (%(org)s, %(ref)s, %(ref_status)s, %(reason)s, %(now)s, %(now)s)
    RETURNING id
)
INSERT INTO signals_rawevent
    (organization_id, webhook_id, routing_key, reference_id, received_at, headers, body,
     status, attempts, error, result)
SELECT %(org)s, %(webhook)s, %(routing_key)s, ref.id, %(now)s, %(headers)s::jsonb,
       %(body)s::jsonb, %(status)s, 0, '', '{}'::jsonb
FROM ref
RETURNING id
"""


def _store(
    webhook: WebhookInfo, routing_key: str, headers: dict[str, str], body: bytes, now: datetime
) -> tuple[int, str]:
    """INSERT the reference and the raw event in one statement (autocommit): durable on return."""
    reference = str(uuid.uuid4())
    params: dict[str, str | int | datetime] = {
        "org": webhook.organization_id,
        "ref": reference,
        "ref_status": ReferenceStatus.PENDING if webhook.enabled else ReferenceStatus.STOPPED,
        "reason": "" if webhook.enabled else "The webhook is disabled.",
        "now": now,
        "webhook": webhook.id,
        "routing_key": routing_key,
        "headers": orjson.dumps(headers).decode(),
        "body": body.decode(),
        "status": RawEventStatus.PENDING if webhook.enabled else RawEventStatus.REJECTED,
    }
    for attempt in (1, 2):
        try:
            with connection.wrap_database_errors:
                connection.ensure_connection()
                # Server-side binding and a prepared statement: no query text to build and
                # no parsing or planning in PostgreSQL per event (Django's cursors bind
                # client-side).
                with psycopg.Cursor(connection.connection) as cursor:
                    cursor.execute(_INSERT, params, prepare=True)
                    row = cursor.fetchone()
            assert row is not None
            return int(row[0]), reference
        except (OperationalError, InterfaceError):
            # A persistent connection the server dropped: reconnect once, then give up.
            connection.close()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _headers(environ_headers: Mapping[str, str]) -> dict[str, str]:
    kept: dict[str, str] = {}
    size = 0
    for name, value in environ_headers.items():
        if name in _DROP_HEADERS:
            continue
        size += len(name) + len(value)
        if size > _MAX_HEADER_BYTES:
            break
        kept[name] = value
    return kept


def receive(
    *,
    method: str,
    webhook_key: str,
    routing_key: str,
    content_type: str,
    content_length: int | None,
    read: Callable[[int], bytes],
    headers: Mapping[str, str],
) -> Answer:
    """Check, store durably, queue processing; the answer for the sender."""
    if method != "POST":
        return _error(405, "Send events with POST.", ("Allow", "POST"))
    webhook = _webhook(webhook_key)
    if webhook is None:
        return _error(404, "Unknown webhook: check the webhook key in the URL.")
    if not _routing_key_known(webhook.organization_id, routing_key):
        return _error(404, "Unknown routing key: use a service's or a routing rule's key.")
    if content_length is not None and content_length > MAX_BODY:
        return _error(413, f"The body is over {MAX_BODY // 1024} KB.")
    if not _json_type(content_type):
        return _error(415, "Send JSON with the header Content-Type: application/json.")
    body = read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        return _error(413, f"The body is over {MAX_BODY // 1024} KB.")
    body, problem = _parse(body)
    if problem is not None:
        return problem
    wait = _rate_limited(webhook, time.time())
    if wait:
        return _error(
            429,
            f"Rate limit of {webhook.rate_limit_per_minute} events a minute exceeded; "
            f"retry in {wait} s.",
            ("Retry-After", str(wait)),
        )
    try:
        raw_id, reference = _store(webhook, routing_key, _headers(headers), body, timezone.now())
    except DatabaseError:
        logger.exception("raw event not stored")
        return _error(503, "The event could not be stored; retry later.", ("Retry-After", "5"))
    if not webhook.enabled:
        return Answer(
            202,
            {
                "id": reference,
                "status": "stopped",
                "detail": "The webhook is disabled: the event is stored but will not be processed.",
            },
        )
    _queue(raw_id)
    return Answer(202, {"id": reference})


def _queue(raw_id: int) -> None:
    """Make sure a drain task will see the event (cheap when one is queued already)."""
    from signals.services import drain_kick

    drain_kick()


# --- WSGI -----------------------------------------------------------------------------------

_REASONS = {
    202: "202 Accepted",
    400: "400 Bad Request",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    411: "411 Length Required",
    413: "413 Content Too Large",
    415: "415 Unsupported Media Type",
    429: "429 Too Many Requests",
    503: "503 Service Unavailable",
}


def _environ_headers(environ: Mapping[str, Any]) -> dict[str, str]:
    headers = {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    headers["content-type"] = environ.get("CONTENT_TYPE", "")
    headers["remote-addr"] = environ.get("REMOTE_ADDR", "")
    return headers


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The receiver as a bare WSGI application (see opsduty/wsgi.py)."""
    parts = environ.get("PATH_INFO", "")[len(PREFIX) :].strip("/").split("/")
    length_text = environ.get("CONTENT_LENGTH") or ""
    stream: IO[bytes] = environ["wsgi.input"]
    if len(parts) != 2:
        answer = _error(404, "Use /integrations/webhooks/enque/event/<webhook-key>/<routing-key>.")
    else:
        answer = receive(
            method=environ.get("REQUEST_METHOD", ""),
            webhook_key=parts[0],
            routing_key=parts[1],
            content_type=environ.get("CONTENT_TYPE", ""),
            content_length=int(length_text) if length_text.isdigit() else None,
            read=stream.read,
            headers=_environ_headers(environ),
        )
    content = answer.content()
    start_response(
        _REASONS.get(answer.status, f"{answer.status} Error"),
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(content))),
            *answer.headers,
        ],
    )
    return [content]
