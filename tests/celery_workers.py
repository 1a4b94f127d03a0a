"""Real `celery worker` OS processes for the tests that need one (marked `worker`).

`start_worker(name, *args)` starts `celery -A opsduty worker <args> -n name@%h` against the
test PostgreSQL database and the test Redis. The process imports Django and the tasks at
once, then waits for `go()` before it runs Celery's command line, so several workers do
their slow imports together and "starting" one later takes about a second.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from tests import log_secrets

VISIBILITY_TIMEOUT = 1  # seconds; the test's worker processes only
# Waits that include a worker process starting: generous, so that a box busy with other work
# fails nothing; the deadline only stops a broken test from hanging.
WORKER_DEADLINE = 120.0
# Nothing connects to Redis or PostgreSQL before the line on stdin arrives.
_WARM_START = (
    "import sys, django; from opsduty.celery import app; django.setup(); "
    "app.loader.import_default_modules(); from celery.bin.celery import main; "
    "sys.stdin.readline(); sys.argv[0] = 'celery'; main()"
)
_QUIET = ("--without-gossip", "--without-mingle", "--without-heartbeat")


@dataclass
class WorkerProcess:
    """One `celery worker` OS process, started by `go()`, and the file its output goes to."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"go\n")
        self.process.stdin.flush()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no warm shutdown, no chance to ack, requeue or roll back anything."""
        self.process.send_signal(signal.SIGKILL)
        assert self.process.wait(timeout=10) == -signal.SIGKILL

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stdin is not None:
            self.process.stdin.close()


def worker_database_url(**options: str) -> str:
    """pytest-django's test database as a DATABASE_URL, with libpq `options` as a query."""
    db = connection.settings_dict
    url = (
        f"postgres://{quote(db['USER'], safe='')}:{quote(db['PASSWORD'], safe='')}"
        f"@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    )
    query = "&".join(f"{key}={quote(value, safe='')}" for key, value in options.items())
    return f"{url}?{query}" if query else url


def _worker_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment, pointed at the test database and broker."""
    return {
        **os.environ,
        "DATABASE_URL": worker_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "OPSDUTY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


StartWorker = Callable[..., WorkerProcess]


@pytest.fixture
def start_worker(transactional_db: None, tmp_path: Path) -> Iterator[StartWorker]:
    """`start(name, *worker_args, env={...})`; every worker started is stopped after the test.

    (The autouse cache fixture flushes the test Redis, queues included, before every test.)
    """
    started: list[WorkerProcess] = []

    def start(name: str, *args: str, env: dict[str, str] | None = None) -> WorkerProcess:
        log_path = tmp_path / f"{name}.log"
        command = ["-A", "opsduty", "worker", *args, *_QUIET, "-n", f"{name}@%h"]
        with log_path.open("wb") as log:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                [sys.executable, "-c", _WARM_START, *command],
                cwd=settings.BASE_DIR,
                env=_worker_env(env or {}),
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        worker = WorkerProcess(process=process, log_path=log_path)
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()
            # Its output is scanned for secrets with the run's logs (tests/log_secrets.py).
            log_secrets.recorder().add_text(f"celery worker {worker.log_path.name}", worker.log())
