"""Beat's periodic housekeeping logs only the runs that did something (opsduty/celery_logging)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from celery.app import trace

from opsduty.celery import app
from opsduty.celery_logging import LOGGERS, HousekeepingQuiet, housekeeping_quiet

SCHEDULED = {entry["task"] for entry in app.conf.beat_schedule.values()}


def _celery_record(logger: str, fmt: str, data: dict[str, Any], level: int = logging.INFO) -> Any:
    """A record as Celery's trace and strategy modules make it (context in `extra`)."""
    record = logging.LogRecord(logger, level, __file__, 1, fmt, (data,), None)
    record.data = data
    return record


def _beat_record(entry: str, task: str) -> logging.LogRecord:
    return logging.LogRecord(
        "celery.beat", logging.INFO, __file__, 1, "Scheduler: Sending due task %s (%s)",
        (entry, task), None,
    )  # fmt: skip


@pytest.fixture
def quiet() -> Iterator[HousekeepingQuiet]:
    quiet = housekeeping_quiet(SCHEDULED)
    try:
        yield quiet
    finally:
        for name in LOGGERS:
            logging.getLogger(name).removeFilter(quiet)


def test_housekeeping_that_did_nothing_is_dropped_and_real_work_kept(
    quiet: HousekeepingQuiet,
) -> None:
    assert "heartbeats.misses_detect" in SCHEDULED
    received = {"id": "1", "name": "heartbeats.misses_detect", "args": "()", "kwargs": "{}"}
    idle = {**received, "return_value": "0", "runtime": 0.004}
    found = {**received, "return_value": "3", "runtime": 0.02}
    for logger, fmt, data, kept in (
        ("celery.worker.strategy", trace.LOG_RECEIVED, received, False),
        ("celery.app.trace", trace.LOG_SUCCESS, idle, False),
        ("celery.app.trace", trace.LOG_SUCCESS, {**idle, "return_value": "False"}, False),
        ("celery.app.trace", trace.LOG_SUCCESS, found, True),  # it reported 3 misses
    ):
        record = _celery_record(logger, fmt, data)
        assert logging.getLogger(logger).filter(record) is kept, (logger, data)
        assert record.getMessage()  # a well-formed record, as Celery logs it
    assert not logging.getLogger("celery.beat").filter(
        _beat_record("heartbeats-misses-detect", "heartbeats.misses_detect")
    )


def test_other_tasks_warnings_and_errors_are_always_logged(quiet: HousekeepingQuiet) -> None:
    step = {"id": "2", "name": "escalations.run_fire", "args": "(1, 3)", "kwargs": "{}"}
    strategy = logging.getLogger("celery.worker.strategy")
    assert strategy.filter(_celery_record("celery.worker.strategy", trace.LOG_RECEIVED, step))
    result = {**step, "return_value": "False", "runtime": 0.01}
    assert logging.getLogger("celery.app.trace").filter(
        _celery_record("celery.app.trace", trace.LOG_SUCCESS, result)
    )
    failed = {"id": "1", "name": "heartbeats.misses_detect", "return_value": "0"}
    assert logging.getLogger("celery.app.trace").filter(
        _celery_record("celery.app.trace", "Task %(name)s failed", failed, logging.ERROR)
    )
    assert logging.getLogger("celery.beat").filter(_beat_record("other", "escalations.run_fire"))


def test_the_worker_and_beat_attach_the_filter_when_their_logging_is_set_up() -> None:
    from celery.signals import after_setup_logger

    def attached() -> list[logging.Filter]:
        return [
            f for f in logging.getLogger("celery.beat").filters if isinstance(f, HousekeepingQuiet)
        ]

    before = attached()
    after_setup_logger.send(
        sender=None, logger=logging.getLogger(), loglevel=logging.INFO, logfile=None,
        format="", colorize=False,
    )  # fmt: skip
    added = [f for f in attached() if f not in before]
    try:
        assert len(added) == 1
        assert "heartbeats.misses_detect" in added[0].tasks  # type: ignore[attr-defined]
    finally:
        for name in LOGGERS:
            for quiet in added:
                logging.getLogger(name).removeFilter(quiet)
