"""The webhook receiver on ASGI: the same steps as `signals.receiver.ingest.receive`, async I/O.

`opsduty/asgi.py` sends webhook paths here; uvicorn's event loop then serves many senders
per process without a thread each, and the durable INSERT waits on PostgreSQL without
blocking anything else. The database is reached through a psycopg async connection pool
(the prepared INSERT of `ingest.INSERT_SQL`, autocommit), Redis through `redis.asyncio`.
Queuing a drain is a blocking Celery call, so it runs in a thread; it happens at most every
`services.KICK_EVERY` seconds per process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import redis.asyncio
from django.conf import settings
from django.db import DatabaseError
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from opsduty.crypto import secret_digest
from opsduty.ratelimit import rate_limit_close_async
from opsduty.routing_keys import routing_key_known_params, routing_key_known_sql
from signals.receiver import ingest, services

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_pool: AsyncConnectionPool | None = None
_pool_loop: asyncio.AbstractEventLoop | None = None
_redis: redis.asyncio.Redis | None = None
_redis_loop: asyncio.AbstractEventLoop | None = None


# Seconds a request waits for a pooled connection before it answers 503 (PostgreSQL down);
# psycopg_pool's default, 30 s, would outlast most senders' own time-outs.
POOL_TIMEOUT = 3.0
# The libpq options of settings.DATABASES that the pool uses too (connect time-out, TCP
# keepalives: docs/operations.md).
_LIBPQ_OPTIONS = (
    "connect_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
)


def _conninfo() -> str:
    db = settings.DATABASES["default"]
    options = {k: v for k, v in db.get("OPTIONS", {}).items() if k in _LIBPQ_OPTIONS}
    return psycopg.conninfo.make_conninfo(
        host=db["HOST"],
        port=db["PORT"],
        user=db["USER"],
        password=db["PASSWORD"],
        dbname=db["NAME"],
        **options,
    )


async def _db() -> AsyncConnectionPool:
    global _pool, _pool_loop  # noqa: PLW0603 - one pool per process (per event loop)
    loop = asyncio.get_running_loop()
    if _pool is not None and _pool_loop is not loop:
        # A pool belongs to the loop that opened it (one per process under uvicorn; tests
        # and embedded servers may run several loops in turn): never reuse another loop's.
        _pool = None
    if _pool is None:
        _pool_loop = loop
        _pool = AsyncConnectionPool(
            _conninfo(),
            min_size=1,
            max_size=8,
            # psycopg's default threshold, or none behind a PgBouncer that cannot follow
            # prepared statements (OPSDUTY_DB_PREPARED_STATEMENTS): `prepare=True` is a no-op.
            kwargs={
                "autocommit": True,
                "prepare_threshold": 5 if settings.OPSDUTY_DB_PREPARED_STATEMENTS else None,
            },
            open=False,
            timeout=POOL_TIMEOUT,
        )
        await _pool.open()
    return _pool


_retired: set[asyncio.Task[None]] = set()


def _pool_retire(pool: AsyncConnectionPool) -> None:
    """Replace a pool that could not hand out a connection within POOL_TIMEOUT.

    Its reconnection attempts back off (1, 2, 4 ... s, for up to 5 minutes), so after a
    long PostgreSQL outage it could keep answering 503 for a minute after the database came
    back. The next request opens a fresh pool, which connects at once; the old one closes in
    the background.
    """
    global _pool  # noqa: PLW0603 - one pool per process (per event loop)
    if _pool is pool:
        _pool = None
        task = asyncio.get_running_loop().create_task(pool.close(timeout=1.0))
        _retired.add(task)
        task.add_done_callback(_retired.discard)


async def close() -> None:
    """Close the pool and the Redis client (tests run each case on a new event loop)."""
    global _pool, _redis  # noqa: PLW0603
    if _pool is not None and _pool_loop is asyncio.get_running_loop():
        await _pool.close()
    if _redis is not None and _redis_loop is asyncio.get_running_loop():
        await _redis.aclose()
    _pool, _redis = None, None
    await rate_limit_close_async()  # the check-in limit's connections (opsduty/ratelimit.py)


def _redis_client() -> redis.asyncio.Redis:
    global _redis, _redis_loop  # noqa: PLW0603 - one client per process (per event loop)
    loop = asyncio.get_running_loop()
    if _redis is None or _redis_loop is not loop:
        _redis_loop = loop
        _redis = redis.asyncio.Redis.from_url(settings.REDIS_URL, socket_timeout=1.0)
    return _redis


async def _fetchone(sql: str, params: Any, *, prepare: bool = False) -> Any:
    """One statement on a pooled connection; DatabaseError when PostgreSQL cannot answer.

    A pooled connection the server has closed (PostgreSQL or PgBouncer restarted, an
    administrator's pg_terminate_backend) fails on first use: the pool then checks its idle
    connections, replacing the dead ones, and the statement is tried once more. The
    statement never reached the server on a connection that was already closed, so the
    retry stores an event once.
    """
    pool = await _db()
    for attempt in (1, 2):
        try:
            async with pool.connection() as conn:
                try:
                    cursor = await conn.execute(sql, params, prepare=prepare)
                    return await cursor.fetchone()
                except psycopg.OperationalError:
                    if not conn.broken or attempt == 2:
                        raise
            await pool.check()
        except PoolTimeout as error:
            _pool_retire(pool)
            raise DatabaseError(str(error)) from error
        except psycopg.Error as error:
            raise DatabaseError(str(error)) from error
    raise AssertionError("unreachable")


async def _webhook(key: str) -> ingest.WebhookInfo | None:
    row = await _fetchone(ingest.WEBHOOK_SQL, [secret_digest(key)])
    info = ingest.WebhookInfo(*row) if row else None
    return ingest.remember(ingest._webhooks, key, info)  # type: ignore[no-any-return]


async def _routing_key(organization_id: int, routing_key: str) -> bool:
    params = routing_key_known_params(organization_id, routing_key)
    row = await _fetchone(routing_key_known_sql(), params)
    known = bool(row and row[0])
    return bool(ingest.remember(ingest._routing_keys, (organization_id, routing_key), known))


async def _rate(webhook: ingest.WebhookInfo, step: ingest.RateStep) -> int:
    try:
        async with _redis_client().pipeline(transaction=False) as pipe:
            pipe.incrby(step.key, step.amount)
            pipe.expire(step.key, 61)
            total = int((await pipe.execute())[0])
    except redis.RedisError:
        logger.warning("rate limit skipped: Redis unavailable")
        return 0
    return ingest.rate_result(webhook, step, total)


async def _read(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        more = bool(message.get("more_body"))
    return b"".join(chunks) if size <= limit else b"x" * limit  # over the limit: refused


async def _run(request: ingest.Request, receive: Receive) -> ingest.Answer:
    steps = ingest.receive_steps(request)
    reply: Any = None
    while True:
        try:
            step = steps.send(reply)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        kind, reply = step[0], None
        if kind in ("webhook", "routing_key"):
            try:
                reply = await (_webhook(step[1]) if kind == "webhook" else _routing_key(*step[1:]))
            except DatabaseError as error:
                logger.error("webhook lookup failed: %s", type(error).__name__)
                return ingest.unavailable()
        elif kind == "read":
            reply = await _read(receive, step[1])
        elif kind == "rate":
            reply = await _rate(step[1], step[2])
        elif kind == "store":
            try:
                row = await _fetchone(ingest.INSERT_SQL, step[1], prepare=True)
                reply = int(row[0])
            except DatabaseError as error:
                try:
                    steps.throw(error)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]
                raise AssertionError("unexpected step after a failed store") from None
        elif kind == "kick":
            await _kick()


async def _kick() -> None:
    if not services.kick_due():
        return
    try:
        if await _redis_client().set(services.DRAIN_FLAG, "1", nx=True, px=services.DRAIN_FLAG_MS):
            await asyncio.to_thread(services.drain_queue)
    except Exception:  # noqa: BLE001 - the sweeper queues a drain for anything left waiting
        logger.warning("drain not queued; the sweeper will pick the events up")


def _request(scope: Scope) -> tuple[ingest.Request | None, ingest.Answer | None]:
    parts = scope["path"][len(ingest.PREFIX) :].strip("/").split("/")
    if len(parts) != 2:
        return None, ingest.wrong_path()
    headers = {
        name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
    }
    client = scope.get("client")
    headers["remote-addr"] = client[0] if client else ""
    length = headers.get("content-length", "")
    return (
        ingest.Request(
            method=scope["method"],
            webhook_key=parts[0],
            routing_key=parts[1],
            content_type=headers.get("content-type", ""),
            content_length=int(length) if length.isdigit() else None,
            headers=headers,
        ),
        None,
    )


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The receiver as an ASGI application (HTTP scopes under ingest.PREFIX)."""
    request, answer = _request(scope)
    if request is not None:
        answer = await _run(request, receive)
    assert answer is not None
    if answer.status == 429 and settings.OPSDUTY_RATE_LIMIT_TARPIT_MS > 0:
        # Tarpit: the flooding connection waits (a sleeping coroutine costs nothing), so a
        # sender that retries at once sends a few requests a second instead of thousands.
        await asyncio.sleep(settings.OPSDUTY_RATE_LIMIT_TARPIT_MS / 1000)
    content = answer.content()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in answer.headers),
    ]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": content})
