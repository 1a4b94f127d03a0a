"""Heartbeat benchmark: check-ins served, the miss detector's CPU, how late misses are seen.

Serves the product the way `make run` does (every Procfile process, DEBUG off). A bench
organization gets one service (without an escalation policy: the figures are about
heartbeats, not paging) and BENCH_ENVIRONMENTS environments (default 10,000: BENCH_HEARTBEATS
heartbeats x the rest as environments each) expecting a check-in every 60 s with a 30 s
timeout. Then, measured from outside the processes:

1. check-ins served: BENCH_CLIENTS keep-alive clients GET the public check-in URLs
   (`/heartbeats/checkin/<key>/<environment>/`) round-robin for BENCH_CHECKIN_SECONDS;
   requests/s and latency p50/p99 (client side, loopback).
2. the miss detector's CPU: for BENCH_IDLE_SECONDS (default 60) every environment checks in
   on time (every 50 s: 200 check-ins/s, a little above the 167/s of 10,000 one-minute
   jobs); the CPU time
   of the `escalator` worker (main process and pool children, which run the detector every
   second and the escalation sweep every 2 s) and of `beat` over that window, as a share of
   one core. The detector's own query load on PostgreSQL is in `pg_stat_statements` if
   enabled; it is not added here.
3. detection lateness: BENCH_MISSING environments stop checking in; for each miss, the
   incident's creation time minus the deadline the detector reports in the event payload
   (p50/p99/max), and whether every one of them was reported exactly once.

Beside them (bench/support/baseline.py): the raw-PostgreSQL baseline measured in the same run
before the processes start, the check-in rates as shares of it (of 2 and 3, paced, what the
load asked of the machine), and for each of the three phases CPU ms per check-in served of
every component (each Procfile process, PostgreSQL, Redis; this process, the load generator,
not summed into `_all`; in phases 2 and 3 the detector's and the escalation sweep's CPU are in
it too, and in 3 the reporting of the misses). JSON on stdout, a Markdown table on stderr.

    eval "$(make -s services)"; .venv/bin/python manage.py migrate
    .venv/bin/python bench/heartbeats.py

Environment: BENCH_ENVIRONMENTS (10000), BENCH_HEARTBEATS (2000), BENCH_CLIENTS (8),
BENCH_CHECKIN_SECONDS (15), BENCH_IDLE_SECONDS (60), BENCH_MISSING (1000), BENCH_PORT (8314).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import baseline, cpu, procfile, stats  # noqa: E402
from bench.support.webhooks import response_read  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsduty.settings")
os.environ["OPSDUTY_DEBUG"] = "0"

ENVIRONMENTS = int(os.environ.get("BENCH_ENVIRONMENTS", "10000"))
HEARTBEATS = min(int(os.environ.get("BENCH_HEARTBEATS", "2000")), ENVIRONMENTS)
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
CHECKIN_SECONDS = float(os.environ.get("BENCH_CHECKIN_SECONDS", "15"))
IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "60"))
MISSING = min(int(os.environ.get("BENCH_MISSING", "1000")), ENVIRONMENTS)
PORT = int(os.environ.get("BENCH_PORT", "8314"))
INTERVAL, TIMEOUT = 60, 30
RUN_DIR = tempfile.mkdtemp(prefix="opsduty-bench-heartbeats-")


def _ms(values: list[float]) -> dict[str, Any]:
    return stats.ms(values, digits=2)


# --- setup ----------------------------------------------------------------------------------


def _setup() -> tuple[Any, list[str]]:
    """A bench organization with ENVIRONMENTS environments; their check-in paths."""
    import django

    django.setup()
    from django.utils import timezone

    from escalations.catalog import services as escalation_services
    from opsduty import services
    from opsduty.models import Team
    from signals.models import Heartbeat, HeartbeatState

    _quiet_earlier_runs()
    stamp = time.strftime("%Y%m%d%H%M%S")
    org = services.organization_create(name="Bench heartbeats", domain=f"bench-hb-{stamp}")
    team = Team.objects.create(organization=org, name="Bench")
    service = escalation_services.service_create(team=team, by=None, name="Bench")
    beats = Heartbeat.objects.bulk_create(
        Heartbeat(organization=org, service=service, name=f"job-{n}") for n in range(HEARTBEATS)
    )
    now = timezone.now()
    states = []
    for n in range(ENVIRONMENTS):
        # Spread the first deadlines over the interval, as real jobs would be.
        expected = now + timezone.timedelta(seconds=INTERVAL + random.uniform(0, INTERVAL))
        states.append(
            HeartbeatState(
                organization=org,
                heartbeat=beats[n % HEARTBEATS],
                environment=f"env-{n // HEARTBEATS}",
                type="interval",
                interval_seconds=INTERVAL,
                timeout_seconds=TIMEOUT,
                next_expected_at=expected,
                next_deadline=expected + timezone.timedelta(seconds=TIMEOUT),
            )
        )
    HeartbeatState.objects.bulk_create(states, batch_size=2000)
    keys = {b.pk: b.public_primary_key for b in beats}
    paths = [
        f"/heartbeats/checkin/{keys[s.heartbeat_id]}/{s.environment}/"
        for s in HeartbeatState.objects.filter(organization=org).order_by("id")
    ]
    return service, paths


def _quiet_earlier_runs() -> int:
    """Mute the environments of earlier bench organizations: left running, their misses
    (10,000 a minute) would be the detector's load in this run's measurement."""
    from signals.models import HeartbeatState

    return HeartbeatState.objects.filter(
        organization__domain__startswith="bench-hb-", muted=False
    ).update(muted=True, next_deadline=None)


# --- load -----------------------------------------------------------------------------------


async def _get(reader: Any, writer: Any, path: str) -> int:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{PORT}\r\n\r\n".encode())
    status, _, _ = await response_read(reader)
    return status


async def _hammer(paths: list[str], seconds: float) -> tuple[int, list[float], dict[int, int]]:
    """As many check-ins as CLIENTS keep-alive connections can do in `seconds`."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    stop = time.monotonic() + seconds

    async def client(offset: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
        n = offset
        while time.monotonic() < stop:
            started = time.perf_counter()
            status = await _get(reader, writer, paths[n % len(paths)])
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
            n += CLIENTS
        writer.close()

    await asyncio.gather(*(client(i) for i in range(CLIENTS)))
    return len(latencies), latencies, statuses


async def _steady(paths: list[str], seconds: float) -> dict[int, int]:
    """Every path checks in once per 50 s (before its 60 s + 30 s deadline) for `seconds`."""
    statuses: dict[int, int] = {}
    period = 50.0
    rate = len(paths) / period
    stop = time.monotonic() + seconds
    queue: asyncio.Queue[str] = asyncio.Queue()

    async def feeder() -> None:
        n, started = 0, time.monotonic()
        while time.monotonic() < stop:
            due = started + n / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            queue.put_nowait(paths[n % len(paths)])
            n += 1

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
        while time.monotonic() < stop or not queue.empty():
            try:
                path = await asyncio.wait_for(queue.get(), timeout=0.5)
            except TimeoutError:
                continue
            try:
                status = await _get(reader, writer, path)
            except (ConnectionError, asyncio.IncompleteReadError):
                status = 0
            if status == 0:
                # The server closes a keep-alive connection idle for 5 s (uvicorn's default),
                # which a client of a small run at a few check-ins a second can be: again, on a
                # new connection.
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
                status = await _get(reader, writer, path)
            statuses[status] = statuses.get(status, 0) + 1
        writer.close()

    await asyncio.gather(feeder(), *(client() for _ in range(CLIENTS)))
    return statuses


# --- the run --------------------------------------------------------------------------------


def _wait_for_worker() -> None:
    from opsduty.celery import app

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=1.0) or []
        if any("escalator@" in name for reply in replies for name in reply):
            return
    raise SystemExit("the escalator worker did not start")


