"""Queue a Celery task by its name: the one way a service queues work.

Services never import a tasks module (tasks import services, one way), so the import graph
has no services <-> tasks circle. Task names are wire identifiers (queued messages and the
beat schedule carry them): they stay stable when code moves between modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from celery import Task

from opsduty.celery import app, task_packages


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
