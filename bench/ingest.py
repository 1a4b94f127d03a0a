"""Webhook ingest benchmark: acceptance, end-to-end latency, processing rate, raw INSERT limit.

Serves the product the way `make run` does (the `web:` and `worker:` lines of the Procfile,
DEBUG off) on loopback and drives it with an asyncio HTTP/1.1 load generator (keep-alive
where the server allows it). Prints one JSON document:

- accepted events/s and p50/p99 latency of the 202 at 1, 8 and 32 concurrent clients
  while the worker processes them on the same two cores (as `make run` does), and again with
  the worker stopped (what the web alone absorbs in a burst);
- end-to-end time from POST to the processed incident event at a fixed 100 events/s;
- the sustained processing rate: the backlog (the burst above plus BENCH_BACKLOG events over
  1,000 dedup ids) drained by the Procfile's worker, first to last processed event;
- the raw rate of single-row durable INSERTs of the same body at the same client counts
  against the same PostgreSQL, and our rate as a share of it (`baseline` is the 8-client one;
  each `share_of_raw` is against the raw rate at the same client count, the processing rate
  against the 8-client one);
- CPU ms per event of each component (web, worker, PostgreSQL, Redis; and the bench's own
  load generator, not summed into `_all`) for each phase: per accepted event while
  accepting (the worker processes what it can meanwhile, as with `make run`), per event
  sent at 100/s until all are processed, per event of the drained backlog (the worker's
  start-up CPU, measured before the first load, left out). JSON on stdout, a Markdown table
  on stderr.

    eval "$(make -s services)"; .venv/bin/python manage.py migrate; .venv/bin/python bench/ingest.py

Environment: BENCH_SECONDS (per phase, default 5), BENCH_PORT (default 8311),
BENCH_BACKLOG (default 4000).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import baseline, cpu, procfile  # noqa: E402
from bench.support.webhooks import response_read  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsduty.settings")
os.environ["OPSDUTY_DEBUG"] = "0"

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
PORT = int(os.environ.get("BENCH_PORT", "8311"))
BACKLOG = int(os.environ.get("BENCH_BACKLOG", "4000"))
MAX_REQUESTS = 200_000  # bound per phase, whatever the speed
CLIENTS = (1, 8, 32)


def _body(n: int, dedup: str) -> bytes:
    return json.dumps(
        {
            "receiver": "bench",
            "status": "firing",
            "title": f"High CPU on node-{n % 50}",
            "dedup_id": dedup,
            "labels": {"alertname": "HighCPU", "severity": "critical", "instance": f"node-{n}"},
            "annotations": {"summary": "CPU above 90% for 5 minutes", "runbook": "https://x/y"},
            "pad": "x" * 200,
        }
    ).encode()


# --- the load generator ---------------------------------------------------------------------


async def _client(
    path: str,
    bodies: list[bytes],
    stop: float,
    out: list[tuple[float, float, int]],
    limit: list[int],
    pace: float | None,
) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    next_at = time.perf_counter()
    while time.perf_counter() < stop and limit[0] > 0:
        limit[0] -= 1
        if pace:
            next_at += pace
            delay = next_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        if writer is None:
            reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
        assert reader is not None
        # The next body of the load, whichever client sends it: the clients share one
        # sequence (each starting at the first body sent the same events 8 times over).
        body = bodies[next(_SENT) % len(bodies)]
        request = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{PORT}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        started = time.perf_counter()
        writer.write(request)
        status, keep, content = await response_read(reader)
        if not status:  # closed before answering
            writer.close()
            writer = None
            continue
        out.append((started, time.perf_counter() - started, status))
        if not keep:
            writer.close()
            writer = None
        if out[-1][2] == 202 and pace:
            _REFERENCES.append((started, json.loads(content)["id"]))
    if writer is not None:
        writer.close()


_REFERENCES: list[tuple[float, str]] = []
_SENT = itertools.count()


def _load(
    path: str,
    clients: int,
    seconds: float,
    bodies: list[bytes],
    rate: float | None = None,
    count: int = MAX_REQUESTS,
) -> list[tuple[float, float, int]]:
    global _SENT  # noqa: PLW0603 - one sequence per load
    _SENT = itertools.count()
    out: list[tuple[float, float, int]] = []
    limit = [count]
    pace = clients / rate if rate else None

    async def run() -> None:
        stop = time.perf_counter() + seconds
        await asyncio.gather(
            *(_client(path, bodies, stop, out, limit, pace) for _ in range(clients))
        )

    asyncio.run(run())
    return out


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


# --- processes ------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    return {"OPSDUTY_WEB_PORT": str(PORT)}


def _start(name: str) -> subprocess.Popen[bytes]:
    return procfile.start(name, _env())


# --- the physical limit ---------------------------------------------------------------------


# Moved to bench/support/baseline.py; the name stays for branches whose pipeline.py uses it.
_raw_inserts = baseline.raw_inserts


# --- the run --------------------------------------------------------------------------------


def _setup() -> tuple[str, Any]:
    import django

    django.setup()
    from escalations.catalog import services as escalation_services
    from opsduty import services
    from opsduty.models import Team
    from signals.models import Webhook

    stamp = time.strftime("%Y%m%d%H%M%S")
    org = services.organization_create(name="Bench ingest", domain=f"bench-ingest-{stamp}")
    team = Team.objects.create(organization=org, name="Bench")
    service = escalation_services.service_create(team=team, by=None, name="Bench")
    webhook = Webhook.objects.create(
        organization=org, name="Bench", rate_limit_per_minute=1_000_000
    )
    return f"/integrations/webhooks/enque/event/{webhook.key}/{service.routing_key}", org


def _pending(org: Any) -> int:
    from signals.models import RawEvent, RawEventStatus

    return RawEvent.objects.filter(organization=org, status=RawEventStatus.PENDING).count()


def _accept_phase(path: str, processes: dict[str, subprocess.Popen[bytes]]) -> dict[str, Any]:
    bodies = [_body(n, f"accept-{n % 500}") for n in range(1000)]
    results: dict[str, Any] = {}
    for clients in CLIENTS:
        meter = baseline.CpuMeter(processes, own="bench").start()
        out = _load(path, clients, SECONDS, bodies)
        ok = [latency for _, latency, status in out if status == 202]
        results[str(clients)] = {
            "requests": len(out),
            "accepted": len(ok),
            "accepted_per_second": round(len(ok) / SECONDS, 1),
            "p50_ms": round(_percentile(ok, 0.5) * 1000, 2),
            "p99_ms": round(_percentile(ok, 0.99) * 1000, 2),
            "other_statuses": sorted({status for _, _, status in out if status != 202}),
            **meter.stop(len(ok)),
        }
    return results


def _end_to_end_phase(
    path: str, org: Any, processes: dict[str, subprocess.Popen[bytes]]
) -> dict[str, Any]:
    from signals.models import IncidentReference

    _REFERENCES.clear()
    bodies = [_body(n, f"e2e-{n}") for n in range(int(100 * SECONDS) + 10)]
    meter = baseline.CpuMeter(processes, own="bench").start()
    _load(path, 4, SECONDS, bodies, rate=100.0)
    sent = dict((ref, started) for started, ref in _REFERENCES)
    deadline = time.monotonic() + 60
    while _pending(org) and time.monotonic() < deadline:
        time.sleep(0.2)
    cpu_figures = meter.stop(len(_REFERENCES))  # the events sent, until all were processed
    # Wall clock of the POST (perf_counter) mapped onto the database's timestamps.
    offset = time.time() - time.perf_counter()
    done = IncidentReference.objects.filter(public_id__in=list(sent), status="completed")
    delays = [(ref.updated_at.timestamp() - (sent[str(ref.public_id)] + offset)) for ref in done]
    return {
        "events": len(sent),
        "completed": len(delays),
        "rate_per_second": 100,
        "p50_ms": round(_percentile(delays, 0.5) * 1000, 1),
        "p99_ms": round(_percentile(delays, 0.99) * 1000, 1),
        **cpu_figures,
    }


def _processing_phase(
    path: str, org: Any, processes: dict[str, subprocess.Popen[bytes]], worker_startup: float
) -> dict[str, Any]:
    """With the worker stopped, what the web alone accepts; then the backlog drained by a
    worker started again (`processes["worker"]` is the new one)."""
    procfile.stop(processes["worker"])
    # With the worker stopped: what the web alone accepts (a burst absorbed into the backlog).
    accepted_alone = _accept_phase(path, {"web": processes["web"]})
    bodies = [_body(n, f"backlog-{n % 1000}") for n in range(BACKLOG)]
    _load(path, 8, 120, bodies, count=BACKLOG)
    from django.db.models import Max, Min

    from signals.models import RawEvent, RawEventStatus

    backlog_ids = list(
        RawEvent.objects.filter(organization=org, status=RawEventStatus.PENDING).values_list(
            "id", flat=True
        )
    )
    meter = baseline.CpuMeter(processes, own="bench").start()
    processes["worker"] = _start("worker")
    started = time.perf_counter()
    deadline = started + 300
    while _pending(org) and time.perf_counter() < deadline:
        time.sleep(0.1)
    elapsed = time.perf_counter() - started
    done = RawEvent.objects.filter(pk__in=backlog_ids, status=RawEventStatus.PROCESSED)
    span = done.aggregate(first=Min("processed_at"), last=Max("processed_at"))
    count = done.count()
    steady = (span["last"] - span["first"]).total_seconds() if count > 1 else float("nan")
    cpu_figures = meter.stop(count, startup={"worker": worker_startup})
    return {
        "accepted_with_the_worker_stopped": accepted_alone,
        "backlog": len(backlog_ids),
        "processed": count,
        "left": _pending(org),
        "seconds_from_worker_start": round(elapsed, 2),
        "seconds_first_to_last": round(steady, 2),
        "events_per_second": round(count / steady, 1) if count > 1 else None,
        "events_per_second_with_worker_start": round(count / elapsed, 1),
        "worker_startup_cpu_seconds_left_out": round(worker_startup, 2),
        **cpu_figures,
    }


def _shares(figures: dict[str, Any], raw: dict[str, float]) -> dict[str, Any]:
    """Each client count's accepted rate as a share of the raw rate at that client count."""
    for clients, each in figures.items():
        each["share_of_raw"] = baseline.share_of_raw(
            each["accepted_per_second"], {"rows_per_second": raw[clients]}
        )
    return figures


