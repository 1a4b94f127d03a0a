"""The webhook receiver: the hottest code in the product, kept lean on purpose.

`POST /integrations/webhooks/enque/event/<webhook-key>/<routing-key>` answers 202 only
after the raw event and its incident reference are committed (invariant 2), with one SQL
statement in autocommit, then queues the processing task. Everything else is checks that
answer a JSON error: 404 unknown webhook / routing key, 405, 411/413 size, 415 content type,
400 not a JSON object, 429 rate limit (per webhook, Redis fixed window).

`opsduty/wsgi.py` sends these paths here straight from WSGI, skipping Django's middleware
(sessions, CSRF, auth, messages: none applies to a webhook); `signals/receiver/views.py` serves the
same paths through Django for the test client and the development server. Both call
`receive()`.

Webhook and routing-key lookups are cached per process for `CACHE_SECONDS`, so a disabled
webhook or a regenerated routing key takes up to that long to be seen by every process.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import orjson
import psycopg
import redis
from django.db import connection
from django.db.utils import DatabaseError, InterfaceError, OperationalError
from django.utils import timezone

from opsduty.crypto import secret_digest
from opsduty.routing_keys import routing_key_known_params, routing_key_known_sql
from signals.models import RawEventStatus, ReferenceStatus
from signals.receiver import services

logger = logging.getLogger(__name__)

PREFIX = "/integrations/webhooks/enque/event/"
MAX_BODY = 512 * 1024
# Deeper bodies are refused with a 400: the pipeline serialises payloads with orjson, which
# stops at 255 levels, so a deeper event would be accepted and then fail (orjson's parser
# allows 1024). Real alert payloads nest less than 10 levels.
MAX_DEPTH = 128
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


# Seconds a sender is asked to wait when the database is unavailable.
RETRY_AFTER_SECONDS = 5


def unavailable() -> Answer:
    """503 with Retry-After: the database could not be reached, nothing was stored."""
    return _error(
        503,
        "The event could not be stored; retry later.",
        ("Retry-After", str(RETRY_AFTER_SECONDS)),
    )


# --- cached lookups -------------------------------------------------------------------------

_webhooks: dict[str, tuple[float, WebhookInfo | None]] = {}
_routing_keys: dict[tuple[int, str], tuple[float, bool]] = {}


def cache_clear() -> None:
    """Forget cached webhooks, routing keys and rate windows (tests; a process sees changes
    after 5 s)."""
    _webhooks.clear()
    _routing_keys.clear()
    _windows.clear()


_MISS: Any = object()


def _cached_hit(cache: dict[Any, tuple[float, Any]], key: Any) -> Any:
    """The cached value for `key`, or _MISS when absent or expired."""
    hit = cache.get(key)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    return _MISS


def remember(cache: dict[Any, tuple[float, Any]], key: Any, value: Any) -> Any:
    """Cache `value` for CACHE_SECONDS and return it."""
    if len(cache) > 10_000:  # unknown keys from scanners must not grow the cache forever
        cache.clear()
    cache[key] = (time.monotonic() + CACHE_SECONDS, value)
    return value


def _canonical(key: str) -> str | None:
    try:
        return str(uuid.UUID(key))
    except ValueError:
        return None


def _load_webhook(key: str) -> WebhookInfo | None:
    with connection.cursor() as cursor:
        cursor.execute(WEBHOOK_SQL, [secret_digest(key)])
        row = cursor.fetchone()
    return WebhookInfo(*row) if row else None


def _load_routing_key(organization_id: int, routing_key: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            routing_key_known_sql(), routing_key_known_params(organization_id, routing_key)
        )
        row = cursor.fetchone()
    return bool(row and row[0])


WEBHOOK_SQL = (
    "SELECT id, organization_id, enabled, rate_limit_per_minute FROM signals_webhook"
    " WHERE key_hash = %s"
)


def _webhook(key: str) -> WebhookInfo | None:
    """The webhook of a canonical key, from the database (and then cached)."""
    info: WebhookInfo | None = remember(_webhooks, key, _load_webhook(key))
    return info


def _routing_key_cached(organization_id: int, routing_key: str) -> Any:
    if not routing_key or len(routing_key) > 64 or "\x00" in routing_key:
        return False  # PostgreSQL text cannot hold U+0000: no routing key has one
    return _cached_hit(_routing_keys, (organization_id, routing_key))


def _routing_key_known(organization_id: int, routing_key: str) -> bool:
    known = bool(_load_routing_key(organization_id, routing_key))
    return bool(remember(_routing_keys, (organization_id, routing_key), known))


# --- rate limit -----------------------------------------------------------------------------

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


def _rate_key(webhook_id: int, minute: int) -> str:
    return f"opsduty:rl:webhook:{webhook_id}:{minute}"


@dataclass(frozen=True)
class RateStep:
    """What the rate limit needs from Redis: add `amount` to the minute's counter (0: none)."""

    key: str
    amount: int
    wait: int  # seconds to answer in Retry-After when refused
    exact: bool  # decide with the counter Redis returns (limits up to EXACT_UP_TO)


