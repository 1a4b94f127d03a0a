"""Dedup throughput: N concurrent producer processes send events over K dedup ids straight
into `incidents.services.ingest_event`. Prints events/s and the incidents created (must be K).

Beside them: the raw-PostgreSQL baseline of the same run (bench/support/baseline.py, measured
before the producers start), events/s as a share of it, and CPU ms per event of the producers
(each measures its own CPU from the common start to its last event: they are what the
Procfile's worker would be, without Celery), PostgreSQL and Redis. JSON on stdout, a Markdown
table on stderr.

    eval "$(make -s services)"; .venv/bin/python bench/dedup.py

Environment: BENCH_PRODUCERS, BENCH_KEYS, BENCH_EVENTS.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import baseline  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsduty.settings")
os.environ["OPSDUTY_DEBUG"] = "0"

PRODUCERS = int(os.environ.get("BENCH_PRODUCERS", "8"))
KEYS = int(os.environ.get("BENCH_KEYS", "20"))
EVENTS_PER_PRODUCER = int(os.environ.get("BENCH_EVENTS", "500"))


def _setup() -> None:
    import django

    django.setup()


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def produce(
    service_id: int, producer: int, start_at: float, spent: multiprocessing.Queue[float]
) -> None:
    _setup()
    from incidents.ingest.services import ingest_event
    from opsduty.events import EventData
    from opsduty.models import Service

    service = Service.objects.get(pk=service_id)
    while time.time() < start_at:
        time.sleep(0.001)
    cpu_at_start = _cpu_seconds()  # Django's set-up and the connection are not the load's
    for n in range(EVENTS_PER_PRODUCER):
        key = f"key-{(n + producer) % KEYS}"
        ingest_event(
            service=service,
            event=EventData(
                summary=f"event {n} from {producer}",
                dedup_id=key,
                payload={"producer": producer, "n": n, "labels": {"a": "b"}},
            ),
        )
    spent.put(_cpu_seconds() - cpu_at_start)


def main() -> None:
    _setup()
    from escalations.catalog import services as escalation_services
    from incidents.models import Incident, IncidentEvent
    from opsduty import services
    from opsduty.models import Team

    stamp = time.strftime("%Y%m%d%H%M%S")
    org = services.organization_create(name="Bench dedup", domain=f"bench-dedup-{stamp}")
    team = Team.objects.create(organization=org, name="Bench")
    service = escalation_services.service_create(team=team, by=None, name="Bench")

    from django.db import connections

    # Forked producers must not share the parent's database socket.
    connections.close_all()
    base = baseline.measure()
    spent: multiprocessing.Queue[float] = multiprocessing.Queue()
    start_at = time.time() + 2.0  # let every process connect first
    processes = [
        multiprocessing.Process(target=produce, args=(service.pk, p, start_at, spent))
        for p in range(PRODUCERS)
    ]
    for process in processes:
        process.start()
    time.sleep(max(0.0, start_at - time.time()))
    meter = baseline.CpuMeter().start()
    producers_cpu = sum(spent.get(timeout=600) for _ in processes)
    for process in processes:
        process.join()
    elapsed = time.time() - start_at
    total = PRODUCERS * EVENTS_PER_PRODUCER
    cpu_figures = meter.stop(total, extra={"producers": producers_cpu})
    incidents = Incident.objects.filter(service=service).count()
    events = IncidentEvent.objects.filter(incident__service=service).count()
    rate = round(total / elapsed, 1)
    out: dict[str, Any] = {
        "benchmark": "dedup",
        "producers": PRODUCERS,
        "dedup_ids": KEYS,
        "events_sent": total,
        "events_stored": events,
        "seconds": round(elapsed, 2),
        "events_per_second": rate,
        "incidents_created": incidents,
        "incidents_equal_dedup_ids": incidents == KEYS,
        "baseline": base,
        "share_of_raw": baseline.share_of_raw(rate, base),
        "cpu_components": {
            "producers": f"{PRODUCERS} processes calling ingest_event in-process (each its own"
            " CPU from the common start to its last event)",
            **baseline.components(()),
        },
        **cpu_figures,
    }
    print(json.dumps(out, indent=2))
    baseline.print_table(
        base,
        [
            (
                f"ingest_event from {PRODUCERS} producer processes, {KEYS} dedup ids, unpaced",
                f"{rate:,.0f} events/s, {incidents} incidents",
                out["share_of_raw"],
                out,
            )
        ],
    )


if __name__ == "__main__":
    main()
