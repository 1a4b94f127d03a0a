"""Outages with the product's real processes (docs/operations.md "When a component is down").

Web (uvicorn `opsduty.asgi`, as the Procfile runs it), a Celery worker and Celery beat run as
OS processes. Redis is a private `redis-server` the test kills and starts again, empty, as a
restart without persistence leaves it. PostgreSQL is the test database behind a TCP relay
that the test cuts: every open connection is closed from the server side (a PostgreSQL or
PgBouncer restart: the processes keep half-open connections they must notice) and new ones
are refused until the relay is back. Nothing is restarted but the server that went away.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from escalations.catalog.services import service_set_policy
from escalations.engine.models import EscalationRun
from escalations.notifications.models import Notification
from escalations.policies.models import StepKind
from escalations.policies.services import policy_create, step_add
from incidents.models import Incident, IncidentLogEntry, LogAction
from opsduty.models import Organization, Service, User
from signals.models import RawEvent, RawEventStatus, Webhook
from tests import factories
from tests.celery_workers import WORKER_DEADLINE, StartWorker, worker_database_url
from tests.heartbeat_factories import make_heartbeat, make_state
from tests.outages import (
    PROCESS_DEADLINE,
    PostgresRelay,
    RedisServer,
    app_env,
    beat_start,
    get,
    request,
    web_start,
)
from tests.waiting import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

_WORKER_ARGS = ("--pool", "solo", "--loglevel", "INFO")


def _service(organization: Organization, *people: User) -> Service:
    team = factories.make_team(organization=organization, name="Platform")
    for user in people:
        factories.add_member(team, user)
    return factories.make_service(team=team, name="API")


def _session_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def _post_event(base: str, webhook: Webhook, service: Service, summary: str) -> Any:
    body = json.dumps({"title": summary, "dedup_id": summary}).encode()
    return request(
        f"{base}/integrations/webhooks/enque/event/{webhook.key}/{service.routing_key}",
        method="POST",
        body=body,
        headers={"Content-Type": "application/json"},
    )


def _json(body: bytes) -> Any:
    return json.loads(body)


def _drains_finished(log: str) -> bool:
    started = set(re.findall(r"signals\.raw_events_drain\[([0-9a-f-]+)\] received", log))
    done = set(re.findall(r"signals\.raw_events_drain\[([0-9a-f-]+)\] succeeded", log))
    return bool(started) and started <= done


def test_events_accepted_while_redis_is_down_become_incidents_when_it_returns(
    start_worker: StartWorker, tmp_path: Path, org_a: Organization, owner: User
) -> None:
    service = _service(org_a, owner)
    _paged_policy(service, owner, owner)
    webhook = Webhook.objects.create(organization=org_a, name="Generic")
    cookie, token = _session_cookie(owner), factories.access_token_for(owner)
    api = {"Authorization": f"Bearer {token}"}
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    env = app_env(database_url=worker_database_url(), redis_url=redis_server.url)
    web, base = web_start(env, tmp_path / "web.log")
    redis_env = {"REDIS_URL": redis_server.url, "CELERY_BROKER_URL": redis_server.url}
    worker = start_worker("worker", *_WORKER_ARGS, env=redis_env)
    worker.go()
    beat = beat_start(env, tmp_path)
    try:
        status, _, _ = _post_event(base, webhook, service, "Before the outage")
        assert status == 202
        assert wait_until(
            lambda: Incident.objects.filter(summary="Before the outage").exists(),
            deadline_seconds=WORKER_DEADLINE,
        ), worker.log()
        # That drain has finished (it lingers a moment for more events): the next event can
        # only be processed by a drain queued after it.
        assert wait_until(lambda: _drains_finished(worker.log())), worker.log()

        redis_server.stop()
        # Ingest: the raw event row is the promise; the drain it could not queue is not.
        status, _, body = _post_event(base, webhook, service, "During the outage")
        assert status == 202, body
        reference = _json(body)["id"]
        raw = RawEvent.objects.get(reference__public_id=reference)
        assert raw.status == RawEventStatus.PENDING
        # The UI and the API (rate limits in Redis) still answer; the probes say what is up.
        status, page = get(f"{base}/incidents/", Cookie=cookie)
        assert status == 200
        assert "Before the outage" in page.decode(), [
            line for line in page.decode().splitlines() if "Summary" in line
        ]
        status, body = get(f"{base}/api/v1/incidents/incident-reference/{reference}/", **api)
        assert (status, _json(body)["status"]) == (200, "pending")
        assert get(f"{base}/healthz") == (200, b'{"status": "ok"}')
        status, body = get(f"{base}/readyz")
        ready = _json(body)
        assert (status, ready["status"], ready["checks"]["redis"]["status"]) == (
            200,
            "degraded",
            "unavailable",
        )
        assert ready["checks"]["postgres"] == {"status": "ok"}
        assert get(f"{base}/readyz?strict=1")[0] == 503
        # Actions whose next step a Celery task would fire: the change commits and answers
        # 200 although the task cannot be queued (the escalation sweeper fires the step).
        before = Incident.objects.get(summary="Before the outage")
        for action, status_after in (
            ("acknowledge", "acknowledged"),
            ("unacknowledge", "triggered"),
        ):
            status, _, body = request(
                f"{base}/api/v1/incidents/{before.pk}/{action}/", method="POST", headers=api
            )
            assert status == 200, body
            assert _json(body)["status"] == status_after
        assert EscalationRun.objects.get(incident=before).due_at is not None  # restarted

        # Redis comes back empty: no task remembers the event. Beat and the worker reconnect
        # by themselves; the raw event sweeper finds the event and a drain processes it.
        redis_server.start()

        def processed() -> bool:
            status, body = get(f"{base}/api/v1/incidents/incident-reference/{reference}/", **api)
            return status == 200 and _json(body)["status"] == "completed"

        assert wait_until(processed, deadline_seconds=PROCESS_DEADLINE), worker.log() + beat.log()
        status, page = get(f"{base}/incidents/", Cookie=cookie)
        assert status == 200
        assert "During the outage" in page.decode()
        assert Incident.objects.filter(summary="During the outage").count() == 1
        # The sweepers' beats reach /readyz again once they run.
        assert wait_until(
            lambda: _json(get(f"{base}/readyz")[1])["status"] == "ok",
            deadline_seconds=PROCESS_DEADLINE,
        ), get(f"{base}/readyz")
    finally:
        beat.stop()
        web.stop()
        redis_server.stop()


def _paged_policy(service: Service, first: User, second: User) -> None:
    policy = policy_create(team=service.team, by=None, name="Default")
    service_set_policy(service=service, policy=policy, by=None)
    for kind, fields in (
        (StepKind.NOTIFY, {"users": [first]}),
        (StepKind.WAIT, {"wait_minutes": 1}),
        (StepKind.NOTIFY, {"users": [second]}),
    ):
        step_add(policy=policy, by=None, kind=kind, **fields)


def _step_three_lines(incident: Incident) -> int:
    return IncidentLogEntry.objects.filter(
        incident=incident, action=LogAction.ESCALATION, message__startswith="Step 3: notifying"
    ).count()


def test_postgres_outage_answers_503_and_the_due_step_fires_when_it_returns(
    start_worker: StartWorker,
    tmp_path: Path,
    org_a: Organization,
    owner: User,
    member: User,
    settings: Any,
) -> None:
    minute = 6  # the policy's "wait 1 minute", in seconds, for every process of this test
    settings.ESCALATION_MINUTE_SECONDS = minute
    service = _service(org_a, owner, member)
    _paged_policy(service, owner, member)
    webhook = Webhook.objects.create(organization=org_a, name="Generic")
    heartbeat = make_heartbeat(service=service)
    make_state(heartbeat=heartbeat)
    checkin = f"/heartbeats/checkin/{heartbeat.public_primary_key}/"
    cookie, token = _session_cookie(owner), factories.access_token_for(owner)
    api = {"Authorization": f"Bearer {token}"}
    relay = PostgresRelay()
    relay.start()
    env = app_env(
        database_url=relay.database_url(),
        redis_url=settings.REDIS_URL,
        OPSDUTY_ESCALATION_MINUTE_SECONDS=str(minute),
    )
    web, base = web_start(env, tmp_path / "web.log")
    worker = start_worker(
        "worker",
        *_WORKER_ARGS,
        env={
            "DATABASE_URL": relay.database_url(),
            "OPSDUTY_ESCALATION_MINUTE_SECONDS": str(minute),
        },
    )
    worker.go()
    beat = beat_start(env, tmp_path)
    try:
        # Every process holds connections through the relay: pages, ingest, the sweepers.
        assert get(f"{base}/incidents/", Cookie=cookie)[0] == 200
        assert get(f"{base}/api/v1/incidents/", **api)[0] == 200
        status, _, body = _post_event(base, webhook, service, "Disk full")
        assert status == 202, body
        assert wait_until(
            lambda: Incident.objects.filter(summary="Disk full").exists(),
            deadline_seconds=WORKER_DEADLINE,
        ), worker.log()
        incident = Incident.objects.get(summary="Disk full")
        run = EscalationRun.objects.get(incident=incident)
        assert run.due_at is not None  # step 3 (page Member) waits for the policy's minute

        relay.cut()
        status, headers, body = _post_event(base, webhook, service, "Lost?")
        assert (status, headers.get("retry-after")) == (503, "5"), body
        assert _json(body) == {"detail": "The event could not be stored; retry later."}
        status, headers, body = request(f"{base}/incidents/", headers={"Cookie": cookie})
        assert (status, headers.get("retry-after")) == (503, "5")
        page = body.decode()
        assert "OpsDuty is temporarily unavailable" in page
        assert "Traceback" not in page
        status, headers, body = request(f"{base}/api/v1/incidents/", headers=api)
        assert (status, headers.get("retry-after")) == (503, "5")
        assert headers["content-type"] == "application/json"
        assert _json(body) == {
            "detail": "The database is temporarily unavailable; retry in a few seconds."
        }
        assert get(f"{base}/healthz") == (200, b'{"status": "ok"}')
        status, body = get(f"{base}/readyz")
        assert (status, _json(body)["checks"]["postgres"]) == (503, {"status": "unavailable"})

        # The step falls due during the outage: its task and the sweeper fail and retry.
        assert wait_until(
            lambda: timezone.now() > run.due_at + timedelta(seconds=2),  # type: ignore[operator]
            deadline_seconds=2 * minute + 5,
        )
        assert _step_three_lines(incident) == 0
        # The webhook's cached lookup has expired by now: the lookup itself fails, and so
        # does a heartbeat check-in (503 without Retry-After, docs/heartbeats.md).
        status, headers, body = _post_event(base, webhook, service, "Lost again?")
        assert (status, headers.get("retry-after")) == (503, "5"), body
        status, body = get(f"{base}{checkin}")
        assert (status, _json(body)) == (503, {"detail": "Temporarily unavailable, try again."})

        relay.start()  # PostgreSQL is back; nothing else restarts
        assert wait_until(
            lambda: get(f"{base}/incidents/", Cookie=cookie)[0] == 200,
            deadline_seconds=PROCESS_DEADLINE,
        )
        # A sender retries after Retry-After; the webhook path's pool may take a few seconds
        # longer than the pages to reconnect. Each 503 stored nothing; the 202 stores once.
        answers: list[int] = []

        def accepted() -> bool:
            answers.append(_post_event(base, webhook, service, "After the outage")[0])
            return answers[-1] == 202

        assert wait_until(accepted, deadline_seconds=PROCESS_DEADLINE), answers
        assert set(answers) <= {503, 202}, answers
        assert RawEvent.objects.filter(body__title="After the outage").count() == 1
        assert get(f"{base}/api/v1/incidents/", **api)[0] == 200
        assert get(f"{base}{checkin}")[0] == 200
        assert wait_until(
            lambda: _step_three_lines(incident) == 1, deadline_seconds=PROCESS_DEADLINE
        ), worker.log()
        status, detail = get(f"{base}/incidents/{incident.pk}/", Cookie=cookie)
        assert status == 200
        assert detail.decode().count("Step 3: notifying") == 1
        paged = Notification.objects.filter(incident=incident).values_list("user", flat=True)
        assert set(paged) == {owner.pk, member.pk}  # step 1 paged Owner, step 3 Member
        assert wait_until(
            lambda: Incident.objects.filter(summary="After the outage").exists(),
            deadline_seconds=PROCESS_DEADLINE,
        ), worker.log()
        assert _step_three_lines(incident) == 1  # fired once, whatever retried
        lost = RawEvent.objects.filter(body__title__in=["Lost?", "Lost again?"])
        assert not lost.exists()  # answered 503: not accepted, and never half-stored
        assert wait_until(
            lambda: get(f"{base}/readyz")[0] == 200, deadline_seconds=PROCESS_DEADLINE
        )
    finally:
        beat.stop()
        web.stop()
        relay.cut()
