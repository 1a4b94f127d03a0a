"""Quiet logs for the periodic housekeeping: beat runs sweepers and the heartbeat miss
detector every 1 to 5 seconds, and at INFO each run was three lines (beat's "Sending due
task", the worker's "received" and "succeeded"), which buried everything else `make run`
prints. Those lines are dropped when the run found nothing to do; a run that did something
("succeeded ...: 3"), and every warning and error, is still logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

# What a housekeeping task returns when it found nothing to do (the repr Celery logs).
_NOTHING_DONE = frozenset({"0", "False", "None", "[]"})
LOGGERS = ("celery.app.trace", "celery.worker.strategy", "celery.beat")


class HousekeepingQuiet(logging.Filter):
    """Drops INFO records about `tasks` (the beat schedule's) that did nothing."""

    def __init__(self, tasks: Iterable[str]) -> None:
        super().__init__()
        self.tasks = frozenset(tasks)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        data = getattr(record, "data", None)  # Celery's trace and strategy records
        if isinstance(data, dict) and data.get("name") in self.tasks:
            if "return_value" in data:  # "succeeded": keep it when the run did something
                return str(data["return_value"]) not in _NOTHING_DONE
            return False  # "received"
        args = record.args
        if record.name == "celery.beat" and isinstance(args, tuple) and len(args) == 2:
            return args[1] not in self.tasks  # "Sending due task <entry> (<task>)"
        return True


def housekeeping_quiet(tasks: Iterable[str]) -> HousekeepingQuiet:
    """Attach one filter for `tasks` to Celery's task and beat loggers; returns it."""
    quiet = HousekeepingQuiet(tasks)
    for name in LOGGERS:
        logging.getLogger(name).addFilter(quiet)
    return quiet
