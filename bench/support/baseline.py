"""What every benchmark reports beside its own figures (issue 20): the raw-PostgreSQL baseline
measured in the same run, each rate as a share of it, and CPU per component per event.

- `measure()`: durable single-row INSERTs of a 0.5 KB JSON body into a table of its own, from
  BENCH_RAW_CLIENTS (8) connections for BENCH_RAW_SECONDS (5), autocommit (every row its own
  committed, fsynced transaction), against the PostgreSQL of Django's settings: rows a second.
  Run it while the product's processes are stopped, so it is the machine's figure.
- `share_of_raw()`: a rate divided by that one.
- `CpuMeter`: CPU seconds of each component between `start()` and `stop(count)` from /proc:
  the processes started through bench/support/procfile.py (by Procfile name: web, worker,
  escalator, beat, ...), PostgreSQL (as `cpu.postgres_cpu_seconds`), Redis (INFO's process_id),
  and optionally this process; per counted thing (event, request, change, call, ...) in ms,
  which is also CPU seconds per 1,000 of them: capacity for N cores is N * 1000 over the sum.
  /proc counts in clock ticks (10 ms): a window's figure is good to 10 ms over its count.
- `table()`: the Markdown lines a benchmark prints on stderr.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from bench.support import cpu, procfile

__all__ = [
    "BODY",
    "CpuMeter",
    "components",
    "described",
    "measure",
    "print_table",
    "raw_inserts",
    "share_of_raw",
    "table",
]

CLIENTS = int(os.environ.get("BENCH_RAW_CLIENTS", "8"))
SECONDS = float(os.environ.get("BENCH_RAW_SECONDS", "5"))
WHAT = (
    "durable single-row INSERTs (autocommit) of a {size}-byte JSON body into a table of its"
    " own, one connection per client, while the product's processes are stopped"
)
# The shape of an Alertmanager-like webhook body, as bench/ingest.py posts it (about 0.5 KB).
BODY = json.dumps(
    {
        "receiver": "bench",
        "status": "firing",
        "title": "High CPU on node-0",
        "dedup_id": "raw",
        "labels": {"alertname": "HighCPU", "severity": "critical", "instance": "node-0"},
        "annotations": {"summary": "CPU above 90% for 5 minutes", "runbook": "https://x/y"},
        "pad": "x" * 200,
    }
).encode()


# --- the raw-PostgreSQL baseline ------------------------------------------------------------


def _conninfo() -> dict[str, Any]:
    from django.conf import settings

    db = settings.DATABASES["default"]
    return dict(
        host=db["HOST"],
        port=db["PORT"],
        user=db["USER"],
        password=db["PASSWORD"],
        dbname=db["NAME"],
    )


def raw_inserts(clients: int, seconds: float, body: bytes = BODY) -> float:
    """Durable single-row INSERTs of `body` a second from `clients` connections for `seconds`,
    into a table created for the run and dropped after (call after django.setup())."""
    import psycopg

    conninfo = _conninfo()
    table_name = f"bench_raw_insert_{os.getpid()}"  # two benches on one database: two tables
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {table_name} (id bigserial PRIMARY KEY,"  # noqa: S608
            " received_at timestamptz NOT NULL DEFAULT now(), body jsonb NOT NULL)"
        )
    counts = [0] * clients
    stop = time.perf_counter() + seconds

    def work(i: int) -> None:
        with psycopg.connect(**conninfo, autocommit=True) as conn:
            while time.perf_counter() < stop:
                conn.execute(
                    f"INSERT INTO {table_name} (body) VALUES (%s::jsonb)",  # noqa: S608
                    [body.decode()],
                )
                counts[i] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        conn.execute(f"DROP TABLE {table_name}")
    return sum(counts) / seconds


def measure(clients: int = CLIENTS, seconds: float = SECONDS, body: bytes = BODY) -> dict[str, Any]:
    """The baseline object of a benchmark's JSON (call after django.setup(), with the product's
    processes stopped and Django's own connections closed or idle)."""
    return described(raw_inserts(clients, seconds, body), clients, seconds, body)


