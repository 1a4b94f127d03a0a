"""The public heartbeat check-in on the event loop (what `make run` serves).

A check-in is the hottest request a heartbeat gets (10,000 one-minute jobs are ~170/s), and
Django's middleware stack costs more than the check-in itself. Under ASGI (`opsduty.asgi`)
the common case is answered here with two statements on the receiver's async pool: read
the environment by key (and name), then one statement that moves its deadline and records
the check-in. Anything else goes on to the Django view (`signals.heartbeats.checkin`), which
gives the same answers through the ORM: unknown keys and environments (its 404 messages),
a check-in that must resolve an incident the misses opened, and methods other than GET,
HEAD and POST. Both paths write with the one statement `signals.heartbeats.services.CHECKIN_SQL`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import psycopg
from django.conf import settings
from django.utils import timezone

from opsduty.crypto import secret_digest
from opsduty.ratelimit import rate_limit_hit_async, refusal_detail
from signals.heartbeats.models import HeartbeatState
from signals.heartbeats.services import CHECKIN_SQL, checkin_params
from signals.receiver.ingest_async import Receive, Scope, Send, _db

logger = logging.getLogger(__name__)

PREFIX = "/heartbeats/checkin/"
METHODS = ("GET", "HEAD", "POST")

_SELECT = """
    SELECT s.id, s.type, s.cron_expression, s.cron_timezone, s.interval_seconds,
        s.timeout_seconds, s.environment
    FROM signals_heartbeatstate s JOIN signals_heartbeat h ON h.id = s.heartbeat_id"""
STATE_SQL = _SELECT + " WHERE h.public_primary_key_hash = %s AND s.environment = %s"
ONLY_STATE_SQL = _SELECT + " WHERE h.public_primary_key_hash = %s ORDER BY s.id LIMIT 2"


def _target(path: str) -> tuple[str, str | None] | None:
    """(key, environment or None) of a check-in path; None for any other shape."""
    rest = path[len(PREFIX) :]
    if "\x00" in rest:
        return None  # PostgreSQL text cannot hold U+0000: the Django view answers the 404
    if rest.endswith("/"):
        rest = rest[:-1]
    key, _, environment = rest.partition("/")
    if not key:
        return None
    return key, environment or None


async def handle(scope: Scope, receive: Receive, send: Send) -> bool:
    """Answer a check-in; False when the Django view must answer it instead."""
    target = _target(scope["path"]) if scope["method"] in METHODS else None
    if target is None:
        return False
    key, environment = target
    # Per heartbeat, before the database (opsduty/ratelimit.py). A check-in handed on to the
    # Django view below is counted there once more: only the rare ones (unknown keys, a
    # check-in that resolves an incident).
    wait = await rate_limit_hit_async("heartbeat_checkin", key)
    if wait:
        if settings.OPSDUTY_RATE_LIMIT_TARPIT_MS > 0:  # as the webhook receiver's 429
            await asyncio.sleep(settings.OPSDUTY_RATE_LIMIT_TARPIT_MS / 1000)
        await _answer(
            scope,
            send,
            {"detail": refusal_detail(wait)},
            status=429,
            extra=[(b"retry-after", str(wait).encode())],
        )
        return True
    pool = await _db()
    try:
        async with pool.connection() as conn:
            if environment is None:
                digest = secret_digest(key)
                rows = await (await conn.execute(ONLY_STATE_SQL, [digest], prepare=True)).fetchall()
                row = rows[0] if len(rows) == 1 else None
            else:
                lookup = [secret_digest(key), environment]
                cursor = await conn.execute(STATE_SQL, lookup, prepare=True)
                row = await cursor.fetchone()
            if row is None:
                return False
            state_id, kind, expression, zone, interval, timeout, name = row
            state = HeartbeatState(
                pk=state_id,
                type=kind,
                cron_expression=expression,
                cron_timezone=zone,
                interval_seconds=interval,
                timeout_seconds=timeout,
            )
            headers = {k.decode("latin-1").lower(): v for k, v in scope["headers"]}
            client = scope.get("client")
            params = checkin_params(
                state=state,
                at=timezone.now(),
                source_ip=client[0] if client else None,
                user_agent=headers.get("user-agent", b"").decode("latin-1"),
                may_resolve=False,
            )
            done = await (await conn.execute(CHECKIN_SQL, params, prepare=True)).fetchone()
    except psycopg.Error:
        logger.warning("heartbeat check-in: the fast path failed; the Django view answers")
        return False
    if done is None:
        return False
    await _answer(scope, send, {"detail": "Check-in received.", "environment": name})
    return True


async def _answer(
    scope: Scope,
    send: Send,
    body: dict[str, Any],
    status: int = 200,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    content = json.dumps(body, ensure_ascii=False, separators=(", ", ": ")).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
        (b"x-content-type-options", b"nosniff"),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send(
        {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else content}
    )
