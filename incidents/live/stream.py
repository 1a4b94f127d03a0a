"""The live stream: server-sent events for a signed-in browser, on the event loop.

`opsduty/asgi.py` sends `GET /live/` here. A stream holds no thread (a Django streaming view
would hold one of a2wsgi's eight for as long as the tab is open): it is a coroutine waiting
for its hub (`hub.py`) to hand it events. It answers 401 without a valid session of an active
user (the session cookie, checked as Django checks it), then:

- a first event with the viewer's open count and `resync` (the page refreshes what it shows:
  whatever changed between its rendering and now);
- an event per burst of changes in the viewer's organization that concern them (ids of the
  incidents on services they see, their open count, whether on-call widgets refresh);
- a comment every `KEEPALIVE` seconds, so proxies and browsers keep the connection open;
- every `RECHECK` seconds (with jitter) the session is checked again, which ends the stream of
  a user signed out, deactivated or changed; memberships are read again at the same time.

The stream ends when the client goes away, or when the hub closes it (a stalled reader): the
browser's EventSource then reconnects by itself after the `retry` delay.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.http.cookie import parse_cookie
from django.http.request import split_domain_port, validate_host

from incidents.live import PATH
from incidents.live.hub import Client, Hub, hub_get, run_sync
from incidents.live.selectors import viewer_get

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

KEEPALIVE = 20.0  # seconds between keep-alive comments
RECHECK = 120.0  # seconds between session checks (each one a little earlier or later)
RETRY_MS = 2000  # how long the browser waits before it reconnects a broken stream

_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    # nginx (and proxies that honour it) must pass each event on at once, not buffer them.
    (b"x-accel-buffering", b"no"),
]


def _headers(scope: Scope) -> dict[str, str]:
    return {
        name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
    }


def _host_allowed(host: str) -> bool:
    """Django's ALLOWED_HOSTS check (this endpoint bypasses Django's request handling)."""
    domain, _port = split_domain_port(host)
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(domain) and validate_host(domain, allowed)


async def _answer(send: Send, status: int, text: str) -> None:
    body = text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _pump(hub: Hub, client: Client, receive: Receive, send: Send) -> bool:
    """Write the client's events until it leaves (True) or the stream should end (False)."""
    loop = asyncio.get_running_loop()
    gone = asyncio.ensure_future(_disconnected(receive))
    waiting: asyncio.Future[None] | None = None
    next_ping = loop.time() + KEEPALIVE
    # The first check falls anywhere in the interval: streams that opened together (after a
    # restart) are checked at the steady rate of streams / RECHECK, not all at once later.
    next_check = loop.time() + RECHECK * random.random()  # noqa: S311 - jitter
    try:
        while True:
            if waiting is None:
                waiting = asyncio.ensure_future(client.wait())
            timeout = max(0.0, min(next_ping, next_check) - loop.time())
            done, _ = await asyncio.wait(
                {gone, waiting}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if gone in done:
                return True
            if waiting in done:
                waiting = None
                data = client.take()
                if data:
                    await send({"type": "http.response.body", "body": data, "more_body": True})
                    next_ping = loop.time() + KEEPALIVE
                if client.closed:
                    return False
                continue
            now = loop.time()
            if now >= next_check:
                viewer = await run_sync(viewer_get, session_key=client.viewer.session_key)
                if viewer is None or viewer.user_id != client.viewer.user_id:
                    return False
                hub.viewer_changed(client, viewer)
                next_check = now + RECHECK * random.uniform(0.9, 1.1)  # noqa: S311 - jitter
            if now >= next_ping:
                await send({"type": "http.response.body", "body": b": ping\n\n", "more_body": True})
                next_ping = now + KEEPALIVE
    finally:
        for future in (gone, waiting):
            if future is not None:
                future.cancel()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The live stream as an ASGI application (HTTP scopes at `PATH`)."""
    if scope["path"] != PATH:
        await _answer(send, 404, "Not found.")
        return
    if scope["method"] != "GET":
        await _answer(send, 405, "Use GET.")
        return
    headers = _headers(scope)
    if not _host_allowed(headers.get("host", "")):
        await _answer(send, 400, "Bad request.")
        return
    session_key = parse_cookie(headers.get("cookie", "")).get(settings.SESSION_COOKIE_NAME)
    viewer = await run_sync(viewer_get, session_key=session_key) if session_key else None
    if viewer is None:
        await _answer(send, 401, "Sign in to follow live updates.")
        return
    hub = hub_get()
    client, first = await hub.join(viewer)
    try:
        await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
        opening = f"retry: {RETRY_MS}\n\n".encode() + first
        await send({"type": "http.response.body", "body": opening, "more_body": True})
        if not await _pump(hub, client, receive, send):
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        hub.leave(client)
