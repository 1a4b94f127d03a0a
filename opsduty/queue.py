"""Queue a Celery task by its name: the one way a service queues work.

Services never import a tasks module (tasks import services, one way), so the import graph
has no services <-> tasks circle. Task names are wire identifiers (queued messages and the
beat schedule carry them): they stay stable when code moves between modules.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from celery import Task

from opsduty.celery import app, task_packages

logger = logging.getLogger(__name__)


def tasks_import() -> None:
    """Import every app's and feature's tasks module (what a worker does at start-up).

    Web processes call it at start-up (opsduty/asgi.py, opsduty/wsgi.py), so the first event
    queues its drain at once. Only the modules: Celery's full `import_default_modules` also
    runs Django's system checks, which cost the first webhook 0.6 s.
    """
    app.loader.autodiscover_tasks(task_packages(), related_name="tasks")


def task_named(name: str) -> Task[Any, Any]:
    """The registered task `name` (its tasks module imported on first use if need be)."""
    task = app.tasks.get(name)
    if task is None:
        tasks_import()
        task = app.tasks[name]
    return task


def enqueue(name: str, args: Sequence[Any] = (), *, eta: datetime | None = None) -> None:
    """Queue task `name` now (the caller wraps it in `transaction.on_commit` when needed)."""
    options: dict[str, Any] = {"eta": eta} if eta is not None else {}
    task_named(name).apply_async(args=tuple(args), **options)


def enqueue_or_sweep(name: str, args: Sequence[Any] = (), *, eta: datetime | None = None) -> None:
    """Queue task `name` whose work a sweeper also finds (a row with a `due_at`): when the
    broker cannot take it (Redis down), log it and carry on.

    Called after a commit (`transaction.on_commit`): raising there would answer a request
    whose change is committed with a 500, and skip the other callbacks of the transaction.
    The beat sweepers fire the due row instead (docs/operations.md).
    """
    try:
        enqueue(name, args, eta=eta)
    except Exception as error:  # noqa: BLE001 - kombu, redis and socket errors alike
        logger.warning("%s not queued (%s); its sweeper will run it", name, type(error).__name__)