def _lateness(service: Any, missing_ids: set[int]) -> tuple[list[float], int, int]:
    from datetime import datetime

    from incidents.models import Incident, IncidentEvent

    lateness: list[float] = []
    reported: dict[str, int] = {}
    for created, payload, dedup in IncidentEvent.objects.filter(
        incident__service=service
    ).values_list("received_at", "payload", "incident__dedup_id"):
        deadline = datetime.fromisoformat(payload["heartbeat"]["deadline"])
        lateness.append((created - deadline).total_seconds())
        reported[dedup] = reported.get(dedup, 0) + 1
    expected = {f"heartbeat:{pk}" for pk in missing_ids}
    incidents = Incident.objects.filter(service=service).count()
    return lateness, len(expected - set(reported)), incidents


def _background() -> dict[str, int]:
    """Work other than heartbeats that the escalator would do during the run (should be 0:
    the detector's CPU share is only meaningful on an otherwise idle database)."""
    import redis
    from django.conf import settings

    from escalations.models import EscalationRun, Notification

    client = redis.Redis.from_url(settings.REDIS_URL)
    return {
        "queued_tasks": sum(int(client.llen(q)) for q in ("ingest", "escalation", "notify")),
        "pending_notifications": Notification.objects.filter(status="pending").count(),
        "active_escalation_runs": EscalationRun.objects.filter(
            state__in=("active", "ack_wait")
        ).count(),
    }


