"""Debian's PgBouncer in transaction mode on a free loopback port, in front of the PostgreSQL
of DATABASE_URL, for bench/scaleout.py (docs/scaling.md has the production settings).

Nothing is installed here: without `pgbouncer` on the PATH (or /usr/sbin) the bench stops
and says `apt-get install -y pgbouncer`. PgBouncer refuses to run as root, so as root it
runs as the `postgres` OS user (as bin/dev runs PostgreSQL), from a directory that user owns.
Clients authenticate with SCRAM against `userlist.txt`, which holds the database password;
PgBouncer logs in to PostgreSQL with the same password.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from bench.support.chaos_cluster import free_port, port_open

OS_USER = os.environ.get("OPSDUTY_PG_OS_USER", "postgres")


def binary() -> str:
    found = shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
    )
    if found is None:
        raise SystemExit(
            "PgBouncer is not installed: run `apt-get install -y pgbouncer` (Debian's package; "
            "apt does not start it here, the bench starts its own on a free loopback port)"
        )
    return found


def version() -> str:
    done = subprocess.run([binary(), "--version"], capture_output=True, text=True, check=False)  # noqa: S603
    return done.stdout.splitlines()[0].strip() if done.stdout else "?"


class PgBouncer:
    """One PgBouncer, `pool_mode = transaction`, at most `pool_size` server connections."""

    def __init__(self, root: Path, database_url: str, *, pool_size: int = 20) -> None:
        self.root = root / "pgbouncer"
        self.target = urlsplit(database_url)
        self.port = free_port()
        self.pool_size = pool_size
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def user(self) -> str:
        return unquote(self.target.username or "")

    @property
    def password(self) -> str:
        return unquote(self.target.password or "")

    @property
    def dbname(self) -> str:
        return self.target.path.lstrip("/")

    @property
    def url(self) -> str:
        """DATABASE_URL through PgBouncer."""
        return (
            f"postgres://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@127.0.0.1:{self.port}/{self.dbname}"
        )

    def _config(self) -> str:
        return "\n".join(
            [
                "[databases]",
                f"{self.dbname} = host={self.target.hostname} port={self.target.port}"
                f" dbname={self.dbname}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {self.port}",
                "unix_socket_dir =",
                "auth_type = scram-sha-256",
                f"auth_file = {self.root / 'userlist.txt'}",
                f"admin_users = {self.user}",
                "pool_mode = transaction",
                f"default_pool_size = {self.pool_size}",
                "max_client_conn = 1000",
                # Django's and psycopg's connections send none, but some drivers do.
                "ignore_startup_parameters = extra_float_digits",
                f"logfile = {self.root / 'pgbouncer.log'}",
                "",
            ]
        )

    def start(self) -> None:
        command = [binary(), str(self.root / "pgbouncer.ini")]
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "pgbouncer.ini").write_text(self._config())
        userlist = self.root / "userlist.txt"
        userlist.write_text(f'"{self.user}" "{self.password}"\n')
        userlist.chmod(0o600)
        if os.geteuid() == 0:  # "PgBouncer should not run as root"
            for path in (self.root, *self.root.iterdir()):
                shutil.chown(path, OS_USER)
            for parent in self.root.parents:  # the user must reach its directory
                if parent.stat().st_mode & 0o001 == 0:
                    parent.chmod(parent.stat().st_mode | 0o001)
            command = ["runuser", "-u", OS_USER, "--", *command]
        output = open(self.root.parent / "pgbouncer.out", "ab")  # noqa: SIM115 - its output
        self.process = subprocess.Popen(  # noqa: S603 - our own arguments
            command, stdout=output, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 15
        while not port_open(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                said = (self.root.parent / "pgbouncer.out").read_text()[-2000:]
                raise SystemExit(f"PgBouncer did not start: {said}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        # It holds the database password: not left behind in the kept run directory.
        (self.root / "userlist.txt").unlink(missing_ok=True)

    def _connect(self, dbname: str, **options: Any) -> Any:
        import psycopg

        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=dbname,
            autocommit=True,
            **options,
        )

    def show(self, what: str) -> list[dict[str, Any]]:
        """Rows of the admin console's `SHOW <what>` (POOLS, STATS, ...)."""
        import psycopg

        with self._connect("pgbouncer", cursor_factory=psycopg.ClientCursor) as conn:
            cursor = conn.execute(f"SHOW {what}", prepare=False)
            names = [column.name for column in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def server_sessions(self) -> list[dict[str, Any]]:
        """What each of PgBouncer's server connections holds for the next client: up to
        `pool_size` client connections each open a transaction at once, so each is given a
        server connection of its own, and look at that session."""
        clients = [
            self._connect(self.dbname, prepare_threshold=None) for _ in range(self.pool_size)
        ]
        try:
            for conn in clients:
                conn.execute("BEGIN")
            found = []
            for conn in clients:
                row = conn.execute(
                    "SELECT pg_backend_pid(), current_setting('synchronous_commit'),"
                    " (SELECT count(*) FROM pg_prepared_statements),"
                    " (SELECT count(*) FROM pg_cursors),"
                    " current_setting('TimeZone')"
                ).fetchone()
                assert row is not None
                found.append(
                    {
                        "backend": row[0],
                        "synchronous_commit": row[1],
                        "prepared_statements": row[2],
                        "cursors": row[3],
                        "timezone": row[4],
                    }
                )
            return found
        finally:
            for conn in clients:
                conn.close()
