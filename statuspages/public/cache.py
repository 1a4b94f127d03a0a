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
from collections.abc import Callable
from dataclasses import dataclass

from django.core.cache import cache

from statuspages.models import StatusPage

# Uptime figures and "today" move with time, not only with changes: a bound on their age.
TTL_SECONDS = 60


@dataclass(frozen=True)
class Body:
    content: bytes
    content_type: str


def cache_key(page: StatusPage, variant: str, what: str) -> str:
    return f"statuspages:public:{page.pk}:{page.version}:{variant}:{what}"


def cached_body(page: StatusPage, variant: str, what: str, render: Callable[[], Body]) -> Body:
    """The stored body, or `render()` stored for TTL_SECONDS. A Redis error renders."""
    key = cache_key(page, variant, what)
    try:
        found = cache.get(key)
    except Exception:  # noqa: BLE001 - Redis down: serve from the database (docs/operations.md)
        found = None
    if isinstance(found, tuple) and len(found) == 2:
        return Body(content=found[0], content_type=found[1])
    body = render()
    with contextlib.suppress(Exception):  # best effort: Redis down serves uncached
        cache.set(key, (body.content, body.content_type), TTL_SECONDS)
    return body
