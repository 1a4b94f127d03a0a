"""`celery -A opsduty worker` without -Q runs every task, whatever queue it is routed to.

Tasks are routed by name to four queues (opsduty/celery.py `task_routes`). A worker consumes
the queues the app declares (`task_queues`), all of them unless `-Q` picks some. Before the
queues were declared, only the default queue was, so a one-worker deployment never
processed a webhook (queue `ingest`) nor paged anyone (`escalation`, `notify`). The
Procfile still splits the queues between two workers with `-Q`, and that keeps working.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import redis
from django.conf import settings
from kombu import Exchange, Queue

from opsduty.celery import app
from opsduty.queue import enqueue
from tests.celery_workers import WORKER_DEADLINE, StartWorker
from tests.waiting import wait_until

MISSING = 10**9  # no such row: each probe task below finds nothing to do and returns

# A task per routed queue that is a no-op for a missing id, acknowledged only once it has
# returned (acks_late), and not a beat task (the worker logs its "succeeded" line at INFO).
PROBES = {
    "ingest": "signals.raw_event_process",
    "escalation": "incidents.silence_expire",
    "notify": "notifications.deliver",
}

# The route of each task by name, as it was before the queues were declared.
ROUTES = {
    "signals.raw_events_drain": "ingest",
    "signals.raw_event_process": "ingest",
    "signals.raw_event_sweep": "ingest",
    "escalations.run_fire": "escalation",
    "escalations.maintenance_expire": "escalation",
    "incidents.silence_expire": "escalation",
    "heartbeats.misses_detect": "escalation",
    "notifications.deliver": "notify",
    "notifications.sweep": "notify",
    "heartbeats.checkins_prune": "default",
    "opsduty.tasks.sessions_clear_expired": settings.CELERY_TASK_DEFAULT_QUEUE,  # no route
}


def _routed_queue(task_name: str) -> Queue:
    queue: Queue = app.amqp.router.route({}, task_name)["queue"]
    return queue


def _plain_worker_queues() -> set[str]:
    """The queues a worker started without -Q consumes: the app's declared queues, as
    `app.amqp.queues` builds them in a worker before `-Q` (`Queues.select`) narrows them."""
    return set(app.amqp.Queues(app.conf.task_queues).consume_from)


def _app_task_names() -> list[str]:
    app.loader.import_default_modules()
    return sorted(name for name in app.tasks if not name.startswith("celery."))


def test_a_plain_worker_consumes_the_queue_of_every_task() -> None:
    names = _app_task_names()
    assert set(ROUTES) <= set(names)
    consumed = _plain_worker_queues()
    assert consumed == {"ingest", "escalation", "notify", "default"}
    routed = {name: _routed_queue(name).name for name in names}
    assert {name: queue for name, queue in routed.items() if queue not in consumed} == {}


def test_tasks_are_routed_by_name_as_before() -> None:
    assert settings.CELERY_TASK_DEFAULT_QUEUE == app.conf.task_default_queue == "default"
    for name, queue_name in ROUTES.items():
        queue = _routed_queue(name)
        assert queue.name == queue_name, name
        # What Celery created for a routed queue before it was declared: messages queued by
        # an older release, and its Redis bindings, are the same.
        assert queue == Queue(queue_name, Exchange(queue_name), routing_key=queue_name), name


def _ran(log: str, task_name: str) -> bool:
    return re.search(rf"Task {re.escape(task_name)}\[[^]]+\] succeeded", log) is not None


def _banner_queues(log: str) -> set[str]:
    """The queues the worker says it consumes (its start-up banner: `.> ingest exchange=...`)."""
    return set(re.findall(r"\.> (\S+)\s+exchange=", log))


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_started_without_q_runs_tasks_of_every_queue(
    start_worker: StartWorker, settings: Any
) -> None:
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    worker = start_worker("plain", "--pool", "solo", "--loglevel", "info")
    worker.go()
    for task_name in PROBES.values():
        enqueue(task_name, (MISSING,))
    assert wait_until(
        lambda: all(_ran(worker.log(), name) for name in PROBES.values()),
        deadline_seconds=WORKER_DEADLINE,
    ), worker.log()
    assert _banner_queues(worker.log()) == {"ingest", "escalation", "notify", "default"}
    assert wait_until(lambda: broker.hlen("unacked") == 0), worker.log()
    assert [broker.llen(queue) for queue in PROBES] == [0, 0, 0]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_started_with_q_consumes_only_those_queues(
    start_worker: StartWorker, settings: Any
) -> None:
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    worker = start_worker("ingest", "-Q", "ingest", "--pool", "solo", "--loglevel", "info")
    worker.go()
    for task_name in PROBES.values():
        enqueue(task_name, (MISSING,))
    assert wait_until(
        lambda: _ran(worker.log(), PROBES["ingest"]), deadline_seconds=WORKER_DEADLINE
    ), worker.log()
    assert _banner_queues(worker.log()) == {"ingest"}
    # The escalation and notify tasks wait in Redis for the escalator.
    assert broker.llen("escalation") == 1, worker.log()
    assert broker.llen("notify") == 1, worker.log()
    assert not _ran(worker.log(), PROBES["escalation"])
    assert not _ran(worker.log(), PROBES["notify"])
