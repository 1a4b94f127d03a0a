"""Shared fixtures: two organizations (A with an owner and a member, B with an outsider),
API clients with real bearer tokens, a real Celery worker, and Playwright on Debian's Chromium.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from opsduty.models import Organization, Role, User
from tests import factories
from tests.waiting import wait_until

# Playwright's sync API runs an event loop in the test thread; Django's ORM refuses to run
# inside one unless told it is safe (it is: the loop never runs our code concurrently).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# The `start_worker` fixture; the scan of the run's logs for the secrets it created.
pytest_plugins = ["tests.log_secrets", "tests.celery_workers"]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_configure(config: pytest.Config) -> None:
    from django.conf import settings

    # Fast hashing in tests; the login tests exercise real password checks all the same.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Tests run without collectstatic; serve static files without the manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.CELERY_TASK_ALWAYS_EAGER = False


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    """Throttle counters live in Redis; start every test from an empty cache."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def org_a(db: None) -> Organization:
    return factories.make_organization(domain="org-a", name="Org A")


@pytest.fixture
def org_b(db: None) -> Organization:
    return factories.make_organization(domain="org-b", name="Org B")


@pytest.fixture
def owner(org_a: Organization) -> User:
    """An owner of org A."""
    return factories.make_user(organization=org_a, email="owner@a.example", role=Role.OWNER)


@pytest.fixture
def member(org_a: Organization) -> User:
    """A member of org A."""
    return factories.make_user(organization=org_a, email="member@a.example", role=Role.MEMBER)


@pytest.fixture
def outsider(org_b: Organization) -> User:
    """An owner of org B, who must never see org A's objects (nor A see B's)."""
    return factories.make_user(organization=org_b, email="outsider@b.example", role=Role.OWNER)


@pytest.fixture
def stakeholder(org_a: Organization) -> User:
    """A stakeholder of org A."""
    return factories.make_user(
        organization=org_a, email="stakeholder@a.example", role=Role.STAKEHOLDER
    )


def session_client_for(user: User) -> Client:
    """A Django test client signed in as `user` (browser session)."""
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(owner: User) -> Client:
    return session_client_for(owner)


@pytest.fixture
def member_client(member: User) -> Client:
    return session_client_for(member)


@pytest.fixture
def stakeholder_client(stakeholder: User) -> Client:
    return session_client_for(stakeholder)


@pytest.fixture
def outsider_client(outsider: User) -> Client:
    return session_client_for(outsider)


def api_client_for(user: User, scope: str = "api:v1") -> Client:
    """A Django test client that sends a real OAuth2 bearer token of `user`."""
    token = factories.access_token_for(user, scope=scope)
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.fixture
def owner_api(owner: User) -> Client:
    return api_client_for(owner)


@pytest.fixture
def outsider_api(outsider: User) -> Client:
    return api_client_for(outsider)


@pytest.fixture
def celery_worker(transactional_db: None) -> Iterator[Any]:
    """A real Celery worker (solo pool, in a thread) consuming every queue from the test Redis."""
    from celery.contrib.testing.worker import start_worker

    from opsduty.celery import app

    app.conf.task_always_eager = False
    app.control.purge()
    with start_worker(
        app,
        pool="solo",
        perform_ping_check=False,
        queues=["ingest", "escalation", "notify", "default"],
        shutdown_timeout=10.0,
    ) as worker:
        yield worker


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Drive Debian's Chromium: Playwright cannot download its own browser here."""
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture
def asgi_server(transactional_db: None) -> Iterator[str]:
    """`opsduty.asgi:application` under uvicorn on a free loopback port, as `make run` runs it.

    Django runs in a2wsgi's worker threads; with CONN_MAX_AGE 0 for the duration they close
    their database connections after each request, so none outlives the test database. Live
    streams (incidents/live/) are served too; one still open when the test ends is cancelled
    after the graceful-shutdown timeout instead of holding the server up. Static files are
    served from the finders, as by pytest-django's live_server (tests run no collectstatic).
    """
    import uvicorn
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
    from django.db import connections

    from opsduty.asgi import application

    settings_dict = connections["default"].settings_dict
    conn_max_age = settings_dict["CONN_MAX_AGE"]
    settings_dict["CONN_MAX_AGE"] = 0
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(
            ASGIStaticFilesHandler(application),  # type: ignore[arg-type]
            lifespan="off",
            log_level="warning",
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: server.started), "uvicorn did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        settings_dict["CONN_MAX_AGE"] = conn_max_age


# The fake Twilio's one account (tests/integrations/twilio/, the telephony browser flows).
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fake-auth-token-0123456789abcdef"


@pytest.fixture
def fake_twilio(settings: Any) -> Iterator[Any]:
    """A running fake Twilio (integrations/twilio/fake/) with one account (ACCOUNT_SID /
    AUTH_TOKEN); the SDK calls it."""
    from integrations.twilio.fake import FakeTwilio

    with FakeTwilio(accounts={ACCOUNT_SID: AUTH_TOKEN}) as fake:
        settings.OPSDUTY_TWILIO_API_URL = fake.url
        yield fake


@pytest.fixture
def dev_inbox(settings: Any) -> Iterator[None]:
    """Mail goes to the development inbox (opsduty/devmail.py), emptied before and after."""
    import redis

    from opsduty.devmail import INBOX_KEY

    settings.OPSDUTY_DEV_INBOX = True
    settings.EMAIL_BACKEND = "opsduty.devmail.InboxEmailBackend"
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(INBOX_KEY)
    yield
    client.delete(INBOX_KEY)


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    """Queued tasks run at once in the caller (with `django_capture_on_commit_callbacks(
    execute=True)` for those queued after a commit)."""
    from opsduty.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    try:
        yield
    finally:
        app.conf.task_always_eager = False
        app.conf.task_eager_propagates = False
