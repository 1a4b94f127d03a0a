"""The Celery app (`celery -A opsduty worker`); tasks live in each app's or feature's tasks.py."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

from celery import Celery, Task
from celery.schedules import crontab
from celery.signals import (
    after_setup_logger,
    before_task_publish,
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
)
from django.db import InterfaceError, OperationalError
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsduty.settings")

# The retry policy of the tasks that must survive a PostgreSQL outage (processing events,
# escalation steps, deliveries): `@shared_task(..., **DATABASE_RETRY)`. A lost or refused
# connection is retried 40 times, each after a random delay of up to 1, 2, 4 ... 60 s (some
# twenty minutes in all); the sweepers pick up whatever is still due after that. Each run
# starts with a healthy connection (`_database_connections_tidy` below), so a retry after
# the database came back finds it.
DATABASE_RETRY: dict[str, Any] = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 1,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 40,
}
# The header `before_task_publish` stamps on every task message: the time it was queued,
# which /readyz reads from the oldest message waiting in each queue (opsduty/health.py).
SENT_AT_HEADER = "opsduty_sent_at"

app = Celery("opsduty")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery's consumer, surviving a Redis that dies while the worker holds messages
# (opsduty/celery_consumer.py).
app.conf.worker_consumer = "opsduty.celery_consumer:Consumer"


def task_packages() -> list[str]:
    """Every installed app and each of its feature subpackages (`escalations.engine`, ...):
    Celery imports the `tasks` module of those that have one."""
    from django.apps import apps

    packages = []
    for config in apps.get_app_configs():
        packages.append(config.name)
        root = Path(config.path)
        packages += [
            f"{config.name}.{sub.name}"
            for sub in sorted(root.iterdir())
            if (sub / "__init__.py").exists() and (sub / "tasks.py").exists()
        ]
    return packages


app.autodiscover_tasks(task_packages)


@worker_init.connect
def _worker_warm_up(**_: Any) -> None:
    from opsduty.warmup import worker_main_warm_up

    worker_main_warm_up()


@worker_process_init.connect
def _worker_process_warm_up(**_: Any) -> None:
    from opsduty.warmup import worker_child_warm_up

    worker_child_warm_up()


@before_task_publish.connect
def _sent_at_stamp(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """Stamp the queuing time on the message (the queue-age check of /readyz)."""
    if headers is not None:
        headers.setdefault(SENT_AT_HEADER, time.time())


@task_prerun.connect
@task_postrun.connect
def _database_connections_tidy(sender: Task[Any, Any] | None = None, **_: Any) -> None:
    """Around each task, what Django does around each request: close a connection that is
    broken or older than CONN_MAX_AGE (settings.DATABASES), keep the others.

    Celery's Django fixup would close every connection around every task (a new PostgreSQL
    connection and SCRAM handshake per task: about half of a delivery task's time);
    `CELERY_DB_REUSE_MAX` (settings) turns that off and this handler keeps connections honest.
    Eager tasks run inside the caller's transaction: never touch its connection.
    """
    if sender is not None and getattr(sender.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


# A running task's audit context, by task id: entered before the task, left after it.
_audit_blocks: dict[str, contextlib.AbstractContextManager[Any]] = {}


@task_prerun.connect
def _audit_as_task(
    sender: Task[Any, Any] | None = None, task_id: str | None = None, **_: Any
) -> None:
    """What a task changes is the system's, through the "task" channel (the audit log),
    for the task's run only; an eager task runs in its caller's context and keeps it."""
    if task_id is None or (sender is not None and getattr(sender.request, "is_eager", False)):
        return
    from opsduty.audit import acting

    block = acting(channel="task")
    block.__enter__()
    _audit_blocks[task_id] = block


@task_postrun.connect
def _audit_task_done(task_id: str | None = None, **_: Any) -> None:
    block = _audit_blocks.pop(task_id or "", None)
    if block is not None:
        block.__exit__(None, None, None)


# Queues (docs/architecture.md): ingest, escalation, notify and default (for a task no route
# names: settings.CELERY_TASK_DEFAULT_QUEUE). A worker consumes the declared queues unless
# -Q picks some, so every queue routed to is declared here: a plain `celery -A opsduty
# worker` runs every task, while the Procfile's `-Q ingest,default` / `-Q escalation,notify`
# split them. (A queue routed to but not declared still receives tasks, as Celery creates it
# on use, but no plain worker consumes it.) Each is declared as Celery creates a missing
# queue, a direct exchange and routing key named after it: messages and Redis bindings are
# as before.
QUEUES = ("ingest", "escalation", "notify", "default")
app.conf.task_queues = [Queue(name, Exchange(name), routing_key=name) for name in QUEUES]
app.conf.task_routes = {
    "signals.*": {"queue": "ingest"},
    "processing.*": {"queue": "ingest"},
    "escalations.*": {"queue": "escalation"},
    "incidents.*": {"queue": "escalation"},
    "notifications.*": {"queue": "notify"},
    "slack.*": {"queue": "notify"},
    "heartbeats.misses_detect": {"queue": "escalation"},
    "heartbeats.checkins_prune": {"queue": "default"},
}

app.conf.beat_schedule = {
    "incidents-silence-sweep": {"task": "incidents.silence_sweep", "schedule": 5.0},
    "signals-raw-event-sweep": {"task": "signals.raw_event_sweep", "schedule": 5.0},
    "escalations-maintenance-sweep": {"task": "escalations.maintenance_sweep", "schedule": 5.0},
    "notifications-sweep": {"task": "notifications.sweep", "schedule": 5.0},
    # Status pages: scheduled updates and planned maintenance whose ETA task was lost.
    "statuspages-sweep": {"task": "statuspages.sweep", "schedule": 5.0},
    "escalations-run-sweep": {"task": "escalations.run_sweep", "schedule": 2.0},
    # A miss is reported within about a second of its deadline (docs/heartbeats.md).
    "heartbeats-misses-detect": {"task": "heartbeats.misses_detect", "schedule": 1.0},
    "heartbeats-checkins-prune": {"task": "heartbeats.checkins_prune", "schedule": 300.0},
    # The analytics' new rollup rows folded into one row a key (analytics/services.py).
    "analytics-compact": {"task": "analytics.compact", "schedule": 10.0},
    "slack-prune": {"task": "slack.prune", "schedule": 3600.0},
    # Status page subscribers' mails whose delivery task was lost (statuspages/subscribers/).
    "statuspages-subscriber-mail-sweep": {
        "task": "statuspages.subscriber_mail_sweep",
        "schedule": 10.0,
    },
    # A closed organization whose purge task was lost is purged at the next sweep.
    "organizations-purge": {"task": "opsduty.tasks.organizations_purge", "schedule": 300.0},
    "sessions-clear-expired": {
        "task": "opsduty.tasks.sessions_clear_expired",
        "schedule": crontab(minute=17, hour=3),
    },
}


@after_setup_logger.connect
def _housekeeping_quiet(**_: Any) -> None:
    """Beat's periodic tasks log only runs that did something (opsduty/celery_logging.py)."""
    from opsduty.celery_logging import housekeeping_quiet

    housekeeping_quiet(entry["task"] for entry in app.conf.beat_schedule.values())
