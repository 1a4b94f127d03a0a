"""A private PostgreSQL and Redis for bench/chaos.py, which kills and restarts them.

PostgreSQL is a fresh cluster (initdb into a temporary directory, run as the `postgres` OS
user, as bin/dev does; initdb refuses root); Redis is configured as bin/dev starts it (no
persistence: what is queued in Redis is lost when it dies, as in `make run`). Both listen on
free loopback ports. Killing: `pg_ctl -m immediate` (every server process quits at once, no
checkpoint: a crash, recovered from WAL on the next start) and SIGKILL for Redis.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PG_OS_USER = os.environ.get("OPSDUTY_PG_OS_USER", "postgres")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int, timeout: float = 0.5) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=timeout).close()
    except OSError:
        return False
    return True


def _pg_bin() -> Path:
    for candidate in [
        Path("/usr/lib/postgresql/15/bin"),
        *Path("/usr/lib/postgresql").glob("*/bin"),
    ]:
        if (candidate / "initdb").exists():
            return candidate
    raise SystemExit("PostgreSQL server binaries not found (make setup installs them)")


class Postgres:
    """One PostgreSQL cluster under `root`/pg, database `opsduty` owned by role `opsduty`."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port, self.bin = root / "pg", port, _pg_bin()
        self.data, self.log = self.root / "data", self.root / "server.log"
        self.password = secrets.token_urlsafe(24)

    @property
    def url(self) -> str:
        return f"postgres://opsduty:{self.password}@127.0.0.1:{self.port}/opsduty"

    def _as_postgres(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(  # noqa: S603 - our own arguments
            ["runuser", "-u", PG_OS_USER, "--", *args], capture_output=True, check=False
        )

    def init(self) -> None:
        self.root.mkdir(parents=True)
        shutil.chown(self.root, PG_OS_USER)
        self.root.chmod(0o700)
        done = self._as_postgres(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
            "--locale=C.UTF-8", "--encoding=UTF8", "--auth-local=peer",
            "--auth-host=scram-sha-256",
        )  # fmt: skip
        if done.returncode:
            raise SystemExit(f"initdb failed: {done.stderr.decode()[-2000:]}")
        self.start()
        sql = (
            f"CREATE ROLE opsduty LOGIN CREATEDB PASSWORD '{self.password}';"
            " CREATE DATABASE opsduty OWNER opsduty;"
        )
        for statement in sql.split(";")[:2]:
            done = self._as_postgres(
                str(self.bin / "psql"), "-h", str(self.root), "-p", str(self.port),
                "-U", "postgres", "-d", "postgres", "-qAt", "-c", statement.strip(),
            )  # fmt: skip
            if done.returncode:
                raise SystemExit(f"psql failed: {done.stderr.decode()}")

    def start(self) -> None:
        """Start (after a crash: recover) and wait until it accepts connections."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c max_connections=200"
        )
        done = self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
            "-w", "-t", "120", "-o", options, "start",
        )  # fmt: skip
        if done.returncode:
            raise SystemExit(f"PostgreSQL did not start: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """Immediate shutdown: the server processes quit without a checkpoint (a crash)."""
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")

    def stop(self) -> None:
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop")

    def version(self) -> str:
        done = subprocess.run(  # noqa: S603
            [str(self.bin / "postgres"), "--version"], capture_output=True, check=False
        )
        return done.stdout.decode().strip()


class Redis:
    """redis-server on `port` in the foreground of its own process group, no persistence."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root / "redis", port
        self.root.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = open(self.root / "redis.log", "ab")  # noqa: SIM115 - the server's output
        self.process = subprocess.Popen(  # noqa: S603
            [
                "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.root),
            ],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if port_open(self.port):
                return
            time.sleep(0.05)
        raise SystemExit("Redis did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def version(self) -> str:
        done = subprocess.run(["redis-server", "--version"], capture_output=True, check=False)  # noqa: S607
        return done.stdout.decode().split(" sha=")[0].strip()
