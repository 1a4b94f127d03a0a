"""A real prefork worker keeps its PostgreSQL connection from one task to the next.

Celery's Django fixup closes every connection around every task unless told otherwise; a
new connection costs a SCRAM handshake and a backend start, which was half the time of a
delivery task and capped the escalator at a few deliveries a second under load. The worker
here runs with its own `application_name`, so the test can see its backends in
`pg_stat_activity`: after a first batch of tasks has finished, the child process's
connection is still open, and a second batch runs on that same backend.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis
from django.db import connection

from escalations.notifications.tasks import notification_deliver
from tests.celery_workers import WORKER_DEADLINE, StartWorker, worker_database_url
from tests.waiting import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

APPLICATION = "opsduty-test-reuse"
MISSING = 10**9  # no such notification: the task reads the outbox and finds nothing


def _worker_backends() -> list[tuple[int, Any]]:
    """(pid, backend_start) of the worker's open connections."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, backend_start FROM pg_stat_activity WHERE application_name = %s",
            [APPLICATION],
        )
        return [(int(pid), started) for pid, started in cursor.fetchall()]


def _run_batch(broker: redis.Redis, count: int) -> None:
    for offset in range(count):
        notification_deliver.apply_async(args=(MISSING + offset,))
    # acks_late: a message leaves `unacked` only once its task has returned.
    assert wait_until(
        lambda: broker.llen("notify") == 0 and broker.hlen("unacked") == 0,
        deadline_seconds=WORKER_DEADLINE,
    )


def test_a_worker_runs_its_tasks_on_one_database_connection(
    start_worker: StartWorker, settings: Any
) -> None:
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    worker = start_worker(
        "reuse",
        *("-Q", "notify", "--pool", "prefork", "--concurrency", "1"),
        env={"DATABASE_URL": worker_database_url(application_name=APPLICATION)},
    )
    worker.go()
    _run_batch(broker, 5)
    first = _worker_backends()
    assert len(first) == 1, worker.log()  # closed around each task, there would be none
    _run_batch(broker, 20)
    assert _worker_backends() == first, worker.log()  # the same backend, never reopened
