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

from opsduty.celery import app


def task_named(name: str) -> Task[Any, Any]:
    """The registered task `name`, importing every app's tasks modules on first use."""
    task = app.tasks.get(name)
    if task is None:
        # A web process imports tasks modules lazily; this runs Celery's autodiscovery once.
        app.loader.import_default_modules()
        task = app.tasks[name]
    return task


def enqueue(name: str, args: Sequence[Any] = (), *, eta: datetime | None = None) -> None:
    """Queue task `name` now (the caller wraps it in `transaction.on_commit` when needed)."""
    options: dict[str, Any] = {"eta": eta} if eta is not None else {}
    task_named(name).apply_async(args=tuple(args), **options)
