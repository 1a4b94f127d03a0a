"""The public page's cache (Redis, through Django's cache): rendered bodies keyed by
(page id, page version, variant, what). `StatusPage.version` moves on with every change
visitors see (statuspages/events.py `page_touched`), so the next request after a change
misses and renders afresh; old entries just expire.

Only bodies that are the same for every visitor the page lets in are stored: access is
decided before the cache is read (access.py), and nothing about the visitor is rendered
(no CSRF token, no name: the subscribe form needs none, see views.py). The variant is the
address the page is served at (its /status/<slug>/ path or its custom domain), which only
changes the links.

After a change one request renders the new version (it holds a render lock in the cache).
The requests that miss while it renders are answered at once with the last body stored for
the same page, variant and what (the `latest` entry, an older version), not kept waiting
for the render: stale while revalidating, for at most the render's time (the lock's life,
RENDER_WAIT_SECONDS, bounds it). A request that finds nobody rendering renders itself, so a
visitor who reloads after a change always gets the new version once the render is done, and
a sequence of requests never sees an older version after a newer one was stored. A body
older than the page's `retracted_version` (something was taken off the page since it was
rendered, e.g. a postmortem unpublished) is never served stale: those requests wait for the
render instead.
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
# The last stored body of each page, variant and what, served while its next version renders.
LATEST_TTL_SECONDS = 3600


@dataclass(frozen=True)
class Body:
    content: bytes
    content_type: str


def cache_key(page: StatusPage, variant: str, what: str) -> str:
    return f"statuspages:public:{page.pk}:{page.version}:{variant}:{what}"


def latest_key(page_id: int, variant: str, what: str) -> str:
    return f"statuspages:public:{page_id}:latest:{variant}:{what}"


def render_lock_key(key: str) -> str:
    return f"{key}:rendering"


def _get(key: str) -> Body | None:
    try:
        found = cache.get(key)
    except Exception:  # noqa: BLE001 - Redis down: serve from the database (docs/operations.md)
        return None
    if isinstance(found, tuple) and len(found) == 2:
        return Body(content=found[0], content_type=found[1])
    return None


def stale_body(stored: object, retracted_version: int) -> Body | None:
    """The `latest` entry as a body that may be served stale: None when there is none, or it
    was rendered before something was taken off the page (also read by fast.py)."""
    if isinstance(stored, tuple) and len(stored) == 3 and stored[0] >= retracted_version:
        return Body(content=stored[1], content_type=stored[2])
    return None


def _latest(page: StatusPage, variant: str, what: str) -> Body | None:
    try:
        found = cache.get(latest_key(page.pk, variant, what))
    except Exception:  # noqa: BLE001 - Redis down: no stale body
        return None
    return stale_body(found, page.retracted_version)


def _wait_for(key: str, lock: str) -> Body | None:
    """The body another process is rendering, when it is stored while its render lock lasts
    (at most RENDER_WAIT_SECONDS); None when the lock goes without a body (the render failed)."""
    deadline = time.monotonic() + RENDER_WAIT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(0.02)
        found = _get(key)
        if found is not None:
            return found
        try:
            if not cache.has_key(lock):
                return _get(key)
        except Exception:  # noqa: BLE001 - Redis down: render
            return None
    return None


def cached_body(page: StatusPage, variant: str, what: str, render: Callable[[], Body]) -> Body:
    """The stored body, or `render()` stored for TTL_SECONDS. A Redis error renders.

    A miss while another request renders this version is answered with the last stored
    body (see the module's text); when there is none yet it waits for the render's body, up
    to RENDER_WAIT_SECONDS, instead of rendering the same page at the same time."""
    key = cache_key(page, variant, what)
    found = _get(key)
    if found is not None:
        return found
    lock = render_lock_key(key)
    try:
        leader = cache.add(lock, 1, RENDER_WAIT_SECONDS)
    except Exception:  # noqa: BLE001 - Redis down: render
        leader = True
    if not leader:
        found = _latest(page, variant, what) or _wait_for(key, lock)
        if found is not None:
            return found
    try:
        body = render()
    except BaseException:
        with contextlib.suppress(Exception):
            cache.delete(lock)  # the others render instead of serving stale until it expires
        raise
    with contextlib.suppress(Exception):  # best effort: Redis down serves uncached
        cache.set(key, (body.content, body.content_type), TTL_SECONDS)
        _store_latest(page, variant, what, body)
    return body


def _store_latest(page: StatusPage, variant: str, what: str, body: Body) -> None:
    """Kept unless a newer version is already there (a slow render of an older version
    finishing last must not bring it back)."""
    latest = latest_key(page.pk, variant, what)
    stored = cache.get(latest)
    if isinstance(stored, tuple) and len(stored) == 3 and stored[0] > page.version:
        return
    cache.set(latest, (page.version, body.content, body.content_type), LATEST_TTL_SECONDS)
