"""The paging pipeline's figures (issue 20's table) in one run, each beside the raw
PostgreSQL baseline measured in the same run, with the CPU of every component.

Serves the product the way `make run` does (the Procfile's `web:`, `worker:`, `escalator:`
and `beat:`, DEBUG off, email delivered to Django's in-memory backend, so "handed to the
provider" is the notification's `sent_at`) on loopback. The loads, in order:

- `raw_insert`: the baseline. Single-row durable INSERTs of a webhook body into a table of
  its own from BENCH_CLIENTS (8) connections for BENCH_SECONDS; rows a second.
- `ingest`: BENCH_CLIENTS connections POST webhook events (a new dedup id each) for
  BENCH_SECONDS with every process running; 202s a second, p50/p99, share of `raw_insert`.
- `mixed`, `new_incidents`, `dedup_storm`: with the worker stopped, the web stores a backlog
  of BENCH_EVENTS (4,000) events; then the worker is started and drains it. `mixed`: per
  dedup id a new event, a duplicate, an acknowledge and a resolve (BENCH_EVENTS / 4 ids, the
  same order per id); `new_incidents`: a new dedup id each, on a service without a policy;
  `dedup_storm`: one dedup id. Events processed a second from the first to the last, and the
  incidents they opened (exactly BENCH_EVENTS / 4, BENCH_EVENTS and 1).
- `paged_burst`: BENCH_BURST (1,000) events, a new dedup id each, on a service whose policy
  pages its member by email at once, POSTed as fast as BENCH_CLIENTS connections get answers
  with every process running: incidents paged a second (first POST to the last first
  notification sent), POST to the incident's first notification sent (p50/p99/max), missed
  and duplicated first steps.

For each load: CPU seconds per component (web, worker, escalator, beat, PostgreSQL, Redis)
per 1,000 events, from /proc; PostgreSQL statements (round trips; pg_stat_statements, which
`make services` loads) and Celery messages published (Redis LPUSH calls) per event. Prints
one JSON document on stdout and a Markdown table on stderr; `--json FILE` also writes it.

    eval "$(make -s services)"; .venv/bin/python manage.py migrate
    .venv/bin/python bench/pipeline.py

Environment: BENCH_SECONDS (5), BENCH_CLIENTS (8), BENCH_EVENTS (4000), BENCH_BURST (1000),
BENCH_PORT (8313), BENCH_TIMEOUT (300 s per load), BENCH_LOG_DIR (keep the processes' output).
`--loads ingest,paged_burst` runs some of the loads; `--top N` adds each load's N statements
run most (calls and execution time per event), where PostgreSQL's share goes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import ingest as ingest_bench  # noqa: E402 - the raw INSERTs, the timed load
from bench.support import baseline, cpu, procfile, stats  # noqa: E402
from bench.support.webhooks import alert_body, post_all  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsduty.settings")
os.environ["OPSDUTY_DEBUG"] = "0"

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
EVENTS = int(os.environ.get("BENCH_EVENTS", "4000")) // 4 * 4
BURST = int(os.environ.get("BENCH_BURST", "1000"))
PORT = int(os.environ.get("BENCH_PORT", "8313"))
TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "300"))
LOADS = ("ingest", "mixed", "new_incidents", "dedup_storm", "paged_burst")
TOP = 0  # --top
RUN_DIR = tempfile.mkdtemp(prefix="opsduty-bench-pipeline-")
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
COMPONENTS = ("web", "worker", "escalator", "beat")
TARGETS = {
    "ingest_share_of_raw": 0.5,
    "ingest_p99_ms": 25,
    "mixed_per_second": 2000,
    "new_incidents_per_second": 1000,
    "paged_per_second": 500,
    "paged_first_notification_p99_ms": 2000,
    "cpu_ms_per_paged_incident": 5,
    "statements_per_paged_incident": 6,
    "dedup_storm_per_second": 5000,
}


def _env() -> dict[str, str]:
    return {
        "OPSDUTY_WEB_PORT": str(PORT),
        "OPSDUTY_RUN_DIR": RUN_DIR,
        "OPSDUTY_EMAIL_BACKEND": EMAIL_BACKEND,
    }


# --- meters ---------------------------------------------------------------------------------


def _redis() -> Any:
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.REDIS_URL)


def _redis_cpu_seconds() -> float:
    pid = int(_redis().info("server")["process_id"])
    return cpu.tree_cpu_seconds(pid)


def _redis_publishes() -> int:
    """Messages handed to the broker: kombu's Redis transport publishes with LPUSH."""
    commands = _redis().info("commandstats")
    return sum(int(commands.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("lpush", "rpush"))


# The foreign-key checks PostgreSQL's triggers run for each row written: counted by
# pg_stat_statements as top-level statements, but no process sent them (not round trips).
_FK_CHECK = "SELECT % FROM ONLY %FOR KEY SHARE OF x"


def _statements() -> tuple[int, int] | None:
    """Statements the processes sent to PostgreSQL in this database (round trips, BEGIN and
    COMMIT included), and foreign-key checks it ran itself (pg_stat_statements); None
    without it."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
        if cursor.fetchone() is None:
            return None
        cursor.execute(
            "SELECT coalesce(sum(calls) FILTER (WHERE query NOT LIKE %s), 0),"
            " coalesce(sum(calls) FILTER (WHERE query LIKE %s), 0) FROM pg_stat_statements"
            " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
            [_FK_CHECK, _FK_CHECK],
        )
        sent, checks = cursor.fetchone()
        return int(sent), int(checks)


def _statements_reset() -> None:
    """Start this database's statement counts from zero: pg_stat_statements keeps 10,000
    statements (`make services`), and one it drops to make room takes its calls with it, so a
    load's count is only right from an empty view (`bin/dev` grants the reset)."""
    from django.db import DatabaseError, connection

    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database"
                " WHERE datname = current_database()), 0)"
            )
    except DatabaseError:
        print(
            "pipeline: pg_stat_statements not reset; statement counts may be low", file=sys.stderr
        )


