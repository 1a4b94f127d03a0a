"""Dedup throughput: N concurrent producer processes send events over K dedup ids straight
into `incidents.services.ingest_event`. Prints events/s and the incidents created (must be K).

    eval "$(make -s services)"; .venv/bin/python bench/dedup.py

Environment: BENCH_PRODUCERS, BENCH_KEYS, BENCH_EVENTS.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsduty.settings")
os.environ["OPSDUTY_DEBUG"] = "0"

PRODUCERS = int(os.environ.get("BENCH_PRODUCERS", "8"))
KEYS = int(os.environ.get("BENCH_KEYS", "20"))
EVENTS_PER_PRODUCER = int(os.environ.get("BENCH_EVENTS", "500"))


def _setup() -> None:
    import django

    django.setup()


def produce(service_id: int, producer: int, start_at: float) -> None:
    _setup()
    from incidents.ingest.services import ingest_event
    from opsduty.events import EventData
    from opsduty.models import Service

    service = Service.objects.get(pk=service_id)
    while time.time() < start_at:
        time.sleep(0.001)
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
    start_at = time.time() + 2.0  # let every process connect first
    processes = [
        multiprocessing.Process(target=produce, args=(service.pk, p, start_at))
        for p in range(PRODUCERS)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    elapsed = time.time() - start_at
    total = PRODUCERS * EVENTS_PER_PRODUCER
    incidents = Incident.objects.filter(service=service).count()
    events = IncidentEvent.objects.filter(incident__service=service).count()
    print(
        json.dumps(
            {
                "benchmark": "dedup",
                "producers": PRODUCERS,
                "dedup_ids": KEYS,
                "events_sent": total,
                "events_stored": events,
                "seconds": round(elapsed, 2),
                "events_per_second": round(total / elapsed, 1),
                "incidents_created": incidents,
                "incidents_equal_dedup_ids": incidents == KEYS,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
