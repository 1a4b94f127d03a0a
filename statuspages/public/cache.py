"""The public page's cache (Redis, through Django's cache): rendered bodies keyed by
(page id, page version, variant, what). `StatusPage.version` moves on with every change
visitors see (statuspages/events.py `page_touched`), so the next request after a change
misses and renders afresh; old entries just expire.

Only bodies that are the same for every visitor the page lets in are stored: access is
decided before the cache is read (access.py), and nothing about the visitor is rendered
(no CSRF token, no name: the subscribe form needs none, see views.py). The variant is the
address the page is served at (its /status/<slug>/ path or its custom domain), which only
changes the links.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.core.cache import cache

from statuspages.models import StatusPage

# Uptime figures and "today" move with time, not only with changes: a bound on their age.
TTL_SECONDS = 60
RENDER_WAIT_SECONDS = 3


@dataclass(frozen=True)
class Body:
    content: bytes
    content_type: str


def cache_key(page: StatusPage, variant: str, what: str) -> str:
    return f"statuspages:public:{page.pk}:{page.version}:{variant}:{what}"


def _get(key: str) -> Body | None:
    try:
        found = cache.get(key)
    except Exception:  # noqa: BLE001 - Redis down: serve from the database (docs/operations.md)
        return None
    if isinstance(found, tuple) and len(found) == 2:
        return Body(content=found[0], content_type=found[1])
    return None


def _wait_for(key: str) -> Body | None:
    """The body another process is rendering, when it is stored within RENDER_WAIT."""
    deadline = time.monotonic() + RENDER_WAIT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(0.02)
        found = _get(key)
        if found is not None:
            return found
    return None


def cached_body(page: StatusPage, variant: str, what: str, render: Callable[[], Body]) -> Body:
    """The stored body, or `render()` stored for TTL_SECONDS. A Redis error renders.

    After a change every visitor misses at once: one request renders (it holds a lock in
    the cache) and the others wait for its body, up to RENDER_WAIT_SECONDS, instead of all
    rendering the same page at the same time (which took a loaded server seconds)."""
    key = cache_key(page, variant, what)
    found = _get(key)
    if found is not None:
        return found
    try:
        leader = cache.add(f"{key}:rendering", 1, RENDER_WAIT_SECONDS)
    except Exception:  # noqa: BLE001 - Redis down: render
        leader = True
    if not leader:
        found = _wait_for(key)
        if found is not None:
            return found
    body = render()
    with contextlib.suppress(Exception):  # best effort: Redis down serves uncached
        cache.set(key, (body.content, body.content_type), TTL_SECONDS)
    return body
