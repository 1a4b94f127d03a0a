"""Scale-out: two of every process through PgBouncer (transaction mode) against one
PostgreSQL keep every exactly-once promise; what that costs per 1,000 events, beside one of
each process on PostgreSQL directly (issue 20, item 4; docs/scaling.md).

Two runs, one after the other, on the dev PostgreSQL and Redis, each with the same load and
the same number of worker processes, DEBUG off, email to a file per process
(`bench/support/chaos_mail.py`, so a message counts once it is written):

- `single`: the Procfile's `web:` (uvicorn, 2 workers), `worker:` (ingest, 2 processes),
  `escalator:` (4 processes) and `beat:`, on PostgreSQL directly (`DATABASE_URL`).
- `pooled`: two of each, each half as wide (two `web:` of 1 uvicorn worker on two ports,
  two `worker:` of 1 process, two `escalator:` of 2), and one `beat:` (beat stays single:
  it only sends the periodic tasks; two would send each twice; the heartbeat miss detector
  and the sweepers it sends run on both escalators), every one through a PgBouncer of
  Debian's package (`bench/support/pgbouncer.py`: `pool_mode = transaction`,
  `default_pool_size` BENCH_POOL_SIZE, 20) with OPSDUTY_DB_PGBOUNCER=1. The load's clients
  are split between the two web processes, as a load balancer would.

The load, in phases (each with its own CPU figures), after BENCH_IDLE_SECONDS (10) with no
load at all (what beat's periodic tasks cost every second, in every phase's figures too):

1. `paged`: BENCH_INCIDENTS (1,000) new alerts, each on a new dedup id, and then each one
   again (a repeat of the same dedup id), POSTed as fast as BENCH_CLIENTS (8) connections
   get answers, on a service whose policy is "notify the member; wait 1 minute; notify the
   member" with a minute of BENCH_MINUTE_SECONDS (3). Until every incident's two steps are
   delivered.
2. `heartbeats`: BENCH_CHECKING (500) heartbeat environments check in over HTTP, paced to
   BENCH_CHECKIN_RATE (200) check-ins a second for BENCH_HEARTBEAT_SECONDS (10), while
   BENCH_MISSING (500) others, which never check in, pass their deadline one after another
   over those seconds (interval 1 hour: each misses once). Until every one is reported.

Then it reconciles what people would notice: one incident per dedup id holding its two
events; each notify step written once per incident (0 missed, 0 duplicated: notification
rows by step, and the timelines' "Step N: notifying" lines); each notification emailed once
(the files' `X-OpsDuty-Notification` headers); each missed deadline reported once (one
"missed" event per environment), none for an environment that checked in; one check-in row
per check-in answered 2xx. For `pooled` also: every server connection PgBouncer would hand
to its next client is clean (no `synchronous_commit` left off, no prepared statement, no
open cursor), and PgBouncer's log shows no error. Reported: throughput, latency, and CPU
seconds per component (web, worker, escalator, beat, PgBouncer, PostgreSQL, Redis, from
/proc) per 1,000 events of each phase. JSON on stdout, a Markdown table on stderr; exit 1 if
any count is off.

    eval "$(make -s services)"; .venv/bin/python manage.py migrate
    apt-get install -y pgbouncer        # Debian's package; the bench starts its own
    .venv/bin/python bench/scaleout.py

Environment: BENCH_INCIDENTS (1000), BENCH_CLIENTS (8), BENCH_MINUTE_SECONDS (3),
BENCH_CHECKING (500), BENCH_MISSING (500), BENCH_CHECKIN_RATE (200),
BENCH_HEARTBEAT_SECONDS (10), BENCH_IDLE_SECONDS (10), BENCH_POOL_SIZE (20), BENCH_PORT
(8320; the pooled run's second web process takes the next port), BENCH_TIMEOUT (300 s per
phase), BENCH_ONLY (`single`, `pooled`, or both in the order to run them, e.g.
`pooled,single`), BENCH_LOG_DIR (the processes' output; by
default a temporary directory, printed).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import cpu, procfile, stats  # noqa: E402
from bench.support.chaos_mail import deliveries  # noqa: E402
from bench.support.pgbouncer import PgBouncer  # noqa: E402
from bench.support.pgbouncer import version as pgbouncer_version  # noqa: E402
from bench.support.webhooks import Sent, alert_body, post_all, response_read  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsduty.settings")
os.environ["OPSDUTY_DEBUG"] = "0"

INCIDENTS = int(os.environ.get("BENCH_INCIDENTS", "1000"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
MINUTE_SECONDS = int(os.environ.get("BENCH_MINUTE_SECONDS", "3"))
CHECKING = int(os.environ.get("BENCH_CHECKING", "500"))
MISSING = int(os.environ.get("BENCH_MISSING", "500"))
CHECKIN_RATE = float(os.environ.get("BENCH_CHECKIN_RATE", "200"))
HEARTBEAT_SECONDS = float(os.environ.get("BENCH_HEARTBEAT_SECONDS", "10"))
POOL_SIZE = int(os.environ.get("BENCH_POOL_SIZE", "20"))
IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "10"))
PORT = int(os.environ.get("BENCH_PORT", "8320"))
TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "300"))
ONLY = os.environ.get("BENCH_ONLY", "")
RUN_DIR = Path(tempfile.mkdtemp(prefix="opsduty-bench-scaleout-"))
os.environ.setdefault("BENCH_LOG_DIR", str(RUN_DIR / "logs"))
Path(os.environ["BENCH_LOG_DIR"]).mkdir(parents=True, exist_ok=True)
COMPONENTS = ("web", "worker", "escalator", "beat", "pgbouncer", "postgres", "redis")


# --- the processes --------------------------------------------------------------------------


def _option(argv: list[str], name: str, value: str) -> list[str]:
    """`argv` with the value of its last `name` option replaced (the worker line starts with
    `nice -n 5`), or the option added."""
    if name in argv:
        at = len(argv) - 1 - argv[::-1].index(name)
        return [*argv[: at + 1], value, *argv[at + 2 :]]
    return [*argv, name, value]


@dataclass
class Unit:
    """One started process of a component (web, worker, escalator, beat)."""

    component: str
    label: str
    process: subprocess.Popen[bytes]


@dataclass
class Deployment:
    """The processes of one run, and the web ports its clients are split between."""

    name: str
    units: list[Unit] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    pgbouncer: PgBouncer | None = None
    mail_dir: Path = RUN_DIR

    def stop(self) -> None:
        for unit in self.units:
            procfile.stop(unit.process)
        if self.pgbouncer is not None:
            self.pgbouncer.stop()


def _env(deployment: Deployment, port: int) -> dict[str, str]:
    env = {
        "OPSDUTY_WEB_PORT": str(port),
        "OPSDUTY_RUN_DIR": str(RUN_DIR / deployment.name),
        "OPSDUTY_ESCALATION_MINUTE_SECONDS": str(MINUTE_SECONDS),
        "OPSDUTY_EMAIL_BACKEND": "bench.support.chaos_mail.FileEmailBackend",
        "BENCH_MAIL_DIR": str(deployment.mail_dir),
    }
    if deployment.pgbouncer is not None:
        env |= {"DATABASE_URL": deployment.pgbouncer.url, "OPSDUTY_DB_PGBOUNCER": "1"}
    return env


def _start(name: str, copies: int) -> Deployment:
    """`copies` (1 or 2) of each worker process, the same number of processes in all."""
    deployment = Deployment(name, mail_dir=RUN_DIR / name / "mail")
    deployment.mail_dir.mkdir(parents=True)
    if copies > 1:
        database_url = os.environ["DATABASE_URL"]
        deployment.pgbouncer = PgBouncer(RUN_DIR / name, database_url, pool_size=POOL_SIZE)
        deployment.pgbouncer.start()
    for n in range(copies):
        port = PORT + n
        env = _env(deployment, port)
        widths = {"web": ("--workers", "2"), "worker": ("--concurrency", "2")}
        widths["escalator"] = ("--concurrency", "4")
        for component, (option, width) in widths.items():
            argv = procfile.command(component, env)
            argv = _option(argv, option, str(int(width) // copies))
            if component != "web":
                argv = _option(argv, "-n", f"{component}{n + 1}@%h")
            label = f"{name}-{component}{n + 1}"
            unit = Unit(component, label, procfile.start_command(label, argv, env))
            deployment.units.append(unit)
        deployment.ports.append(port)
    (RUN_DIR / name).mkdir(exist_ok=True)
    beat_env = _env(deployment, PORT)
    beat = procfile.start_command(f"{name}-beat", procfile.command("beat", beat_env), beat_env)
    deployment.units.append(Unit("beat", f"{name}-beat", beat))
    for port in deployment.ports:
        procfile.wait_for_port(port)
    _wait_for_workers(2 * copies)
    return deployment


def _wait_for_workers(count: int) -> None:
    from opsduty.celery import app

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if len(app.control.ping(timeout=1.0) or []) >= count:
            return
    raise SystemExit("the workers did not all start")


# --- meters ---------------------------------------------------------------------------------


def _redis() -> Any:
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.REDIS_URL)


def _statements() -> dict[str, float]:
    """Statements PostgreSQL ran in this database (pg_stat_statements, which `make services`
    loads), all and those that set a session parameter (`SET`, `set_config`: Django's time
    zone, PgBouncer switching a server connection's time zone between clients)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
        if cursor.fetchone() is None:
            return {}
        cursor.execute(
            "SELECT coalesce(sum(calls), 0),"
            " coalesce(sum(calls) FILTER (WHERE query ~* '^\\s*(SET|SELECT set_config)'), 0)"
            " FROM pg_stat_statements"
            " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        total, settings = cursor.fetchone()
    return {"statements": float(total), "parameter_statements": float(settings)}


class Meter:
    """CPU seconds per component, and statements, between `start()` and `stop()`."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment

    def _read(self) -> dict[str, float]:
        values = dict.fromkeys(COMPONENTS, 0.0) | _statements()
        for unit in self.deployment.units:
            values[unit.component] += cpu.tree_cpu_seconds(unit.process.pid)
        if self.deployment.pgbouncer is not None and self.deployment.pgbouncer.process:
            values["pgbouncer"] = cpu.tree_cpu_seconds(self.deployment.pgbouncer.process.pid)
        values["postgres"] = cpu.postgres_cpu_seconds()
        values["redis"] = cpu.tree_cpu_seconds(int(_redis().info("server")["process_id"]))
        return values

    def start(self) -> None:
        self.before, self.started = self._read(), time.monotonic()

    def stop(self, events: int) -> dict[str, Any]:
        after, seconds = self._read(), time.monotonic() - self.started
        used = {name: after[name] - self.before[name] for name in COMPONENTS}
        per = 1000 / max(events, 1)
        return {
            "seconds": round(seconds, 1),
            "cpu_seconds": {name: round(value, 2) for name, value in used.items()},
            "cores_busy": round(sum(used.values()) / seconds, 2) if seconds else None,
            "cpu_seconds_per_1000_events": {
                name: round(value * per, 3) for name, value in used.items()
            },
            "cpu_seconds_per_1000_events_all": round(sum(used.values()) * per, 2),
            **{
                f"{name}_per_event": round((after[name] - self.before[name]) / max(events, 1), 2)
                for name in ("statements", "parameter_statements")
                if name in after
            },
        }


def _wait(done: Any) -> bool:
    deadline = time.monotonic() + TIMEOUT
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


# --- the world ------------------------------------------------------------------------------


@dataclass
class World:
    """A bench organization per run: a paged service, a heartbeat service, a webhook."""

    stamp: str
    organization: Any
    paged: Any
    heartbeats: Any
    path: str
    checking: list[str]  # check-in paths
    missing: list[int]  # environment ids that never check in


def _world(name: str) -> World:
    from django.utils import timezone

    from bench.support.world import paged_team
    from escalations.catalog import services as catalog
    from signals.models import Heartbeat, HeartbeatState, Webhook

    stamp = f"{time.strftime('%Y%m%d%H%M%S')}-{name}"
    team = paged_team(name=f"Bench scale-out {name}", domain=f"bench-scaleout-{stamp}")
    org = team.organization
    paged = catalog.service_create(team=team.team, by=None, name="Paged")
    catalog.service_set_policy(service=paged, policy=team.policy, by=None)
    quiet = catalog.service_create(team=team.team, by=None, name="Nightly jobs")
    webhook = Webhook.objects.create(organization=org, name="Bench", rate_limit_per_minute=10**8)
    # One heartbeat per environment: a heartbeat's check-ins are rate-limited per key.
    kinds = [("checking", n) for n in range(CHECKING)] + [("missing", n) for n in range(MISSING)]
    beats = Heartbeat.objects.bulk_create(
        Heartbeat(organization=org, service=quiet, name=f"{kind}-{n}") for kind, n in kinds
    )
    far = timezone.now() + timedelta(hours=1)
    states = HeartbeatState.objects.bulk_create(
        HeartbeatState(
            organization=org,
            heartbeat=beat,
            environment="prod",
            type="interval",
            interval_seconds=3600,
            timeout_seconds=0,
            next_expected_at=far,
            next_deadline=far,
        )
        for beat in beats
    )
    return World(
        stamp=stamp,
        organization=org,
        paged=paged,
        heartbeats=quiet,
        path=f"/integrations/webhooks/enque/event/{webhook.key}/{paged.routing_key}",
        checking=[
            f"/heartbeats/checkin/{beat.public_primary_key}/prod/" for beat in beats[:CHECKING]
        ],
        missing=[state.pk for state in states[CHECKING:]],
    )


def _mute(world: World) -> None:
    """No bench environment may miss again in a later run (they would be its load)."""
    from signals.models import HeartbeatState

    HeartbeatState.objects.filter(organization=world.organization).update(
        muted=True, next_deadline=None
    )


# --- phase 0: idle ---------------------------------------------------------------------------


def idle(deployment: Deployment) -> dict[str, Any]:
    """CPU per component per second with no load: beat's periodic tasks (the sweepers, the
    heartbeat miss detector every second) on the escalators and workers. A fixed cost of the
    deployment, in every phase's figures too."""
    meter = Meter(deployment)
    meter.start()
    time.sleep(IDLE_SECONDS)
    figures = meter.stop(1000)  # per 1,000 events of 1 "event" a second: per second x 1,000
    return {
        "seconds": figures["seconds"],
        "cpu_seconds_per_second": {
            name: round(value / figures["seconds"], 4)
            for name, value in figures["cpu_seconds"].items()
        },
        "cores_busy": figures["cores_busy"],
    }


# --- phase 1: paged incidents ---------------------------------------------------------------


def _post_split(ports: list[int], events: list[tuple[str, str, bytes]]) -> Sent:
    """POST `events` over CLIENTS connections split between `ports` (a load balancer)."""
    shares = [events[n :: len(ports)] for n in range(len(ports))]
    results: list[Sent] = [Sent() for _ in ports]

    def send(n: int) -> None:
        results[n] = post_all(ports[n], shares[n], rate=0, clients=CLIENTS // len(ports))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(len(ports))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    merged = Sent(seconds=max(result.seconds for result in results))
    for result in results:
        merged.sent |= result.sent
        merged.answered |= result.answered
        for status, count in result.statuses.items():
            merged.statuses[status] = merged.statuses.get(status, 0) + count
    return merged


class _PoolSampler:
    """The most client and server connections PgBouncer's pool had at once (SHOW POOLS every
    0.5 s), while the paged phase runs."""

    def __init__(self, bouncer: PgBouncer | None) -> None:
        self.bouncer, self.clients, self.servers = bouncer, 0, 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        if bouncer is not None:
            self.thread.start()

    def _run(self) -> None:
        assert self.bouncer is not None
        while not self.stopping.wait(0.5):
            for pool in self.bouncer.show("POOLS"):
                if pool["database"] == self.bouncer.dbname:
                    clients = int(pool["cl_active"]) + int(pool["cl_waiting"])
                    servers = sum(int(pool[k]) for k in ("sv_active", "sv_idle", "sv_used"))
                    self.clients = max(self.clients, clients)
                    self.servers = max(self.servers, servers)

    def stop(self) -> dict[str, Any]:
        if self.bouncer is None:
            return {}
        self.stopping.set()
        self.thread.join(timeout=5)
        return {"pgbouncer_most_clients": self.clients, "pgbouncer_most_servers": self.servers}


def paged(world: World, deployment: Deployment) -> dict[str, Any]:
    from escalations.notifications.models import Notification, NotificationStatus
    from signals.models import RawEvent, RawEventStatus

    prefix = f"scale-{world.stamp}"
    first = [
        (f"{prefix}-{n}", world.path, alert_body(n, f"{prefix}-{n}")) for n in range(INCIDENTS)
    ]
    again = [(f"{key}#2", path, body) for key, path, body in first]
    rows = Notification.objects.filter(incident__service=world.paged)
    meter = Meter(deployment)
    meter.start()
    sampler = _PoolSampler(deployment.pgbouncer)
    sent = _post_split(deployment.ports, first + again)
    raw = RawEvent.objects.filter(organization=world.organization)
    delivered = _wait(
        lambda: (
            not raw.filter(status=RawEventStatus.PENDING).exists()
            and rows.filter(status=NotificationStatus.SENT).count() >= 2 * INCIDENTS
            and not rows.filter(status=NotificationStatus.PENDING).exists()
        )
    )
    figures = meter.stop(2 * INCIDENTS)
    return {
        **sampler.stop(),
        "events": 2 * INCIDENTS,
        "incidents": INCIDENTS,
        "post_statuses": {str(k): v for k, v in sorted(sent.statuses.items())},
        "post_seconds": round(sent.seconds, 2),
        "accepted_per_second": round(2 * INCIDENTS / sent.seconds, 1),
        "delivered_in_time": delivered,
        **_paged_outcome(world, deployment, sent),
        **figures,
    }


def _paged_outcome(world: World, deployment: Deployment, sent: Sent) -> dict[str, Any]:
    """One incident per dedup id with its two events; each step once; each email once."""
    from escalations.notifications.models import Notification, NotificationStatus
    from incidents.models import Incident, IncidentEvent, IncidentLogEntry, LogAction

    incidents = dict(Incident.objects.filter(service=world.paged).values_list("pk", "dedup_id"))
    per_key = Counter(incidents.values())
    events = Counter(
        IncidentEvent.objects.filter(incident__service=world.paged).values_list(
            "incident__dedup_id", flat=True
        )
    )
    # Notification keys: esc:{run}:{version}:{step index}:{repeat}:{user}:{rule}
    steps: Counter[tuple[int, int]] = Counter()
    first_sent: dict[int, float] = {}
    sent_rows = []
    for incident_id, key, status, at in Notification.objects.filter(
        incident__service=world.paged
    ).values_list("incident_id", "idempotency_key", "status", "sent_at"):
        steps[(incident_id, int(key.split(":")[3]))] += 1
        if status == NotificationStatus.SENT and at is not None:
            stamp = at.timestamp()
            first_sent[incident_id] = min(first_sent.get(incident_id, stamp), stamp)
    sent_rows = list(
        Notification.objects.filter(
            incident__service=world.paged, status=NotificationStatus.SENT
        ).values_list("pk", flat=True)
    )
    lines = Counter(
        (incident_id, message.split(":")[0])
        for incident_id, message in IncidentLogEntry.objects.filter(
            incident__service=world.paged,
            action=LogAction.ESCALATION,
            message__contains=": notifying",
        ).values_list("incident_id", "message")
    )
    mailed = deliveries(deployment.mail_dir)
    expected_steps = {(pk, step) for pk in incidents for step in (0, 2)}
    latencies = [
        first_sent[pk] - sent.sent[dedup] for pk, dedup in incidents.items() if pk in first_sent
    ]
    span = max(first_sent.values()) - min(sent.sent.values()) if first_sent else 0.0
    return {
        "incidents_opened": len(incidents),
        "dedup_ids_without_incident": INCIDENTS - len(per_key),
        "dedup_ids_with_more_than_one_incident": sum(1 for n in per_key.values() if n > 1),
        "incidents_without_both_events": sum(1 for key in per_key if events[key] != 2),
        "missed_steps": len(expected_steps - set(steps)),
        "duplicated_steps": sum(1 for n in steps.values() if n > 1)
        + sum(1 for n in lines.values() if n > 1),
        "notifications_sent": len(sent_rows),
        "emails_missing": sum(1 for pk in sent_rows if mailed[pk] == 0),
        "emails_duplicated": sum(1 for n in mailed.values() if n > 1),
        "paged_per_second": round(len(first_sent) / span, 1) if span else None,
        "post_to_first_notification_sent": stats.ms(latencies, digits=0),
    }


# --- phase 2: heartbeats --------------------------------------------------------------------


async def _get(port: int, path: str, connection: list[Any]) -> int:
    if not connection:
        connection.extend(await asyncio.open_connection("127.0.0.1", port))
    reader, writer = connection
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    status, _, _ = await response_read(reader)
    return status


async def _checkins(ports: list[int], paths: list[str]) -> tuple[Counter[int], list[float]]:
    """Check-ins at CHECKIN_RATE a second for HEARTBEAT_SECONDS, round-robin over `paths`,
    from CLIENTS keep-alive connections split between `ports`."""
    total = int(CHECKIN_RATE * HEARTBEAT_SECONDS)
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    statuses: Counter[int] = Counter()
    latencies: list[float] = []

    async def feeder() -> None:
        started = time.monotonic()
        for n in range(total):
            await asyncio.sleep(max(0.0, started + n / CHECKIN_RATE - time.monotonic()))
            queue.put_nowait(paths[n % len(paths)])
        for _ in range(CLIENTS):
            queue.put_nowait(None)

    async def client(port: int) -> None:
        connection: list[Any] = []
        while (path := await queue.get()) is not None:
            at = time.perf_counter()
            statuses[await _get(port, path, connection)] += 1
            latencies.append(time.perf_counter() - at)
        if connection:
            connection[1].close()

    await asyncio.gather(feeder(), *(client(ports[n % len(ports)]) for n in range(CLIENTS)))
    return statuses, latencies


def heartbeats(world: World, deployment: Deployment) -> dict[str, Any]:
    from django.utils import timezone

    from signals.models import HeartbeatCheckIn, HeartbeatState

    missing = HeartbeatState.objects.filter(pk__in=world.missing)
    now = timezone.now()
    deadlines = {}
    for n, pk in enumerate(world.missing):  # one after another over the check-in phase
        deadlines[pk] = now + timedelta(seconds=1 + n * HEARTBEAT_SECONDS / max(MISSING, 1))
        HeartbeatState.objects.filter(pk=pk).update(
            next_expected_at=deadlines[pk], next_deadline=deadlines[pk]
        )
    meter = Meter(deployment)
    meter.start()
    statuses, latencies = asyncio.run(_checkins(deployment.ports, world.checking))
    reported = _wait(lambda: missing.filter(missed_at__isnull=False).count() == MISSING)
    time.sleep(2.0)  # a detector that would report something twice has had its chance
    figures = meter.stop(sum(statuses.values()))
    stored = HeartbeatCheckIn.objects.filter(state__heartbeat__service=world.heartbeats).count()
    return {
        "checkins": sum(statuses.values()),
        "checkin_statuses": {str(k): v for k, v in sorted(statuses.items())},
        "checkin_latency": stats.ms(latencies, digits=1),
        "checkins_stored": stored,
        "checkins_answered_2xx_not_stored": max(0, statuses[200] - stored),
        "misses_expected": MISSING,
        "reported_in_time": reported,
        **_misses(world, deadlines),
        **figures,
    }


def _misses(world: World, deadlines: dict[int, datetime]) -> dict[str, Any]:
    from incidents.models import IncidentEvent

    reports: Counter[int] = Counter()
    lateness = []
    for dedup, at in IncidentEvent.objects.filter(incident__service=world.heartbeats).values_list(
        "incident__dedup_id", "received_at"
    ):
        pk = int(dedup.split(":")[1])
        reports[pk] += 1
        if pk in deadlines:
            lateness.append((at - deadlines[pk]).total_seconds())
    return {
        "misses_not_reported": sum(1 for pk in world.missing if reports[pk] == 0),
        "misses_reported_twice": sum(1 for pk in world.missing if reports[pk] > 1),
        "false_misses": sum(n for pk, n in reports.items() if pk not in deadlines),
        "miss_reported_after_deadline": stats.ms(lateness, digits=0),
    }


# --- a run ----------------------------------------------------------------------------------


def _log_errors(deployment: Deployment) -> dict[str, int]:
    """Tracebacks in each process's output; ERROR and FATAL lines in PgBouncer's log."""
    logs = Path(os.environ["BENCH_LOG_DIR"])
    found = {
        unit.label: len(re.findall(r"^Traceback", (logs / f"{unit.label}.log").read_text(), re.M))
        for unit in deployment.units
        if (logs / f"{unit.label}.log").exists()
    }
    if deployment.pgbouncer is not None:
        log = (deployment.pgbouncer.root / "pgbouncer.log").read_text()
        found["pgbouncer"] = len(re.findall(r" (ERROR|FATAL) ", log))
    return {label: count for label, count in found.items() if count}


def _pgbouncer_figures(bouncer: PgBouncer) -> dict[str, Any]:
    pools = [p for p in bouncer.show("POOLS") if p["database"] == bouncer.dbname]
    totals = [s for s in bouncer.show("STATS") if s["database"] == bouncer.dbname]
    sessions = bouncer.server_sessions()
    return {
        "version": pgbouncer_version(),
        "pool_mode": "transaction",
        "default_pool_size": bouncer.pool_size,
        "pools": pools,
        "transactions": sum(int(s["total_xact_count"]) for s in totals),
        "queries": sum(int(s["total_query_count"]) for s in totals),
        "client_wait_seconds": round(sum(int(s["total_wait_time"]) for s in totals) / 1e6, 2),
        "server_sessions_checked": len(sessions),
        "server_sessions_with_state_left": [
            s
            for s in sessions
            if s["synchronous_commit"] != "on" or s["prepared_statements"] or s["cursors"]
        ],
    }


def run(name: str) -> dict[str, Any]:
    from django.db import connections

    world = _world(name)
    connections.close_all()
    deployment = _start(name, 2 if name == "pooled" else 1)
    result: dict[str, Any] = {
        "processes": [unit.label for unit in deployment.units],
        "database": "PgBouncer, transaction mode" if deployment.pgbouncer else "PostgreSQL",
    }
    try:
        time.sleep(1.0)  # beat's first sends
        result["idle"] = idle(deployment)
        result["paged"] = paged(world, deployment)
        result["heartbeats"] = heartbeats(world, deployment)
    finally:
        for unit in deployment.units:
            procfile.stop(unit.process)
        _mute(world)
    try:
        if deployment.pgbouncer is not None:
            result["pgbouncer"] = _pgbouncer_figures(deployment.pgbouncer)
    finally:
        deployment.stop()
    _above_idle(result)
    result["tracebacks_and_errors_in_logs"] = _log_errors(deployment)
    result["failures"] = _failures(result)
    return result


def _above_idle(result: dict[str, Any]) -> None:
    """Each phase's CPU per 1,000 events less what the deployment spends idle over as many
    seconds: the cost that grows with the load (capacity = idle + rate x this)."""
    idle = result["idle"]["cpu_seconds_per_second"]
    for phase in ("paged", "heartbeats"):
        load = result[phase]
        events = load.get("events") or load.get("checkins") or 1
        load["cpu_seconds_per_1000_events_above_idle"] = {
            name: round(
                max(0.0, load["cpu_seconds"][name] - idle[name] * load["seconds"]) * 1000 / events,
                3,
            )
            for name in COMPONENTS
        }


def _failures(result: dict[str, Any]) -> list[str]:
    p, h = result["paged"], result["heartbeats"]
    counts = {
        "dedup ids without an incident": p["dedup_ids_without_incident"],
        "dedup ids with two incidents": p["dedup_ids_with_more_than_one_incident"],
        "incidents without both events": p["incidents_without_both_events"],
        "missed steps": p["missed_steps"],
        "duplicated steps": p["duplicated_steps"],
        "emails missing": p["emails_missing"],
        "emails duplicated": p["emails_duplicated"],
        "misses not reported": h["misses_not_reported"],
        "misses reported twice": h["misses_reported_twice"],
        "false misses": h["false_misses"],
        "check-ins answered but not stored": h["checkins_answered_2xx_not_stored"],
        "non-2xx webhook answers": sum(
            n for status, n in p["post_statuses"].items() if not status.startswith("2")
        ),
        "non-2xx check-in answers": sum(
            n for status, n in h["checkin_statuses"].items() if not status.startswith("2")
        ),
        "server sessions with state left": len(
            result.get("pgbouncer", {}).get("server_sessions_with_state_left", [])
        ),
    }
    failures = [f"{what}: {n}" for what, n in counts.items() if n]
    failures += [
        f"tracebacks or errors in {label}: {n}"
        for label, n in result["tracebacks_and_errors_in_logs"].items()
    ]
    return failures


# --- the report -----------------------------------------------------------------------------


def _table(result: dict[str, Any]) -> str:
    runs = result["runs"]
    names = list(runs)
    header = "| figure | " + " | ".join(names) + " |"
    lines = [header, "|---|" + "---|" * len(names)]

    def row(label: str, value: Any) -> None:
        lines.append(f"| {label} | " + " | ".join(str(value(runs[n])) for n in names) + " |")

    row("processes", lambda r: ", ".join(u.split("-", 1)[1] for u in r["processes"]))
    row("database", lambda r: r["database"])
    row(
        f"{INCIDENTS:,} paged incidents (2 events each): webhooks accepted/s",
        lambda r: f"{r['paged']['accepted_per_second']:,}",
    )
    row("... incidents paged/s", lambda r: r["paged"]["paged_per_second"])
    row(
        "... POST to first notification sent, p50 / p99",
        lambda r: (
            f"{r['paged']['post_to_first_notification_sent']['p50_ms']} /"
            f" {r['paged']['post_to_first_notification_sent']['p99_ms']} ms"
        ),
    )
    row(
        "... one incident per dedup id / both events on it",
        lambda r: (
            f"{r['paged']['incidents_opened']} /"
            f" {INCIDENTS - r['paged']['incidents_without_both_events']}"
        ),
    )
    row(
        "... missed / duplicated steps",
        lambda r: f"{r['paged']['missed_steps']} / {r['paged']['duplicated_steps']}",
    )
    row(
        "... emails missing / duplicated",
        lambda r: f"{r['paged']['emails_missing']} / {r['paged']['emails_duplicated']}",
    )
    row(
        f"check-ins at {CHECKIN_RATE:.0f}/s: answered, p99",
        lambda r: (
            f"{r['heartbeats']['checkins']:,}, {r['heartbeats']['checkin_latency']['p99_ms']} ms"
        ),
    )
    row(
        f"... {MISSING} missed deadlines: not reported / twice / false",
        lambda r: (
            f"{r['heartbeats']['misses_not_reported']} /"
            f" {r['heartbeats']['misses_reported_twice']} / {r['heartbeats']['false_misses']}"
        ),
    )
    row(
        "... miss reported after its deadline, p50 / p99",
        lambda r: (
            f"{r['heartbeats']['miss_reported_after_deadline']['p50_ms']} /"
            f" {r['heartbeats']['miss_reported_after_deadline']['p99_ms']} ms"
        ),
    )
    row(
        "PgBouncer: most client / server connections at once",
        lambda r: (
            f"{r['paged']['pgbouncer_most_clients']} / {r['paged']['pgbouncer_most_servers']}"
            if "pgbouncer_most_clients" in r["paged"]
            else "-"
        ),
    )
    row(
        "server sessions left with state (of those checked)",
        lambda r: (
            f"{len(r['pgbouncer']['server_sessions_with_state_left'])}"
            f" (of {r['pgbouncer']['server_sessions_checked']})"
            if "pgbouncer" in r
            else "-"
        ),
    )
    row("failures", lambda r: len(r["failures"]))
    row(
        "idle: cores busy (beat's sweepers and detector, no load)",
        lambda r: r["idle"]["cores_busy"],
    )
    lines += ["", "CPU seconds per 1,000 events, by component:", ""]
    lines.append("| run, phase | " + " | ".join(COMPONENTS) + " | all | statements/event (SET) |")
    lines.append("|---|" + "---|" * (len(COMPONENTS) + 2))
    for name in names:
        for phase in ("paged", "heartbeats"):
            load = runs[name][phase]
            per = load["cpu_seconds_per_1000_events"]
            lines.append(
                f"| {name}, {phase} | "
                + " | ".join(str(per[c]) for c in COMPONENTS)
                + f" | {load['cpu_seconds_per_1000_events_all']}"
                + f" | {load.get('statements_per_event', '-')}"
                + f" ({load.get('parameter_statements_per_event', '-')}) |"
            )
    return "\n".join(lines)


def main() -> None:
    import django

    django.setup()
    from bench.support.pgbouncer import binary

    binary()  # installed, or stop here with what to run
    names = ONLY.split(",") if ONLY else ["single", "pooled"]
    runs = {}
    for name in names:
        runs[name] = run(name)
    result = {
        "benchmark": "scaleout",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_1_5_15": [round(n, 2) for n in os.getloadavg()],
        },
        "load": {
            "incidents": INCIDENTS,
            "events": 2 * INCIDENTS,
            "clients": CLIENTS,
            "minute_seconds": MINUTE_SECONDS,
            "checkin_rate": CHECKIN_RATE,
            "checkin_seconds": HEARTBEAT_SECONDS,
            "checking_environments": CHECKING,
            "missing_environments": MISSING,
        },
        "logs": os.environ["BENCH_LOG_DIR"],
        "runs": runs,
    }
    print(json.dumps(result, indent=2, default=str))
    print(_table(result), file=sys.stderr)
    failures = {name: r["failures"] for name, r in runs.items() if r["failures"]}
    if failures:
        print(f"FAILED: {failures}", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
