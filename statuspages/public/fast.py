"""The public status page on the event loop (issue 22, item 9; what `make run` serves).

A cached request for a public page cost Django's whole middleware stack and a hop through
a2wsgi's thread pool (about 5.7 ms of CPU), for a body that is already in Redis. Under ASGI
(`opsduty.asgi`) the common case is answered here instead: a GET of exactly `/status/<slug>/`
without a query string or cookies, on the product's own host, for an enabled page whose
access mode is `public`. One prepared statement on the receiver's async pool reads the
page's id, version, mode and enabled flag by slug; one Redis GET reads the body Django
stored under the same key (cache.py `cache_key`, the "path" variant, "front"), and it is
sent with the headers the Django answer has (`_security_headers`, kept equal to it by
tests/statuspages/test_public_fast.py).

Everything else goes on to Django unchanged (`handle` answers False): a miss (the first
request after a change renders there, and stores the body this path serves next; the
requests that miss while it renders are answered here with the last stored body, or wait
here for the new one when there is none, `_while_rendering`), any
other access mode, a disabled or unknown page, a query string, a Cookie header, a custom
domain or any host Django would refuse, HEAD and other methods, an HTTPS redirect,
PostgreSQL or Redis unavailable. The version is read on every request, so a change shows
on the next one.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from functools import cache
from typing import Any

import psycopg
import redis
from csp.utils import build_policy
from django.conf import settings
from django.core.cache import cache as django_cache
from django.core.cache.backends.redis import RedisSerializer
from django.http.request import split_domain_port, validate_host

from signals.receiver.ingest_async import Receive, Scope, Send, _db, _redis_client
from statuspages.models import AccessMode
from statuspages.public.cache import (
    RENDER_WAIT_SECONDS,
    latest_key,
    render_lock_key,
    stale_body,
)
from statuspages.public.middleware import _allowed_hosts

logger = logging.getLogger(__name__)

PREFIX = "/status/"
# `/status/<slug:slug>/` exactly (Django's slug converter), nothing below it.
_PATH = re.compile(r"/status/([-a-zA-Z0-9_]+)/")

RENDER_POLL_SECONDS = 0.005

PAGE_SQL = (
    "SELECT id, version, access_mode, enabled, retracted_version"
    " FROM statuspages_statuspage WHERE slug = %s"
)

_serializer = RedisSerializer()


def _request_headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _is_secure(scope: Scope, headers: dict[str, str]) -> bool:
    """As Django's `request.is_secure()` (SECURE_PROXY_SSL_HEADER, else the scheme)."""
    proxy = settings.SECURE_PROXY_SSL_HEADER
    if proxy:
        name, value = proxy
        found = headers.get(name.removeprefix("HTTP_").replace("_", "-").lower())
        if found is not None:
            return found.split(",", 1)[0].strip() == value
    return bool(scope.get("scheme") == "https")


def _host_is_ours(headers: dict[str, str]) -> bool:
    """The Host Django would accept as the product's own (not a custom domain, not refused)."""
    if settings.USE_X_FORWARDED_HOST and "x-forwarded-host" in headers:
        return False  # left to Django
    host = headers.get("host")
    if not host:
        return False
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, _allowed_hosts())