def _statement_calls() -> dict[str, tuple[int, float]]:
    """Calls and milliseconds per normalized statement in this database (pg_stat_statements)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
        if cursor.fetchone() is None:
            return {}
        cursor.execute(
            "SELECT query, sum(calls), sum(total_exec_time) FROM pg_stat_statements"
            " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " GROUP BY query"
        )
        return {query: (int(calls), float(ms)) for query, calls, ms in cursor.fetchall()}


def _top_statements(
    before: dict[str, tuple[int, float]], after: dict[str, tuple[int, float]], events: int
) -> list[dict[str, Any]]:
    """The TOP statements a load ran most, per event: where PostgreSQL's share goes."""
    rows: list[dict[str, Any]] = []
    for query, (calls, ms) in after.items():
        calls_before, ms_before = before.get(query, (0, 0.0))
        if calls > calls_before:
            rows.append(
                {
                    "calls_per_event": round((calls - calls_before) / max(events, 1), 2),
                    "exec_ms_per_event": round((ms - ms_before) / max(events, 1), 3),
                    "statement": " ".join(query.split())[:160],
                }
            )
    rows.sort(key=lambda row: -row["calls_per_event"])
    return rows[:TOP]


class Meter:
    """CPU per component, statements and publishes between `start()` and `stop()`."""

    def __init__(self, processes: dict[str, subprocess.Popen[bytes]]) -> None:
        self.processes = processes
        self.worker_startup = 0.0

    def _read(self) -> dict[str, float | int | None]:
        values: dict[str, Any] = {
            name: cpu.tree_cpu_seconds(process.pid)
            for name, process in self.processes.items()
            if process.poll() is None
        }
        values["postgres"] = cpu.postgres_cpu_seconds()
        values["redis"] = _redis_cpu_seconds()
        values["statements"] = _statements()
        values["publishes"] = _redis_publishes()
        return values

    def start(self) -> None:
        _statements_reset()
        self.statements_before = _statement_calls() if TOP else {}
        self.before = self._read()
        self.started = time.monotonic()

    def stop(self, events: int, *, fresh_worker: bool = False) -> dict[str, Any]:
        """Figures per event since `start()`; `fresh_worker`: the worker was started at
        `start()`, and its start-up is not the load's."""
        after = self._read()
        top = _top_statements(self.statements_before, _statement_calls(), events) if TOP else []
        if fresh_worker and isinstance(after.get("worker"), float):
            after["worker"] = max(0.0, after["worker"] - self.worker_startup)  # type: ignore[operator]
        per = 1000 / max(events, 1)
        cpu_ms = {
            name: (after[name] - self.before[name]) * per  # type: ignore[operator]
            for name in (*COMPONENTS, "postgres", "redis")
            if name in after and name in self.before
        }
        cpu_ms = {name: round(value, 3) for name, value in cpu_ms.items()}
        sent = checks = None
        if after["statements"] is not None and self.before["statements"] is not None:
            sent, checks = (
                (after["statements"][k] - self.before["statements"][k]) / max(events, 1)
                for k in (0, 1)
            )
        return {
            "cpu_seconds_per_1000_events": cpu_ms,  # = CPU ms per event
            "cpu_ms_per_event_all": round(sum(cpu_ms.values()), 2),
            # Round trips: statements sent by the processes, BEGIN and COMMIT included.
            "statements_per_event": None if sent is None else round(sent, 1),
            "foreign_key_checks_per_event": None if checks is None else round(checks, 1),
            "publishes_per_event": round(
                (after["publishes"] - self.before["publishes"]) / max(events, 1),  # type: ignore[operator]
                2,
            ),
            "seconds": round(time.monotonic() - self.started, 2),
            **({"top_statements": top} if TOP else {}),
        }