def described(rate: float, clients: int, seconds: float, body: bytes = BODY) -> dict[str, Any]:
    """The baseline object for a rate of raw INSERTs measured by `raw_inserts`."""
    return {
        "what": WHAT.format(size=len(body)),
        "clients": clients,
        "seconds": seconds,
        "rows_per_second": round(rate, 1),
    }


def share_of_raw(rate: float | None, baseline: Mapping[str, Any]) -> float | None:
    """`rate` (things a second) over the baseline's rows a second."""
    raw = baseline.get("rows_per_second")
    if rate is None or not raw:
        return None
    return round(rate / float(raw), 4)


# --- CPU per component ----------------------------------------------------------------------


_POSTMASTER: list[int] = []


def _postgres_cpu_seconds() -> float:
    """`cpu.postgres_cpu_seconds`, its postmaster found once through a connection of its own:
    Django's refuses to be used from the async load generators, and a new one per reading
    would be load."""
    if not _POSTMASTER:
        import psycopg

        with psycopg.connect(**_conninfo()) as conn:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
            assert row is not None
            _POSTMASTER.append(cpu.parent_pid(int(row[0])))
    return cpu.postmaster_cpu_seconds(_POSTMASTER[0])


def _redis_cpu_seconds() -> float:
    import redis
    from django.conf import settings

    pid = int(redis.Redis.from_url(settings.REDIS_URL).info("server")["process_id"])
    return cpu.tree_cpu_seconds(pid)


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU seconds of each component between `start()` and `stop()`, per thing counted.

    `processes`: name -> process (those of procfile.start, by Procfile name, or any process
    whose tree is a component), read when measured, so a process restarted in between is
    counted from its start (less `startup`, its start-up's CPU, when given to `stop`).
    PostgreSQL and Redis are always components. `own`: this process's CPU as a component of
    that name; `own_is_product`: whether it is the product's (code measured in-process,
    summed into `_all`) or only the load generator's (reported, not summed).
    """

    def __init__(
        self,
        processes: Mapping[str, subprocess.Popen[bytes]] | None = None,
        *,
        own: str | None = None,
        own_is_product: bool = False,
    ) -> None:
        self.processes = processes if processes is not None else {}
        self.own, self.own_is_product = own, own_is_product
        self.before: dict[str, tuple[int | None, float]] = {}
        self.started = time.monotonic()

    def _read(self) -> dict[str, tuple[int | None, float]]:
        now: dict[str, tuple[int | None, float]] = {
            name: (process.pid, cpu.tree_cpu_seconds(process.pid))
            for name, process in self.processes.items()
            if process.poll() is None
        }
        now["postgres"] = (None, _postgres_cpu_seconds())
        now["redis"] = (None, _redis_cpu_seconds())
        if self.own:
            now[self.own] = (None, _own_cpu_seconds())
        return now

    def start(self) -> CpuMeter:
        self.before = self._read()
        self.started = time.monotonic()
        return self

    def stop(
        self,
        count: float,
        unit: str = "event",
        *,
        extra: Mapping[str, float] | None = None,
        startup: Mapping[str, float] | None = None,
    ) -> dict[str, Any]:
        """`cpu_ms_per_<unit>` by component (= CPU seconds per 1,000), `cpu_ms_per_<unit>_all`
        (the product's components summed; None when nothing was counted) and what it was
        measured over (`cores_busy`: every component, this process's too, over the wall time).
        `count` things of `unit` ("second": pass the wall seconds, for a load without events).
        `extra`: CPU seconds measured elsewhere (e.g. by the processes themselves), as
        components of their own."""
        wall = time.monotonic() - self.started
        after = self._read()
        used: dict[str, float] = {}
        restarted = []
        for name, (pid, seconds) in after.items():
            pid_before, seconds_before = self.before.get(name, (None, 0.0))
            if name in self.before and pid == pid_before:
                used[name] = seconds - seconds_before
            else:  # started (again) in the window: all of it, less its start-up if known
                used[name] = max(0.0, seconds - (startup or {}).get(name, 0.0))
                restarted.append(name)
        used.update(extra or {})
        product = [n for n in used if n != self.own or self.own_is_product]
        window: dict[str, Any] = {} if unit == "second" else {_plural(unit): count}
        window["seconds"] = round(wall, 2)
        window["cores_busy"] = round(sum(used.values()) / wall, 2) if wall > 0 else None
        if restarted and any(n in self.processes for n in restarted):
            window["started_in_window"] = [n for n in restarted if n in self.processes]
        if count <= 0:
            return {
                f"cpu_ms_per_{unit}": dict.fromkeys(used),
                f"cpu_ms_per_{unit}_all": None,
                "cpu_measured_over": window,
            }
        per = 1000 / count
        return {
            f"cpu_ms_per_{unit}": {name: round(value * per, 3) for name, value in used.items()},
            f"cpu_ms_per_{unit}_all": round(sum(used[n] for n in product) * per, 2),
            "cpu_measured_over": window,
        }


def _plural(unit: str) -> str:
    return unit[:-1] + "ies" if unit.endswith("y") and unit[-2:-1] not in "aeiou" else unit + "s"


def components(processes: Iterable[str], **others: str) -> dict[str, str]:
    """What each CPU component is: the Procfile line of each process (its queues for a
    Celery worker), PostgreSQL and Redis, and `others` (e.g. bench="this process: ...")."""
    described: dict[str, str] = {}
    for name in processes:
        try:
            argv = procfile.command(name, {})
        except SystemExit:
            described[name] = name
            continue
        if "-Q" in argv:
            described[name] = f"Procfile {name}: Celery worker, queues {argv[argv.index('-Q') + 1]}"
        else:
            described[name] = f"Procfile {name}: " + " ".join(
                [os.path.basename(argv[0]), *argv[1:4]]
            )
    described["postgres"] = "the PostgreSQL server (postmaster, backends, exited backends)"
    described["redis"] = "the Redis server"
    described.update(others)
    return described


# --- the Markdown table ---------------------------------------------------------------------

ORDER = ("web", "worker", "escalator", "beat", "phone", "slack", "postgres", "redis")


def _cpu_of(figures: Mapping[str, Any]) -> tuple[str, dict[str, float], float | None]:
    for key, value in figures.items():
        if key.startswith("cpu_ms_per_") and isinstance(value, dict):
            return key.removeprefix("cpu_ms_per_"), value, figures.get(f"{key}_all")
    return "", {}, None


def table(baseline: Mapping[str, Any], rows: list[tuple[str, str, float | None, Any]]) -> str:
    """The baseline line and one row per load: (load, its figure, share of raw, the figures
    holding its `cpu_ms_per_<unit>` as `CpuMeter.stop` returns them, or None)."""
    names: list[str] = []
    for _, _, _, figures in rows:
        for name in _cpu_of(figures or {})[1]:
            if name not in names:
                names.append(name)
    names.sort(key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    clients = baseline["clients"]
    lines = [
        f"Raw PostgreSQL baseline, same run: {baseline['rows_per_second']:,.0f} durable"
        f" single-row INSERTs/s from {clients} connection{'' if clients == 1 else 's'}"
        f" ({baseline['seconds']:g} s)."
        " CPU ms per thing counted, by component (= CPU s per 1,000; 'all' leaves out the"
        " bench's own load generator).",
        "",
        "| load | figure | share of raw | CPU ms per | " + " | ".join(names) + " | all |",
        "|---|---|---|---|" + "---|" * (len(names) + 1),
    ]
    for load, figure, share, figures in rows:
        unit, per, total = _cpu_of(figures or {})
        cells = ["-" if per.get(n) is None else str(per[n]) for n in names]
        lines.append(
            f"| {load} | {figure} | {'-' if share is None else f'{share:.3f}'} | {unit or '-'} | "
            + " | ".join(cells)
            + f" | {'-' if total is None else total} |"
        )
    return "\n".join(lines)


def print_table(
    baseline: Mapping[str, Any], rows: list[tuple[str, str, float | None, Any]]
) -> None:
    """`table()` on stderr, after a blank line (below a benchmark's own table, if any)."""
    print("\n" + table(baseline, rows), file=sys.stderr)