@cache
def _security_headers(secure: bool) -> tuple[tuple[bytes, bytes], ...]:
    """What SecurityMiddleware, CSPMiddleware and XFrameOptionsMiddleware add to the page's
    answer (no nonce: the cached body is rendered without the request)."""
    out: list[tuple[str, str]] = []
    if secure and settings.SECURE_HSTS_SECONDS:
        sts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            sts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            sts += "; preload"
        out.append(("strict-transport-security", sts))
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        out.append(("x-content-type-options", "nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        if not isinstance(policy, str):
            policy = ",".join(policy)
        out.append(("referrer-policy", policy))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        out.append(("cross-origin-opener-policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
    # As CSPMiddleware builds them (the same calls, so the same directive order).
    for name, setting, report_only in (
        ("content-security-policy", "CONTENT_SECURITY_POLICY", False),
        ("content-security-policy-report-only", "CONTENT_SECURITY_POLICY_REPORT_ONLY", True),
    ):
        policy = build_policy(report_only=report_only)
        prefixes = (getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES") or ()
        if policy and not PREFIX.startswith(tuple(prefixes)):
            out.append((name, policy))
    out.append(("x-frame-options", settings.X_FRAME_OPTIONS))
    return tuple((k.encode(), v.encode("latin-1")) for k, v in out)


def _key(page_id: int, version: int) -> str:
    # cache.py `cache_key` for the front page at its /status/<slug>/ address (unprefixed).
    return f"statuspages:public:{page_id}:{version}:path:front"


def _loads(raw: Any) -> tuple[Any, ...] | None:
    if not isinstance(raw, bytes):
        return None
    try:
        found: Any = _serializer.loads(raw)
    except Exception:  # noqa: BLE001 - anything unexpected in the cache: Django renders
        return None
    return found if isinstance(found, tuple) else None


async def _while_rendering(
    client: Any, page_id: int, key: str, retracted: int
) -> tuple[Any, ...] | None:
    """After a change, while another request renders this version (cache.py's render lock
    is held): the last stored body of the front page (cache.py `latest_key`: stale while
    revalidating) unless it was rendered before the page's `retracted_version`, else the new
    body as soon as it is stored, waited for here rather than in one of a2wsgi's threads;
    None when nobody renders it (Django renders) or the render outlasts the lock."""
    lock = django_cache.make_key(render_lock_key(key))
    if not await client.exists(lock):
        return None
    latest = _loads(await client.get(django_cache.make_key(latest_key(page_id, "path", "front"))))
    stale = stale_body(latest, retracted)
    if stale is not None:
        return stale.content, stale.content_type
    deadline = time.monotonic() + RENDER_WAIT_SECONDS
    while await client.exists(lock) and time.monotonic() < deadline:
        await asyncio.sleep(RENDER_POLL_SECONDS)
        raw = await client.get(django_cache.make_key(key))
        if raw is not None:
            return _loads(raw)
    return None


async def handle(scope: Scope, receive: Receive, send: Send) -> bool:
    """Answer a cached public page; False when Django must answer instead."""
    if scope["method"] != "GET" or scope.get("query_string"):
        return False
    match = _PATH.fullmatch(scope["path"])
    if match is None:
        return False
    headers = _request_headers(scope)
    if "cookie" in headers or not _host_is_ours(headers):
        # A visitor with cookies (a signed-in member: a session that could be refreshed, a
        # CSRF or messages cookie) is answered by Django, whatever its middleware does.
        return False
    secure = _is_secure(scope, headers)
    if settings.SECURE_SSL_REDIRECT and not secure:
        return False  # Django's redirect
    try:
        pool = await _db()
        async with pool.connection() as conn:
            cursor = await conn.execute(PAGE_SQL, [match.group(1)], prepare=True)
            row = await cursor.fetchone()
    except psycopg.Error:
        logger.warning("status page: the fast path could not read the page; Django answers")
        return False
    if row is None:
        return False
    page_id, version, access_mode, enabled, retracted = row
    if not enabled or access_mode != AccessMode.PUBLIC:
        return False
    key = _key(page_id, version)
    try:
        client = _redis_client()
        raw = await client.get(django_cache.make_key(key))
        found = (
            _loads(raw)
            if raw is not None
            else await _while_rendering(client, page_id, key, retracted)
        )
    except redis.RedisError:
        return False
    if found is None or len(found) != 2:
        return False  # a miss
    content, content_type = found
    if not isinstance(content, bytes) or not isinstance(content_type, str):
        return False
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", content_type.encode("latin-1")),
                (b"cache-control", b"no-cache"),
                # SessionMiddleware's: the page's middleware reads the (absent) session.
                (b"vary", b"Cookie"),
                *_security_headers(secure),
                (b"content-length", str(len(content)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})
    return True
