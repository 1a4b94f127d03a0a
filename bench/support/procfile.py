"""Start the Procfile's processes the way `make run` does, for the benchmarks in bench/."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def names() -> list[str]:
    """Every process of the Procfile, in order."""
    return [
        line.split(":", 1)[0]
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]


def command(name: str, env: dict[str, str]) -> list[str]:
    """The Procfile line of `name` with ${VAR}s from `env`, quieter logs, the venv's tools."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            text = line.split(":", 1)[1].strip()
            for key, value in env.items():
                text = text.replace("${" + key + "}", value)
            text = text.replace("--loglevel info", "--loglevel warning")
            parts = shlex.split(text)
            local = ROOT / ".venv" / "bin" / parts[0]
            return [str(local) if local.exists() else parts[0], *parts[1:]]
    raise SystemExit(f"no {name}: line in Procfile")


def start(name: str, env: dict[str, str], *, new_session: bool = False) -> subprocess.Popen[bytes]:
    """Start one Procfile process with DEBUG off and `env` added; its output is discarded, or
    appended to `<name>.log` in BENCH_LOG_DIR when that is set. `new_session`: in a process
    group of its own, which bench/chaos.py kills as a whole (as systemd or Kubernetes do)."""
    return start_command(name, command(name, env), env, new_session=new_session)


def start_command(
    label: str, argv: list[str], env: dict[str, str], *, new_session: bool = False
) -> subprocess.Popen[bytes]:
    """`start` for a command of one's own (e.g. a Procfile line with other options), its
    output in `<label>.log` of BENCH_LOG_DIR."""
    full = {
        **os.environ,
        "OPSDUTY_DEBUG": "0",
        **env,
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
    }
    log_dir = os.environ.get("BENCH_LOG_DIR")  # keep each process's output there
    output = open(Path(log_dir) / f"{label}.log", "ab") if log_dir else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        argv,
        cwd=ROOT,
        env=full,
        stdout=output,
        stderr=subprocess.STDOUT if log_dir else subprocess.DEVNULL,
        start_new_session=new_session,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def wait_for_port(port: int) -> None:
    # Generous: four processes importing Django at once on a busy 2-core box took over 30 s.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the web process did not start")


def wait_for_worker() -> None:
    """Until a Celery worker answers a ping (Django set up, the broker from settings)."""
    from opsduty.celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if app.control.ping(timeout=1.0):
            return
    raise SystemExit("the worker did not start")


def queued_tasks(queues: tuple[str, ...] = ("ingest", "escalation", "notify", "default")) -> int:
    """Celery tasks waiting in `queues` (by default all): leftovers of earlier runs (e.g. a
    notify backlog) are work the workers do during this run and skew every figure."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    return sum(int(client.llen(q)) for q in queues)
