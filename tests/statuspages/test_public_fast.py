"""The public page as `make run` serves it (opsduty.asgi): the cached public page answered on
the event loop (statuspages/public/fast.py) exactly as Django answers it, and every other
case handed on to Django with the same outcome as before."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from copy import copy
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from django.core.cache import cache as django_cache

from opsduty.asgi import application, django_application
from opsduty.models import Organization, User
from signals.receiver import ingest_async
from statuspages.events import page_touched
from statuspages.models import AccessMode, Component, ComponentStatus, NoticeStatus, StatusPage
from statuspages.public import fast
from statuspages.public.cache import Body, cache_key, cached_body
from statuspages.services import postmortem_write
from tests.statuspages.world import make_component, make_group, make_notice, make_page, show

pytestmark = pytest.mark.django_db(transaction=True)

_T = TypeVar("_T")


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    fast: bool

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)


def _in_own_loop(coroutine: Coroutine[Any, Any, _T]) -> _T:
    async def run() -> _T:
        try:
            return await coroutine
        finally:
            await ingest_async.close()

    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(asyncio.run, run()).result()


def _scope(path: str, method: str, host: str, query: bytes, scheme: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "scheme": scheme,
        "server": ("127.0.0.1", 8000),
        "http_version": "1.1",
        "headers": [(b"host", host.encode()), (b"user-agent", b"browser/1.0")],
        "client": ("192.0.2.9", 50000),
        "query_string": query,
    }


def _get(
    path: str,
    *,
    method: str = "GET",
    host: str = "127.0.0.1",
    query: bytes = b"",
    scheme: str = "http",
    cookie: str | None = None,
    django_only: bool = False,
) -> Answer:
    """The answer of the ASGI application (or of Django alone), and whether fast.py gave it."""

    async def call() -> Answer:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = _scope(path, method, host, query, scheme)
        if cookie is not None:
            scope["headers"].append((b"cookie", cookie.encode()))
        was_fast = False
        if django_only:
            await django_application(scope, receive, send)  # type: ignore[arg-type]
        else:
            was_fast = await fast.handle(scope, receive, send)
            if not was_fast:
                await application(scope, receive, send)
        headers = sorted((k.decode().lower(), v.decode()) for k, v in sent[0]["headers"])
        body = b"".join(m.get("body", b"") for m in sent[1:])
        return Answer(sent[0]["status"], headers, body, was_fast)

    return _in_own_loop(call())


@pytest.fixture
def page(org_a: Organization) -> StatusPage:
    page = make_page(organization=org_a, name="Acme status", slug="acme", domain="status.acme.test")
    group = make_group(page, "Core", order=0)
    make_component(group, "API", 0)
    return page


def test_the_cached_page_is_served_on_the_event_loop_as_django_serves_it(page: StatusPage) -> None:
    first = _get("/status/acme/")
    assert (first.status, first.fast) == (200, False)  # the miss renders in Django
    served = _get("/status/acme/")
    assert served.fast
    assert b'<h2 id="headline">All systems operational</h2>' in served.body
    django = _get("/status/acme/", django_only=True)
    assert (served.status, served.headers, served.body) == (
        django.status,
        django.headers,
        django.body,
    )
    assert served.header("cache-control") == "no-cache"
    assert served.header("x-content-type-options") == "nosniff"
    assert served.header("content-security-policy")
    assert served.header("strict-transport-security") is None


def test_a_secure_request_gets_the_same_headers_as_from_django_hsts_included(
    page: StatusPage,
) -> None:
    _get("/status/acme/", scheme="https")
    served = _get("/status/acme/", scheme="https")
    django = _get("/status/acme/", scheme="https", django_only=True)
    assert served.fast
    assert (served.status, served.headers, served.body) == (
        django.status,
        django.headers,
        django.body,
    )
    assert served.header("strict-transport-security")


def test_a_change_shows_on_the_next_request(page: StatusPage) -> None:
    _get("/status/acme/")
    assert _get("/status/acme/").fast
    show(Component.objects.get(status_page=page), ComponentStatus.MAJOR_OUTAGE)
    after = _get("/status/acme/")
    assert not after.fast  # the new version is not cached yet: Django renders it
    assert b'<h2 id="headline">Major outage</h2>' in after.body
    again = _get("/status/acme/")
    assert again.fast
    assert b'<h2 id="headline">Major outage</h2>' in again.body


@pytest.mark.parametrize(
    ("mode", "status"), [(AccessMode.OPSDUTY_MEMBERS, 302), (AccessMode.CUSTOM_BACKEND, 403)]
)
def test_a_page_that_is_not_public_goes_to_django(page: StatusPage, mode: str, status: int) -> None:
    _get("/status/acme/")
    assert _get("/status/acme/").fast
    # Even with the public body of this very version in the cache.
    StatusPage.objects.filter(pk=page.pk).update(access_mode=mode)
    answer = _get("/status/acme/")
    assert (answer.status, answer.fast) == (status, False)
    assert b"All systems operational" not in answer.body


def test_a_disabled_or_unknown_page_goes_to_django(page: StatusPage) -> None:
    _get("/status/acme/")
    assert _get("/status/acme/").fast
    StatusPage.objects.filter(pk=page.pk).update(enabled=False)
    assert (_get("/status/acme/").status, _get("/status/acme/").fast) == (404, False)
    assert (_get("/status/nope/").status, _get("/status/nope/").fast) == (404, False)


def test_another_organizations_page_is_its_own(page: StatusPage, org_b: Organization) -> None:
    other = make_page(organization=org_b, name="Other status", slug="other")
    page_touched(other.pk)
    _get("/status/acme/")
    _get("/status/other/")
    acme, theirs = _get("/status/acme/"), _get("/status/other/")
    assert acme.fast and theirs.fast
    assert b"Acme status" in acme.body and b"Other status" not in acme.body
    assert b"Other status" in theirs.body and b"Acme status" not in theirs.body


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"method": "HEAD"}, 405),  # the Django view is GET only
        ({"method": "POST"}, 403),  # no CSRF token
        ({"query": b"x=1"}, 200),
        ({"host": "status.acme.test"}, 404),  # a custom domain: its own URLconf
        ({"host": "evil.example"}, 400),  # a Host Django refuses
        ({"cookie": "sessionid=x"}, 200),  # a member's session: Django's middleware decides
    ],
)
def test_other_requests_go_to_django_with_the_same_outcome(
    page: StatusPage, kwargs: dict[str, Any], status: int
) -> None:
    _get("/status/acme/")
    assert _get("/status/acme/").fast
    answer = _get("/status/acme/", **kwargs)
    assert (answer.status, answer.fast) == (status, False)


def test_pages_below_the_front_go_to_django(page: StatusPage) -> None:
    for path in ("/status/acme/history/", "/status/acme/summary.json", "/status/acme"):
        _get(path)
        assert not _get(path).fast


def test_a_miss_while_another_request_renders_waits_for_its_body_on_the_event_loop(
    page: StatusPage,
) -> None:
    page.refresh_from_db()
    key = cache_key(page, "path", "front")
    django_cache.add(f"{key}:rendering", 1, 3)  # another request renders this version

    async def call() -> tuple[bool, bytes]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        async def store_later() -> None:
            await asyncio.sleep(0.1)
            await asyncio.to_thread(django_cache.set, key, (b"<p>rendered</p>", "text/html"), 60)

        scope = _scope("/status/acme/", "GET", "127.0.0.1", b"", "http")
        was_fast, _ = await asyncio.gather(fast.handle(scope, receive, send), store_later())
        return was_fast, b"".join(m.get("body", b"") for m in sent[1:])

    assert _in_own_loop(call()) == (True, b"<p>rendered</p>")


def test_a_miss_with_nobody_rendering_goes_to_django(page: StatusPage) -> None:
    answer = _get("/status/acme/")
    assert (answer.status, answer.fast) == (200, False)


def _cached_then_an_outage(page: StatusPage) -> None:
    """The front page cached (and served from the cache), then its component down."""
    _get("/status/acme/")
    assert b"All systems operational" in _get("/status/acme/").body
    show(Component.objects.get(status_page=page), ComponentStatus.MAJOR_OUTAGE)


def test_a_miss_while_the_new_version_renders_is_answered_with_the_last_body_at_once(
    page: StatusPage,
) -> None:
    _cached_then_an_outage(page)
    page.refresh_from_db()
    # Another request renders the new version (it holds the lock, for 3 s): the visitors in
    # the meantime are not kept waiting, they get the page as it was (stale while it renders).
    lock = f"{cache_key(page, 'path', 'front')}:rendering"
    django_cache.add(lock, 1, 3)
    meanwhile = _get("/status/acme/")
    assert meanwhile.fast
    assert b'<h2 id="headline">All systems operational</h2>' in meanwhile.body
    # Django's own miss (a visitor with a cookie) is answered the same way.
    assert b"All systems operational" in _get("/status/acme/", cookie="theme=dark").body
    # The render is done (or its lock gone): every visitor gets the change from then on.
    django_cache.delete(lock)
    after = _get("/status/acme/")
    assert (after.fast, after.status) == (False, 200)
    assert b'<h2 id="headline">Major outage</h2>' in after.body
    django_cache.add(lock, 1, 3)  # a later render of the same version: still the new body
    for answer in (_get("/status/acme/"), _get("/status/acme/", cookie="theme=dark")):
        assert b'<h2 id="headline">Major outage</h2>' in answer.body


def test_a_slow_render_of_an_older_version_never_replaces_the_newer_body_served_meanwhile(
    page: StatusPage,
) -> None:
    page.refresh_from_db()
    older, newer, newest = (copy(page) for _ in range(3))
    newer.version, newest.version = page.version + 1, page.version + 2
    cached_body(newer, "path", "front", lambda: Body(b"<p>newer</p>", "text/html"))
    # The render of the older version, begun before the change, is stored last.
    cached_body(older, "path", "front", lambda: Body(b"<p>older</p>", "text/html"))
    # While the next version renders, visitors get the newer body, not the older one.
    django_cache.add(f"{cache_key(newest, 'path', 'front')}:rendering", 1, 3)

    def not_this_request() -> Body:
        raise AssertionError("another request renders this version")

    assert cached_body(newest, "path", "front", not_this_request).content == b"<p>newer</p>"


def test_a_postmortem_taken_back_is_never_served_stale_while_its_page_renders(
    page: StatusPage, owner: User
) -> None:
    """Rewriting (or unpublishing) a published postmortem takes its old text off the page at
    once: while the notice's page renders again, visitors wait for it rather than being
    served the old body."""
    notice = make_notice(page, "Outage", status=NoticeStatus.RESOLVED)
    postmortem_write(notice=notice, by=owner, body="Root cause: db-7.internal", published=True)
    path = f"/status/acme/incidents/{notice.pk}/"
    assert b"db-7.internal" in _get(path).body
    postmortem_write(notice=notice, by=owner, body="Root cause: a bad deploy", published=True)
    page.refresh_from_db()
    # Another request renders the new version and is done in 0.3 s (its lock goes).
    lock = f"{cache_key(page, 'path', f'notice:{notice.pk}')}:rendering"
    django_cache.add(lock, 1, 3)
    threading.Timer(0.3, django_cache.delete, [lock]).start()
    answer = _get(path)
    assert b"a bad deploy" in answer.body
    assert b"db-7.internal" not in answer.body


def test_after_a_change_that_takes_something_back_the_front_is_never_served_stale(
    page: StatusPage,
) -> None:
    _cached_then_an_outage(page)
    page_touched(page.pk, retracts=True)
    page.refresh_from_db()
    lock = f"{cache_key(page, 'path', 'front')}:rendering"
    django_cache.add(lock, 1, 3)
    threading.Timer(0.3, django_cache.delete, [lock]).start()
    answer = _get("/status/acme/")
    assert b'<h2 id="headline">Major outage</h2>' in answer.body
