"""Real outages for the degradation tests (docs/operations.md): a private Redis server that a
test stops and starts again, a TCP relay in front of the test PostgreSQL that a test cuts
(every connection through it is closed from the server side, as when PostgreSQL or
PgBouncer restarts, and new ones are refused) and restores, and the product's own processes
(uvicorn web, Celery beat) started as `make run` starts them, pointed at either.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from tests.waiting import wait_until

PROCESS_DEADLINE = 120.0  # seconds: starting a process on a busy box; only stops a hung test


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class RedisServer:
    """`redis-server` on a free loopback port, no persistence: a restart loses everything."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(  # noqa: S603 - Debian's redis-server, our arguments
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert wait_until(lambda: _listening(self.port)), "redis-server did not start"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # no shutdown save: what it held is gone
            self.process.wait(timeout=10)
        self.process = None


class PostgresRelay:
    """A loopback TCP relay to the test PostgreSQL; `cut()` is the database going away."""

    def __init__(self) -> None:
        db = settings.DATABASES["default"]
        self.upstream = (str(db["HOST"] or "127.0.0.1"), int(db["PORT"]))
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def database_url(self) -> str:
        db = settings.DATABASES["default"]
        from urllib.parse import quote

        return (
            f"postgres://{quote(db['USER'], safe='')}:{quote(db['PASSWORD'], safe='')}"
            f"@127.0.0.1:{self.port}/{db['NAME']}"
        )

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Close every relayed connection and refuse new ones (PostgreSQL is down)."""
        with self._lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:  # cut while this one was connecting
                    client.close()
                    server.close()
                    return
                self._sockets.update((client, server))
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                target.sendall(chunk)
        except OSError:
            pass
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def app_env(*, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of a product process pointed at this database and Redis."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "OPSDUTY_DEBUG": "0",
        "OPSDUTY_STATIC_MANIFEST": "0",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


@dataclass
class AppProcess:
    """One product process (web or beat) and the file its output goes to."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _spawn(args: list[str], env: dict[str, str], log_path: Path) -> AppProcess:
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", *args],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return AppProcess(process=process, log_path=log_path)


def web_start(env: dict[str, str], log_path: Path) -> tuple[AppProcess, str]:
    """`uvicorn opsduty.asgi:application` as the Procfile runs it; (process, base URL)."""
    port = free_port()
    web = _spawn(
        ["uvicorn", "opsduty.asgi:application", "--host", "127.0.0.1", "--port", str(port)]
        + ["--lifespan", "off", "--log-level", "warning"],
        env,
        log_path,
    )
    base = f"http://127.0.0.1:{port}"
    assert wait_until(
        lambda: get(f"{base}/healthz")[0] == 200, deadline_seconds=PROCESS_DEADLINE
    ), web.log()
    return web, base


def beat_start(env: dict[str, str], directory: Path) -> AppProcess:
    """`celery -A opsduty beat` with its schedule file in `directory`."""
    return _spawn(
        ["celery", "-A", "opsduty", "beat", "--loglevel", "INFO"]
        + ["--schedule", str(directory / "celerybeat-schedule")],
        env,
        directory / "beat.log",
    )


def request(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers by lower-case name, body) of one loopback request; 0: refused."""
    assert url.startswith("http://127.0.0.1:")
    host, _, path = url.removeprefix("http://").partition("/")
    connection = http.client.HTTPConnection(host, timeout=30)
    try:
        connection.request(method, "/" + path, body=body, headers=headers or {})
        response = connection.getresponse()
        headers_ = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers_, response.read()
    except OSError:
        return 0, {}, b""
    finally:
        connection.close()


def get(url: str, **headers: str) -> tuple[int, bytes]:
    status, _, body = request(url, headers=headers)
    return status, body


THREAD_DEADLINE = 10.0  # seconds: only stops a hung test


def in_thread(fn: Callable[[], Any]) -> tuple[bool, Any]:
    """Run `fn` on another thread (its own database connection); (finished in time, result).

    An exception in `fn` is raised here."""
    from django.db import connection

    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = fn()
        except BaseException as error:  # noqa: BLE001 - handed to the test's thread
            result["error"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=THREAD_DEADLINE)
    if "error" in result:
        raise result["error"]
    return not thread.is_alive(), result.get("value")


def terminate_my_backend(*_: object) -> None:
    """What a PostgreSQL restart does to this thread's connection, from a second connection
    (waiting until the backend is gone)."""
    from django.db import connection, connections

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
            assert cursor.fetchone()[0]
    finally:
        other.close()
