"""A flood on one organization's webhook against another organization's steady traffic.

Serves the product the way `make run` does (the Procfile's `web:` and `worker:` lines, DEBUG
off) on loopback. Organization Q sends BENCH_RATE (20) events a second to its webhook over 4
connections, first alone, then while organization F floods its own webhook as fast as
BENCH_FLOOD_CLIENTS (32) connections allow, far over its per-webhook budget (the default,
docs/security.md), for BENCH_SECONDS (10) each. Prints one JSON document: Q's 202 latency
p50/p99/max in both phases and their ratio (issue 19's bar: p99 within 2x), what F's flood
got (202 within its budget, 429 beyond), and Q's events all stored. Beside them
(bench/support/baseline.py): the raw-PostgreSQL baseline measured in the same run before the
processes start, the flood's requests/s as a share of it, and CPU ms of each component (web,
worker, PostgreSQL, Redis; this process, the steady clients, not summed into `_all`; the
flood's generator, a process of its own at nice 19, not counted) per steady event accepted
when Q is alone, and per request (Q's and F's, whatever their status) from the flood's start
to its end. JSON on stdout, a Markdown table on stderr.

    eval "$(make -s services)"; .venv/bin/python manage.py migrate; .venv/bin/python bench/flood.py
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import ingest  # noqa: E402 - its load generator and the Procfile's processes
from bench.support import baseline, procfile  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsduty.settings")
os.environ["OPSDUTY_DEBUG"] = "0"

SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
RATE = float(os.environ.get("BENCH_RATE", "20"))
FLOOD_CLIENTS = int(os.environ.get("BENCH_FLOOD_CLIENTS", "32"))
FLOOD_NICE = int(os.environ.get("BENCH_FLOOD_NICE", "19"))


def _organization(name: str) -> tuple[str, Any]:
    from escalations.catalog import services as escalation_services
    from opsduty import services
    from opsduty.models import Team
    from signals.models import Webhook

    stamp = time.strftime("%Y%m%d%H%M%S")
    org = services.organization_create(name=name, domain=f"bench-{name.lower()}-{stamp}")
    team = Team.objects.create(organization=org, name="Bench")
    service = escalation_services.service_create(team=team, by=None, name="Bench")
    webhook = Webhook.objects.create(organization=org, name="Bench")  # the default budget
    return f"/integrations/webhooks/enque/event/{webhook.key}/{service.routing_key}", org


def _steady(path: str, tag: str) -> list[tuple[float, float, int]]:
    bodies = [ingest._body(n, f"{tag}-{n}") for n in range(int(RATE * SECONDS) + 10)]
    return ingest._load(path, 4, SECONDS, bodies, rate=RATE)


def _flood(path: str, results: multiprocessing.Queue[list[tuple[float, float, int]]]) -> None:
    """The flood, in a process of its own: in a thread of the bench's process it held the
    GIL from the steady clients, whose latency then measured the bench, not the server. At
    the lowest priority (BENCH_FLOOD_NICE, 19): on this 2-core box the generator's own CPU
    would otherwise be taken from the server, which a remote flood's is not."""
    os.nice(FLOOD_NICE)
    bodies = [ingest._body(n, f"flood-{n % 100}") for n in range(1000)]
    results.put(ingest._load(path, FLOOD_CLIENTS, SECONDS + 1, bodies))


def _figures(answers: list[tuple[float, float, int]]) -> dict[str, Any]:
    latencies = [seconds * 1000 for _, seconds, status in answers if status == 202]
    return {
        "requests": len(answers),
        "accepted": len(latencies),
        "other_statuses": sorted({status for _, _, status in answers if status != 202}),
        "p50_ms": round(ingest._percentile(latencies, 0.50), 2),
        "p99_ms": round(ingest._percentile(latencies, 0.99), 2),
        "max_ms": round(max(latencies, default=float("nan")), 2),
    }


def main() -> None:
    import django

    django.setup()
    from django.db import connections

    from signals.models import RawEvent
    from signals.webhooks.models import DEFAULT_RATE_LIMIT_PER_MINUTE

    quiet_path, quiet_org = _organization("Q")
    flood_path, _ = _organization("F")
    connections.close_all()
    base = baseline.measure()
    processes = {"web": ingest._start("web"), "worker": ingest._start("worker")}
    try:
        procfile.wait_for_port(ingest.PORT)
        warm_up = ingest._load(quiet_path, 4, 1.0, [ingest._body(0, "warm-up")], rate=RATE)
        meter = baseline.CpuMeter(processes, own="bench").start()
        alone = _steady(quiet_path, "alone")
        cpu_alone = meter.stop(sum(status == 202 for _, _, status in alone))
        results: multiprocessing.Queue[list[tuple[float, float, int]]] = multiprocessing.Queue()
        meter.start()
        flooder = multiprocessing.Process(target=_flood, args=(flood_path, results))
        flooder.start()
        time.sleep(0.5)  # the flood is under way
        during = _steady(quiet_path, "during")
        flood = results.get(timeout=120)
        flooder.join()
        cpu_flood = meter.stop(len(flood) + len(during), "request")
    finally:
        for process in processes.values():
            procfile.stop(process)
    flood_statuses: dict[str, int] = {}
    for _, _, status in flood:
        flood_statuses[str(status)] = flood_statuses.get(str(status), 0) + 1
    quiet_alone, quiet_during = _figures(alone), _figures(during)
    warmed = sum(status == 202 for _, _, status in warm_up)
    sent = quiet_alone["accepted"] + quiet_during["accepted"] + warmed
    quiet_alone.update(cpu_alone)
    flood_rate = round(len(flood) / (SECONDS + 1), 1)
    out: dict[str, Any] = {
        "benchmark": "flood",
        "seconds_per_phase": SECONDS,
        "quiet_rate_per_second": RATE,
        "quiet_rate_share_of_raw": baseline.share_of_raw(RATE, base),
        "quiet_alone": quiet_alone,
        "quiet_during_the_flood": quiet_during,
        "p99_ratio": round(quiet_during["p99_ms"] / quiet_alone["p99_ms"], 2),
        "flood": {
            "clients": FLOOD_CLIENTS,
            "requests_per_second": flood_rate,
            "share_of_raw": baseline.share_of_raw(flood_rate, base),
            "statuses": flood_statuses,
            "budget_per_minute": DEFAULT_RATE_LIMIT_PER_MINUTE,
            "generator_nice": FLOOD_NICE,
        },
        "flood_phase_cpu": cpu_flood,
        "quiet_events_accepted_and_stored": [
            sent,
            RawEvent.objects.filter(organization=quiet_org).count(),
        ],
        "baseline": base,
        "cpu_components": baseline.components(
            processes, bench="this process: Q's steady clients (not in _all)"
        ),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(out, indent=2))
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(flood_statuses.items()))
    baseline.print_table(
        base,
        [
            (
                f"Q alone: webhook POSTs paced at {RATE:g}/s, 4 clients",
                f"202 p99 {quiet_alone['p99_ms']} ms",
                out["quiet_rate_share_of_raw"],
                quiet_alone,
            ),
            (
                f"Q at {RATE:g}/s while F floods from {FLOOD_CLIENTS} clients, unpaced",
                f"F {flood_rate:,.0f} requests/s ({statuses});"
                f" Q's 202 p99 {quiet_during['p99_ms']} ms ({out['p99_ratio']}x alone)",
                out["flood"]["share_of_raw"],
                cpu_flood,
            ),
        ],
    )


if __name__ == "__main__":
    main()