# --- the world ------------------------------------------------------------------------------


class World:
    """A bench organization: a service without a policy, and one that pages its member."""

    def __init__(self) -> None:
        import django

        django.setup()
        from bench.support.world import paged_team
        from escalations.catalog import services as escalation_services
        from escalations.policies import services as policies
        from escalations.policies.models import StepKind
        from signals.models import Webhook

        stamp = time.strftime("%Y%m%d%H%M%S")
        self.stamp = stamp
        paged = paged_team(name="Bench pipeline", domain=f"bench-pipeline-{stamp}")
        self.organization = paged.organization
        self.quiet = escalation_services.service_create(team=paged.team, by=None, name="Quiet")
        self.paged = escalation_services.service_create(team=paged.team, by=None, name="Paged")
        now = policies.policy_create(team=paged.team, by=None, name="Page now")
        policies.step_add(policy=now, by=None, kind=StepKind.NOTIFY, users=[paged.member])
        escalation_services.service_set_policy(service=self.paged, policy=now, by=None)
        webhook = Webhook.objects.create(
            organization=self.organization, name="Bench", rate_limit_per_minute=100_000_000
        )
        base = f"/integrations/webhooks/enque/event/{webhook.key}/"
        self.quiet_path = base + self.quiet.routing_key
        self.paged_path = base + self.paged.routing_key

    def drained(self) -> bool:
        """No event of the organization waits (polled every 0.1 s while a backlog drains:
        EXISTS stops at the first, a count read them all, PostgreSQL CPU the bench charged
        to the product)."""
        from signals.models import RawEvent, RawEventStatus

        return not RawEvent.objects.filter(
            organization=self.organization, status=RawEventStatus.PENDING
        ).exists()