def main() -> None:
    service, paths = _setup()
    background = _background()
    from django.db import connections

    from signals.models import HeartbeatState

    state_ids = list(
        HeartbeatState.objects.filter(heartbeat__service=service)
        .order_by("id")
        .values_list("id", flat=True)
    )
    connections.close_all()
    base = baseline.measure()
    env = {"OPSDUTY_WEB_PORT": str(PORT), "OPSDUTY_RUN_DIR": RUN_DIR}
    processes = {name: procfile.start(name, env) for name in procfile.names()}
    try:
        procfile.wait_for_port(PORT)
        _wait_for_worker()
        # 1. throughput
        meter = baseline.CpuMeter(processes, own="bench").start()
        count, latencies, statuses = asyncio.run(_hammer(paths, CHECKIN_SECONDS))
        throughput = {
            "requests": count,
            "seconds": CHECKIN_SECONDS,
            "requests_per_second": round(count / CHECKIN_SECONDS, 1),
            "share_of_raw": baseline.share_of_raw(count / CHECKIN_SECONDS, base),
            "latency": _ms(latencies),
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            **meter.stop(count, "checkin"),
        }
        # 2. detector CPU while everything checks in on time
        escalator, beat = processes["escalator"].pid, processes["beat"].pid
        cpu_before = (cpu.tree_cpu_seconds(escalator), cpu.tree_cpu_seconds(beat))
        wall = time.monotonic()
        meter.start()
        steady_statuses = asyncio.run(_steady(paths, IDLE_SECONDS))
        wall = time.monotonic() - wall
        cpu_after = (cpu.tree_cpu_seconds(escalator), cpu.tree_cpu_seconds(beat))
        cpu_steady = meter.stop(sum(steady_statuses.values()), "checkin")
        incidents_while_steady = service.incidents.count()
        # 3. misses: the first MISSING environments stop; the rest keep checking in.
        missing = set(state_ids[:MISSING])
        keep = [p for sid, p in zip(state_ids, paths, strict=True) if sid not in missing]
        meter.start()
        kept = asyncio.run(_steady(keep, INTERVAL + TIMEOUT + 10))
        time.sleep(3)
        cpu_detection = meter.stop(sum(kept.values()), "checkin")
        lateness, unreported, incidents = _lateness(service, missing)
    finally:
        for process in processes.values():
            procfile.stop(process)
        _quiet_earlier_runs()
    escalator_cpu = cpu_after[0] - cpu_before[0]
    beat_cpu = cpu_after[1] - cpu_before[1]
    steady_rate = len(paths) / 50.0  # _steady: every environment once per 50 s
    out: dict[str, Any] = {
        "benchmark": "heartbeats",
        "environments": ENVIRONMENTS,
        "heartbeats": HEARTBEATS,
        "interval_seconds": INTERVAL,
        "timeout_seconds": TIMEOUT,
        "clients": CLIENTS,
        "baseline": base,
        "cpu_components": baseline.components(
            processes, bench="this process: the load generator (not in _all)"
        ),
        "checkins_served": throughput,
        "detector_cpu": {
            "background_work_at_start": background,
            "window_seconds": round(wall, 1),
            "steady_checkins": {str(k): v for k, v in sorted(steady_statuses.items())},
            "incidents_opened_while_all_on_time": incidents_while_steady,
            "escalator_process_tree_cpu_seconds": round(escalator_cpu, 2),
            "escalator_share_of_one_core_pct": round(100 * escalator_cpu / wall, 2),
            "beat_cpu_seconds": round(beat_cpu, 2),
            "beat_share_of_one_core_pct": round(100 * beat_cpu / wall, 2),
            "steady_checkins_per_second": round(steady_rate, 1),
            "share_of_raw": baseline.share_of_raw(steady_rate, base),
            **cpu_steady,
        },
        "detection": {
            "environments_stopped": MISSING,
            "late_after_deadline": _ms(lateness),
            "stopped_but_never_reported": unreported,
            "incidents": incidents,
            "checkins_meanwhile": {str(k): v for k, v in sorted(kept.items())},
            "checkins_per_second_meanwhile": round(len(keep) / 50.0, 1),
            "share_of_raw": baseline.share_of_raw(len(keep) / 50.0, base),
            **cpu_detection,
        },
        "targets": {"detection_p99_ms_below": 5000, "detector_share_pct_below": 5},
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(out, indent=2))
    detector, detection = out["detector_cpu"], out["detection"]
    late = detection["late_after_deadline"]
    baseline.print_table(
        base,
        [
            (
                f"check-ins, {CLIENTS} keep-alive clients, unpaced, {CHECKIN_SECONDS:g} s",
                f"{throughput['requests_per_second']:,.0f} check-ins/s,"
                f" p99 {throughput['latency']['p99_ms']} ms",
                throughput["share_of_raw"],
                throughput,
            ),
            (
                f"{ENVIRONMENTS:,} environments checking in on time ({steady_rate:g}/s paced),"
                f" {detector['window_seconds']:g} s",
                f"escalator {detector['escalator_share_of_one_core_pct']}% of a core",
                detector["share_of_raw"],
                detector,
            ),
            (
                f"{MISSING:,} environments stop, the rest check in, {INTERVAL + TIMEOUT + 10} s",
                f"reported late p99 {late['p99_ms']} ms, never reported"
                f" {detection['stopped_but_never_reported']}",
                detection["share_of_raw"],
                detection,
            ),
        ],
    )


if __name__ == "__main__":
    main()