def rate_step(webhook: WebhookInfo, now: float) -> tuple[int, RateStep | None]:
    """(seconds to wait, 0 = accepted; the Redis addition to make, if any)."""
    minute = int(now // 60)
    wait = max(1, 60 - int(now % 60))
    limit = webhook.rate_limit_per_minute
    window = _windows.get(webhook.id)
    if window is None or window.minute != minute:
        window = _windows[webhook.id] = _Window(minute)
    if limit <= EXACT_UP_TO:
        if window.total > limit:
            # Over the limit for the rest of the minute, as Redis said: refused here, without
            # a round trip (a flood's 429s cost its web process as little as possible).
            return wait, None
        return 0, RateStep(_rate_key(webhook.id, minute), 1, wait, exact=True)
    if window.total + window.local >= limit:
        return wait, None
    window.local += 1
    if window.local >= SYNC_EVERY or now - window.synced_at > SYNC_SECONDS:
        amount, window.local, window.synced_at = window.local, 0, now
        return 0, RateStep(_rate_key(webhook.id, minute), amount, wait, exact=False)
    return 0, None


def rate_result(webhook: WebhookInfo, step: RateStep, total: int) -> int:
    """Seconds to wait given the counter Redis returned for `step` (0 = accepted)."""
    window = _windows.get(webhook.id)
    if window is not None and step.key == _rate_key(webhook.id, window.minute):
        window.total = max(window.total, total)
    if step.exact:
        return step.wait if total > webhook.rate_limit_per_minute else 0
    return 0


def _rate_limited(webhook: WebhookInfo, now: float) -> int:
    """Seconds to wait when this webhook is over its per-minute limit, else 0 (and counted)."""
    wait, step = rate_step(webhook, now)
    return wait if step is None else _rate_sync(webhook, step)


def _rate_sync(webhook: WebhookInfo, step: RateStep) -> int:
    try:
        pipe = services.redis_client().pipeline(transaction=False)
        pipe.incrby(step.key, step.amount)
        pipe.expire(step.key, 61)
        return rate_result(webhook, step, int(pipe.execute()[0]))
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
    if _deeper_than(data, MAX_DEPTH):
        return body, _error(400, f"The body nests objects and arrays over {MAX_DEPTH} levels deep.")
    if b"\\u0000" in body:
        # PostgreSQL's jsonb cannot hold U+0000: store it as U+FFFD rather than lose the event.
        return orjson.dumps(_without_nul(data)), None
    return body, None


def _deeper_than(data: dict[str, Any], limit: int) -> bool:
    """True when objects and arrays nest more than `limit` levels (the body itself is 1)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    return value


INSERT_SQL = """
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


def insert_params(
    webhook: WebhookInfo, routing_key: str, headers: dict[str, str], body: bytes, now: datetime
) -> dict[str, str | int | datetime]:
    """The parameters of INSERT_SQL for one event (`ref` is the new reference id)."""
    return {
        "org": webhook.organization_id,
        "ref": str(uuid.uuid4()),
        "ref_status": ReferenceStatus.PENDING if webhook.enabled else ReferenceStatus.STOPPED,
        "reason": "" if webhook.enabled else "The webhook is disabled.",
        "now": now,
        "webhook": webhook.id,
        "routing_key": routing_key,
        "headers": orjson.dumps(headers).decode(),
        "body": body.decode(),
        "status": RawEventStatus.PENDING if webhook.enabled else RawEventStatus.REJECTED,
    }


def _store(params: dict[str, str | int | datetime]) -> int:
    """INSERT the reference and the raw event in one statement (autocommit): durable on return."""
    for attempt in (1, 2):
        try:
            with connection.wrap_database_errors:
                connection.ensure_connection()
                # Server-side binding and, where prepared statements are allowed
                # (OPSDUTY_DB_PREPARED_STATEMENTS: not behind PgBouncer before 1.21, where
                # `prepare=True` does nothing), a prepared statement: no parsing or planning
                # in PostgreSQL per event.
                with psycopg.Cursor(connection.connection) as cursor:
                    cursor.execute(INSERT_SQL, params, prepare=True)
                    row = cursor.fetchone()
            assert row is not None
            return int(row[0])
        except (OperationalError, InterfaceError):
            # A persistent connection the server dropped: reconnect once, then give up.
            connection.close()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _reconnecting(lookup: Callable[..., Any], step: Step) -> Any:
    """Run a lookup step; a persistent connection the server dropped is replaced once (the
    bare WSGI path skips Django's per-request connection health check)."""
    try:
        return lookup(*step[1:])
    except (OperationalError, InterfaceError):
        connection.close()
        return lookup(*step[1:])


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


@dataclass(frozen=True)
class Request:
    """One receipt: what the HTTP layer hands over before the body is read."""

    method: str
    webhook_key: str
    routing_key: str
    content_type: str
    content_length: int | None
    headers: Mapping[str, str]


# The I/O the steps ask their driver for, and what the driver sends back:
#   ("webhook", key)                 -> WebhookInfo | None
#   ("routing_key", org_id, key)     -> bool
#   ("read", max_bytes)              -> bytes
#   ("rate", webhook, RateStep)      -> int (seconds to wait, 0 = accepted)
#   ("store", params)                -> int (raw event id) or DatabaseError raised
#   ("kick",)                        -> None
Step = tuple[Any, ...]


def receive_steps(request: Request) -> Generator[Step, Any, Answer]:
    """The receiver's logic without I/O: yields what it needs, returns the answer.

    The WSGI/Django driver (`receive`) and the ASGI driver (`signals/receiver/ingest_async.py`)
    run these same steps, so both answer alike.
    """
    if request.method != "POST":
        return _error(405, "Send events with POST.", ("Allow", "POST"))
    key = _canonical(request.webhook_key)
    webhook = None if key is None else _cached_hit(_webhooks, key)
    if webhook is _MISS:
        webhook = yield ("webhook", key)
    if webhook is None:
        return _error(404, "Unknown webhook: check the webhook key in the URL.")
    assert isinstance(webhook, WebhookInfo)
    known = _routing_key_cached(webhook.organization_id, request.routing_key)
    if known is _MISS:
        known = yield ("routing_key", webhook.organization_id, request.routing_key)
    if not known:
        return _error(404, "Unknown routing key: use a service's or a routing rule's key.")
    if request.content_length is not None and request.content_length > MAX_BODY:
        return _error(413, f"The body is over {MAX_BODY // 1024} KB.")
    if not _json_type(request.content_type):
        return _error(415, "Send JSON with the header Content-Type: application/json.")
    body = yield ("read", MAX_BODY + 1)
    if len(body) > MAX_BODY:
        return _error(413, f"The body is over {MAX_BODY // 1024} KB.")
    body, problem = _parse(body)
    if problem is not None:
        return problem
    wait, rate = rate_step(webhook, time.time())
    if rate is not None:
        wait = yield ("rate", webhook, rate)
    if wait:
        return _error(
            429,
            f"Rate limit of {webhook.rate_limit_per_minute} events a minute exceeded; "
            f"retry in {wait} s.",
            ("Retry-After", str(wait)),
        )
    params = insert_params(
        webhook, request.routing_key, _headers(request.headers), body, timezone.now()
    )
    try:
        yield ("store", params)
    except DatabaseError as error:
        logger.error("raw event not stored: %s", type(error).__name__)
        return unavailable()
    if not webhook.enabled:
        return Answer(
            202,
            {
                "id": params["ref"],
                "status": "stopped",
                "detail": "The webhook is disabled: the event is stored but will not be processed.",
            },
        )
    yield ("kick",)
    return Answer(202, {"id": params["ref"]})


def receive(*, request: Request, read: Callable[[int], bytes]) -> Answer:
    """Run the receiver's steps with blocking I/O (WSGI, the Django view)."""
    steps = receive_steps(request)
    reply: Any = None
    while True:
        try:
            step = steps.send(reply)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        kind = step[0]
        reply = None
        if kind in ("webhook", "routing_key"):
            try:
                reply = _reconnecting(_webhook if kind == "webhook" else _routing_key_known, step)
            except DatabaseError as error:
                # PostgreSQL is down (or restarting): ask the sender to retry later.
                logger.error("webhook lookup failed: %s", type(error).__name__)
                return unavailable()
        elif kind == "read":
            reply = read(step[1])
        elif kind == "rate":
            reply = _rate_sync(step[1], step[2])
        elif kind == "store":
            try:
                reply = _store(step[1])
            except DatabaseError as error:
                try:
                    step = steps.throw(error)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]
                raise AssertionError(f"unexpected step after a failed store: {step}") from None
        elif kind == "kick":
            services.drain_kick()


def wrong_path() -> Answer:
    return _error(404, "Use /integrations/webhooks/enque/event/<webhook-key>/<routing-key>.")


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
        answer = wrong_path()
    else:
        request = Request(
            method=environ.get("REQUEST_METHOD", ""),
            webhook_key=parts[0],
            routing_key=parts[1],
            content_type=environ.get("CONTENT_TYPE", ""),
            content_length=int(length_text) if length_text.isdigit() else None,
            headers=_environ_headers(environ),
        )
        answer = receive(request=request, read=stream.read)
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