def _wait(done: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + TIMEOUT
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _body(n: int, dedup: str, status: str = "firing") -> bytes:
    return json.dumps(
        {
            "status": status,
            "title": f"High CPU on node-{n % 50}",
            "dedup_id": dedup,
            "labels": {"alertname": "HighCPU", "severity": "critical", "instance": f"node-{n}"},
            "annotations": {"summary": "CPU above 90% for 5 minutes", "runbook": "https://x/y"},
        }
    ).encode()


# --- the loads ------------------------------------------------------------------------------


def raw_insert() -> dict[str, Any]:
    """Durable single-row INSERTs of a webhook body from CLIENTS connections: rows/s."""
    rate = baseline.raw_inserts(CLIENTS, SECONDS, _body(0, "raw"))
    return {"clients": CLIENTS, "rows_per_second": round(rate, 1)}


def ingest(world: World, meter: Meter) -> dict[str, Any]:
    """202s a second with every process running (a new dedup id each)."""
    bodies = [_body(n, f"ingest-{world.stamp}-{n}") for n in range(200_000)]
    ingest_bench.PORT = PORT  # its keep-alive load generator, for a fixed time
    meter.start()
    out = ingest_bench._load(world.quiet_path, CLIENTS, SECONDS, bodies)
    ok = [latency for _, latency, status in out if status == 202]
    figures = meter.stop(len(ok))
    _wait(world.drained)
    return {
        "clients": CLIENTS,
        "accepted": len(ok),
        "accepted_per_second": round(len(ok) / SECONDS, 1),
        **stats.ms(ok, digits=2),
        "other_statuses": sorted({status for _, _, status in out if status != 202}),
        **figures,
    }


@contextmanager
def _worker_stopped(processes: dict[str, subprocess.Popen[bytes]]) -> Iterator[None]:
    procfile.stop(processes["worker"])
    try:
        yield
    finally:
        processes["worker"] = procfile.start("worker", _env())


def backlog(
    world: World,
    processes: dict[str, subprocess.Popen[bytes]],
    meter: Meter,
    events: list[tuple[str, str, bytes]],
    incidents_expected: int,
) -> dict[str, Any]:
    """Store `events` with the worker stopped, then time the worker draining them."""
    from django.db.models import Max, Min

    from incidents.models import Incident
    from signals.models import RawEvent, RawEventStatus

    with _worker_stopped(processes):
        sent = post_all(PORT, events, rate=0, clients=CLIENTS)
        first_id = (
            RawEvent.objects.filter(organization=world.organization)
            .order_by("-id")
            .values_list("id", flat=True)[len(events) - 1]
        )
        before = set(
            Incident.objects.filter(organization=world.organization).values_list("pk", flat=True)
        )
    meter.processes = processes
    meter.start()
    drained = _wait(world.drained)
    figures = meter.stop(len(events), fresh_worker=True)
    rows = RawEvent.objects.filter(organization=world.organization, id__gte=first_id)
    span = rows.aggregate(first=Min("processed_at"), last=Max("processed_at"))
    processed = rows.filter(status=RawEventStatus.PROCESSED).count()
    seconds = (span["last"] - span["first"]).total_seconds() if processed > 1 else 0.0
    opened = Incident.objects.filter(organization=world.organization).exclude(pk__in=before).count()
    return {
        "events": len(events),
        "post_statuses": {str(k): v for k, v in sorted(sent.statuses.items())},
        "processed": processed,
        "drained": drained,
        "events_per_second": round(processed / seconds, 1) if seconds else None,
        "incidents_opened": opened,
        "incidents_expected": incidents_expected,
        **figures,
    }


def paged_burst(world: World, meter: Meter) -> dict[str, Any]:
    """BURST new incidents on the paged service, unpaced: paged a second, POST to sent."""
    from escalations.notifications.models import Notification
    from incidents.models import Incident

    prefix = f"burst-{world.stamp}"
    events = [
        (f"{prefix}-{n}", world.paged_path, alert_body(n, f"{prefix}-{n}")) for n in range(BURST)
    ]
    meter.start()
    sent = post_all(PORT, events, rate=0, clients=CLIENTS)

    def first_sent() -> dict[str, float]:
        found: dict[str, float] = {}
        for dedup, at in Notification.objects.filter(
            incident__service=world.paged, sent_at__isnull=False
        ).values_list("incident__dedup_id", "sent_at"):
            if at is not None:
                found[dedup] = min(found.get(dedup, at.timestamp()), at.timestamp())
        return found

    _wait(lambda: len(first_sent()) >= BURST)
    figures = meter.stop(BURST)
    found = first_sent()
    latencies = [found[d] - sent.sent[d] for d in sent.sent if d in found]
    span = (max(found.values()) - min(sent.sent.values())) if found else 0.0
    rows_per_incident = Notification.objects.filter(incident__service=world.paged).count()
    opened = Incident.objects.filter(service=world.paged).count()
    return {
        "incidents": BURST,
        "post_statuses": {str(k): v for k, v in sorted(sent.statuses.items())},
        "post_seconds": round(sent.seconds, 2),
        "incidents_opened": opened,
        "paged": len(found),
        "missed": BURST - len(found),
        "duplicated_first_steps": max(0, rows_per_incident - opened),
        "paged_per_second": round(len(found) / span, 1) if span else None,
        "post_to_first_notification_sent": stats.ms(latencies, digits=1),
        **figures,
    }


# --- the report -----------------------------------------------------------------------------


def _table(result: dict[str, Any]) -> str:
    raw = result["raw_insert"]["rows_per_second"]
    loads = result["loads"]

    def ratio(value: float | None) -> str:
        return "-" if value is None else f"{value / raw:.2f}"

    lines = [
        "| load | figure | share of raw | target | CPU ms/event (all) | round trips/event"
        " | publishes/event |",
        "|---|---|---|---|---|---|---|",
        f"| raw INSERT, {CLIENTS} clients | {raw:,.0f}/s | 1.00 | | | | |",
    ]
    if i := loads.get("ingest"):
        lines.append(
            f"| webhook ingest, {CLIENTS} clients | {i['accepted_per_second']:,.0f}/s,"
            f" p99 {i['p99_ms']} ms | {ratio(i['accepted_per_second'])} | >= 0.50, p99 < 25 ms"
            f" | {i['cpu_ms_per_event_all']} | {i['statements_per_event']}"
            f" | {i['publishes_per_event']} |"
        )
    for name, label, target in (
        ("mixed", "events processed, mixed", ">= 2,000/s"),
        ("new_incidents", "new incidents, no policy", ">= 1,000/s"),
        ("dedup_storm", "dedup storm (one key)", ">= 5,000/s, 1 incident"),
    ):
        if (load := loads.get(name)) is None:
            continue
        lines.append(
            f"| {label} | {load['events_per_second']}/s, {load['incidents_opened']} incidents"
            f" (expected {load['incidents_expected']}) | {ratio(load['events_per_second'])}"
            f" | {target} | {load['cpu_ms_per_event_all']} | {load['statements_per_event']}"
            f" | {load['publishes_per_event']} |"
        )
    if p := loads.get("paged_burst"):
        lines.append(
            f"| {BURST:,} new incidents paged, burst | {p['paged_per_second']}/s, first"
            f" notification p99 {p['post_to_first_notification_sent']['p99_ms']} ms, missed"
            f" {p['missed']}, dup {p['duplicated_first_steps']} | {ratio(p['paged_per_second'])}"
            f" | >= 500/s, p99 < 2 s; <= 5 ms CPU, <= 6 statements | {p['cpu_ms_per_event_all']}"
            f" | {p['statements_per_event']} | {p['publishes_per_event']} |"
        )
    lines.append("")
    lines.append("CPU ms per event by component:")
    lines.append("")
    names = (*COMPONENTS, "postgres", "redis")
    lines.append("| load | " + " | ".join(names) + " |")
    lines.append("|---|" + "---|" * len(names))
    for name, load in loads.items():
        per = load["cpu_seconds_per_1000_events"]
        lines.append(f"| {name} | " + " | ".join(str(per.get(n, "-")) for n in names) + " |")
    for name, load in loads.items():
        if load.get("top_statements"):
            lines += ["", f"Statements run most, {name} (per event):", ""]
            lines += ["| calls | exec ms | statement |", "|---|---|---|"]
            for row in load["top_statements"]:
                text = row["statement"].replace("|", "\\|")
                lines.append(
                    f"| {row['calls_per_event']} | {row['exec_ms_per_event']} | `{text}` |"
                )
    return "\n".join(lines)


def main() -> None:
    global TOP  # noqa: PLW0603 - read by the meter
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the JSON document here")
    parser.add_argument(
        "--loads", default=",".join(LOADS), help=f"comma-separated, of {', '.join(LOADS)}"
    )
    parser.add_argument("--top", type=int, default=0, help="each load's N most run statements")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.loads.split(",") if name.strip()]
    if unknown := set(chosen) - set(LOADS):
        parser.error(f"unknown loads: {', '.join(sorted(unknown))}")
    TOP = args.top
    world = World()
    from django.db import connections

    connections.close_all()
    baseline = raw_insert()
    processes = {name: procfile.start(name, _env()) for name in COMPONENTS}
    meter = Meter(processes)
    loads: dict[str, Any] = {}
    try:
        procfile.wait_for_port(PORT)
        procfile.wait_for_worker()
        time.sleep(1.0)
        # What a worker spends starting (imports, warm-ups): taken off each backlog's worker
        # CPU, as each backlog is drained by a freshly started worker.
        meter.worker_startup = cpu.tree_cpu_seconds(processes["worker"].pid)
        post_all(PORT, [("warm", world.quiet_path, _body(0, "warm"))] * 16, rate=0, clients=8)
        time.sleep(1.0)
        if "ingest" in chosen:
            loads["ingest"] = ingest(world, meter)
        ids = EVENTS // 4
        # Every id's new event, then every duplicate, acknowledge, resolve: an id's four events
        # are `ids` POSTs apart, so they are stored in their order whatever the clients do.
        mixed = [
            (f"mixed-{n}-{k}", world.quiet_path, _body(n, f"mixed-{world.stamp}-{n}", status))
            for k, status in enumerate(("firing", "firing", "acknowledged", "resolved"))
            for n in range(ids)
        ]
        if "mixed" in chosen:
            loads["mixed"] = backlog(world, processes, meter, mixed, ids)
        new = [
            (f"new-{n}", world.quiet_path, _body(n, f"new-{world.stamp}-{n}"))
            for n in range(EVENTS)
        ]
        if "new_incidents" in chosen:
            loads["new_incidents"] = backlog(world, processes, meter, new, EVENTS)
        storm = [
            (f"storm-{n}", world.quiet_path, _body(n, f"storm-{world.stamp}"))
            for n in range(EVENTS)
        ]
        if "dedup_storm" in chosen:
            loads["dedup_storm"] = backlog(world, processes, meter, storm, 1)
        if "paged_burst" in chosen:
            procfile.wait_for_worker()
            loads["paged_burst"] = paged_burst(world, meter)
    finally:
        for process in processes.values():
            procfile.stop(process)
    result = {
        "benchmark": "pipeline",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "raw_insert": baseline,
        "loads": loads,
        "targets": TARGETS,
    }
    text = json.dumps(result, indent=2)
    print(text)
    print(_table(result), file=sys.stderr)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