def _clients(count: str) -> str:
    return "1 client" if count == "1" else f"{count} clients"


def _table(out: dict[str, Any]) -> list[tuple[str, str, float | None, Any]]:
    processing = out["sustained_processing"]
    rows: list[tuple[str, str, float | None, Any]] = []
    for clients, each in out["accepted"].items():
        rows.append(
            (
                f"webhook POSTs, {_clients(clients)}, unpaced, worker running",
                f"{each['accepted_per_second']:,.0f} 202/s, p99 {each['p99_ms']} ms",
                each["share_of_raw"],
                each,
            )
        )
    e2e = out["end_to_end_at_100_per_second"]
    rows.append(
        (
            "webhook POSTs paced at 100/s, 4 clients, until processed",
            f"POST to processed p99 {e2e['p99_ms']} ms",
            e2e["share_of_raw"],
            e2e,
        )
    )
    for clients, each in processing["accepted_with_the_worker_stopped"].items():
        rows.append(
            (
                f"webhook POSTs, {_clients(clients)}, unpaced, worker stopped",
                f"{each['accepted_per_second']:,.0f} 202/s, p99 {each['p99_ms']} ms",
                each["share_of_raw"],
                each,
            )
        )
    rows.append(
        (
            f"backlog of {processing['backlog']} events (1,000 dedup ids) drained by the worker",
            f"{processing['events_per_second']} events/s",
            processing["share_of_raw"],
            processing,
        )
    )
    return rows


