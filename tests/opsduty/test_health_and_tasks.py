"""/healthz, the seed command, and a real Celery worker running a core task."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from opsduty.models import Organization, Role, Team, User
from opsduty.tasks import sessions_clear_expired
from tests.waiting import wait_until


@pytest.mark.django_db
def test_healthz_reports_postgres_and_redis(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "postgres": "ok", "redis": "ok"}


@pytest.mark.django_db
def test_healthz_answers_503_when_redis_is_down(client: Client, settings) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "postgres": "ok", "redis": "unavailable"}


@pytest.mark.django_db
def test_seed_demo_builds_the_demo_org_idempotently(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("seed_demo")
    call_command("seed_demo")
    assert "opsduty-demo" in capsys.readouterr().out
    org = Organization.objects.get(domain="demo")
    assert org.name == "Demo Inc."
    roles = dict(User.objects.for_org(org).values_list("email", "role"))
    assert roles == {
        "owner@demo.example": Role.OWNER,
        "alice@demo.example": Role.MEMBER,
        "bob@demo.example": Role.MEMBER,
        "carol@demo.example": Role.STAKEHOLDER,
    }
    teams = {t.name: sorted(u.email for u in t.members.all()) for t in Team.objects.for_org(org)}
    assert teams == {
        "Platform": ["alice@demo.example", "bob@demo.example", "owner@demo.example"],
        "Payments": ["alice@demo.example", "carol@demo.example"],
    }
    owner = User.objects.get(organization=org, email="owner@demo.example")
    assert owner.check_password("opsduty-demo")
    assert all(u.phone_number.startswith("+1555") for u in User.objects.for_org(org))


def _session(expire_in: timedelta) -> str:
    store = SessionStore()
    store["x"] = 1
    store.create()
    Session.objects.filter(session_key=store.session_key).update(
        expire_date=timezone.now() + expire_in
    )
    assert store.session_key is not None
    return store.session_key


@pytest.mark.worker
def test_worker_clears_expired_sessions(celery_worker) -> None:
    expired = _session(timedelta(seconds=-1))
    alive = _session(timedelta(days=1))
    sessions_clear_expired.apply_async()
    # The worker runs in another thread with its own DB connection; wait for it to finish.
    assert wait_until(lambda: not Session.objects.filter(session_key=expired).exists())
    assert Session.objects.filter(session_key=alive).exists()
