"""Request bodies are read on the event loop, within a deadline, before any app sees them.

uvicorn puts no limit on how long a request body may take to arrive, and Django runs in
a2wsgi's thread pool (`opsduty/asgi.py`, 8 threads per process), where a view reading
`request.body` blocks its thread until the last byte. A client that sends a body a byte at a
time (or stops half way) would hold a thread for as long as it likes, and eight of them
would stop the UI of that process. So the ASGI entry reads every request body here first,
as a reverse proxy buffers it (nginx's `proxy_request_buffering`): on the event loop, where
a waiting client costs a coroutine and no thread, and

- refuses a body that has not fully arrived `OPSDUTY_REQUEST_BODY_SECONDS` after the
  request started with `408 Request Timeout` (and the connection is closed);
- refuses a body over `MAX_BODY` bytes (Django's own `DATA_UPLOAD_MAX_MEMORY_SIZE`, 2.5 MB)
  with `413 Content Too Large`, from its Content-Length before reading anything, else as
  soon as the count passes it.

The app then gets the whole body in one message. Requests without a body (no Content-Length
or a zero one, and not chunked) pass straight through.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from django.conf import settings

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Coroutine[Any, Any, None]]


def max_body() -> int:
    """The largest request body accepted (bytes)."""
    return int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440)


def _has_body(headers: dict[bytes, bytes]) -> tuple[bool, int | None]:
    """(whether a body follows, its declared length if any)."""
    length = headers.get(b"content-length", b"").strip()
    declared = int(length) if length.isdigit() else None
    chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
    return chunked or bool(declared), declared


async def _refuse(send: Send, status: int, detail: str) -> None:
    content = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


async def _read(receive: Receive, limit: int) -> bytes | None:
    """The whole body; None when it passes `limit` bytes (or the client left)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def bounded_body(app: App) -> App:
    """Wrap an ASGI app: HTTP request bodies read here, within the deadline and size."""

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        has_body, declared = _has_body(dict(scope.get("headers") or []))
        if not has_body:
            await app(scope, receive, send)
            return
        limit, seconds = max_body(), settings.OPSDUTY_REQUEST_BODY_SECONDS
        if declared is not None and declared > limit:
            await _refuse(send, 413, f"The request body is over {limit // 1024} KB.")
            return
        try:
            async with asyncio.timeout(seconds):
                body = await _read(receive, limit)
        except TimeoutError:
            await _refuse(send, 408, f"The request body did not arrive within {seconds} s.")
            return
        if body is None:
            await _refuse(send, 413, f"The request body is over {limit // 1024} KB.")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: waits for the disconnect
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await app(scope, replay, send)

    return wrapper