def main() -> None:
    path, org = _setup()
    from django.db import connections

    connections.close_all()
    processes = {"web": _start("web"), "worker": _start("worker")}
    try:
        procfile.wait_for_port(PORT)
        procfile.wait_for_worker()
        # What a worker spends starting (imports, warm-ups): left out of the drain's worker CPU,
        # as the backlog is drained by a worker started again.
        worker_startup = cpu.tree_cpu_seconds(processes["worker"].pid)
        _load(path, 8, 1.0, [_body(0, "warm-up")])  # warm every web process
        accept = _accept_phase(path, processes)
        # let the worker finish the acceptance backlog before measuring latency
        deadline = time.monotonic() + 300
        while _pending(org) and time.monotonic() < deadline:
            time.sleep(0.2)
        end_to_end = _end_to_end_phase(path, org, processes)
        processing = _processing_phase(path, org, processes, worker_startup)
    finally:
        for process in processes.values():
            procfile.stop(process)
    connections.close_all()
    raw = {str(c): round(baseline.raw_inserts(c, SECONDS, _body(0, "raw")), 1) for c in CLIENTS}
    ratio = {c: round(accept[c]["accepted_per_second"] / raw[c], 3) for c in raw}
    _shares(accept, raw)
    _shares(processing["accepted_with_the_worker_stopped"], raw)
    base = {
        **baseline.described(raw["8"], 8, SECONDS, _body(0, "raw")),
        "rows_per_second_by_clients": raw,
    }
    processing["share_of_raw"] = baseline.share_of_raw(processing["events_per_second"], base)
    end_to_end["share_of_raw"] = baseline.share_of_raw(100.0, base)  # paced: the load's share
    out = {
        "benchmark": "ingest",
        "seconds_per_phase": SECONDS,
        "web": " ".join(procfile.command("web", _env())[1:]),
        "worker": " ".join(procfile.command("worker", _env())[1:]),
        "baseline": base,
        "cpu_components": baseline.components(
            processes, bench="this process: the load generator (not in _all)"
        ),
        "accepted": accept,
        "end_to_end_at_100_per_second": end_to_end,
        "sustained_processing": processing,
        "raw_postgres_inserts_per_second": raw,
        "accepted_share_of_raw_inserts": ratio,
        "cpus": os.cpu_count(),
    }
    print(json.dumps(out, indent=2))
    baseline.print_table(base, _table(out))


if __name__ == "__main__":
    main()
