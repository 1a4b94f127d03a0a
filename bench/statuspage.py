"""The public status page under load (issue 22, item 9; docs/status-pages.md).

One new bench organization gets a page of BENCH_COMPONENTS (50) components in 5 groups with
BENCH_DAYS (90) days of history (an outage, a slowdown or maintenance every 5-14 days per
component, as ComponentPeriod rows written by bulk inserts, and 40 resolved notices with
updates), and one open notice. Then the Procfile's `web:` (uvicorn, 2 workers) serves it on
loopback to BENCH_CLIENTS (32) keep-alive connections for BENCH_SECONDS (10), after
BENCH_WARM_UP_SECONDS (3) not counted: requests/s and latency percentiles of
`GET /status/<slug>/` (the cached, rendered page; each request still reads the page row for
its version). While the load runs, every 2 s one component's status is changed through the
model path the services use (`periods.components_show` and `events.page_touched` in one
transaction) and a separate connection polls the page until the new headline shows: the
delay from the commit to the first answer that shows it (p50 / max).

Beside them (bench/support/baseline.py): the raw-PostgreSQL baseline measured in the same run,
the rate as a share of it, and CPU per request of web, PostgreSQL, Redis and this process
(the load generator, `bench`, not in `_all`). JSON on stdout, a Markdown table on stderr.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.support import baseline, procfile, stats  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsduty.settings")
os.environ["OPSDUTY_DEBUG"] = "0"

COMPONENTS = int(os.environ.get("BENCH_COMPONENTS", "50"))
DAYS = int(os.environ.get("BENCH_DAYS", "90"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "32"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
WARM_UP_SECONDS = float(os.environ.get("BENCH_WARM_UP_SECONDS", "3"))
CHANGE_EVERY = float(os.environ.get("BENCH_CHANGE_EVERY_SECONDS", "2"))
PORT = int(os.environ.get("BENCH_PORT", "8551"))
RUN_DIR = tempfile.mkdtemp(prefix="opsduty-bench-statuspage-")
GROUPS = 5


def _setup() -> tuple[str, int]:
    """The page's slug and the component whose status the changes flip."""
    import django

    django.setup()
    from django.db import transaction
    from django.utils import timezone

    from opsduty import services
    from statuspages.models import (
        Component,
        ComponentGroup,
        ComponentPeriod,
        ComponentStatus,
        Notice,
        NoticeStatus,
        NoticeUpdate,
        StatusPage,
    )

    suffix = secrets.token_hex(4)
    org = services.organization_create(name=f"Bench page {suffix}", domain=f"bench-sp-{suffix}")
    team = services.team_create(organization=org, name="Platform", by=None)
    now = timezone.now()
    start = now - timedelta(days=DAYS + 1)
    with transaction.atomic():
        page = StatusPage.objects.create(
            organization=org, team=team, name="Bench status", slug=f"bench-{suffix}"
        )
        groups = [
            ComponentGroup.objects.create(
                organization=org, status_page=page, name=f"Group {g}", order=g
            )
            for g in range(GROUPS)
        ]
        components = [
            Component.objects.create(
                organization=org,
                group=groups[n % GROUPS],
                status_page=page,
                name=f"Component {n:02d}",
                position=n // GROUPS,
                created_at=start,
            )
            for n in range(COMPONENTS)
        ]
        periods = []
        bad = [ComponentStatus.DEGRADED_PERFORMANCE, ComponentStatus.PARTIAL_OUTAGE,
               ComponentStatus.MAJOR_OUTAGE, ComponentStatus.UNDER_MAINTENANCE]  # fmt: skip
        for n, component in enumerate(components):
            at = start
            step = 0
            while True:
                # operational for 5-14 days, then 20-140 minutes of something else
                up = timedelta(days=5 + (n + step) % 10, hours=(n * 7 + step) % 24)
                down = timedelta(minutes=20 + ((n + step) * 37) % 120)
                if at + up + down >= now:
                    last = ComponentPeriod(
                        organization=org, component=component, status="operational", started_at=at
                    )
                    periods.append(last)
                    break
                periods.append(ComponentPeriod(organization=org, component=component,
                               status="operational", started_at=at, ended_at=at + up))  # fmt: skip
                periods.append(ComponentPeriod(organization=org, component=component,
                               status=bad[(n + step) % 4], started_at=at + up,
                               ended_at=at + up + down))  # fmt: skip
                at += up + down
                step += 1
        ComponentPeriod.objects.bulk_create(periods, batch_size=2000)
        for k in range(40):
            created = now - timedelta(days=2 + k * 2)
            notice = Notice.objects.create(
                organization=org, status_page=page, title=f"Past incident {k}",
                status=NoticeStatus.RESOLVED, created_at=created,
                resolved_at=created + timedelta(hours=1),
            )  # fmt: skip
            notice.components.set(components[k % COMPONENTS : k % COMPONENTS + 2])
            for u, (status, body) in enumerate(
                [
                    ("investigating", "We are **looking** into errors."),
                    ("resolved", "Fixed: a bad deploy was rolled back."),
                ]  # fmt: skip
            ):
                NoticeUpdate.objects.create(
                    organization=org, notice=notice, body=body, status=status,
                    visible=True, published_at=created + timedelta(minutes=30 * u),
                    created_at=created + timedelta(minutes=30 * u),
                )  # fmt: skip
        open_notice = Notice.objects.create(
            organization=org, status_page=page, title="Elevated latency", created_at=now
        )
        open_notice.components.set(components[:1])
        NoticeUpdate.objects.create(
            organization=org, notice=open_notice, body="Investigating.", status="investigating",
            visible=True, published_at=now, created_at=now,
        )  # fmt: skip
    return page.slug, components[-1].pk, len(periods)  # type: ignore[return-value]


def _change(component_id: int, status: str) -> float:
    """The change through the model path; the time of its commit (monotonic)."""
    from django.db import transaction
    from django.utils import timezone

    from statuspages import periods
    from statuspages.events import page_touched
    from statuspages.models import Component

    with transaction.atomic():
        periods.components_show({component_id: status}, timezone.now())
        page_touched(Component.objects.get(pk=component_id).status_page_id)
    return time.monotonic()


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> bytes:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length)
    if status != 200:
        raise SystemExit(f"GET {path} answered {status}")
    return body


async def _client(path: str, until: float, counting_from: float, out: list[float]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    size = 0
    while True:
        start = time.monotonic()
        if start >= until:
            break
        body = await _get(reader, writer, path)
        size = len(body)
        if start >= counting_from:
            out.append(time.monotonic() - start)
    writer.close()
    return size


async def _changes(path: str, component_id: int, until: float, delays: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    statuses = [("major_outage", b"Major outage</h2>"), ("operational", b"All systems operational")]
    n = 0
    while time.monotonic() + CHANGE_EVERY + 1 < until:
        await asyncio.sleep(CHANGE_EVERY)
        status, marker = statuses[n % 2]
        committed = await asyncio.to_thread(_change, component_id, status)
        while marker not in await _get(reader, writer, path):
            if time.monotonic() - committed > 10:
                raise SystemExit("the change did not show within 10 s")
        delays.append(time.monotonic() - committed)
        n += 1
    writer.close()


async def _load(path: str, component_id: int) -> dict[str, Any]:
    now = time.monotonic()
    counting_from, until = now + WARM_UP_SECONDS, now + WARM_UP_SECONDS + SECONDS
    latencies: list[float] = []
    delays: list[float] = []
    tasks = [_client(path, until, counting_from, latencies) for _ in range(CLIENTS)]
    sizes = await asyncio.gather(*tasks, _changes(path, component_id, until, delays))
    return {"latencies": latencies, "delays": delays, "bytes": sizes[0]}


def main() -> None:
    slug, component_id, period_rows = _setup()
    from django.core.management import call_command
    from django.db import connections

    # The web runs with DEBUG off: the page's stylesheet by its hashed name (as `make run`).
    call_command("collectstatic", interactive=False, verbosity=0)

    connections.close_all()
    base = baseline.measure()
    env = {"OPSDUTY_WEB_PORT": str(PORT), "OPSDUTY_RUN_DIR": RUN_DIR}
    web = procfile.start("web", env)
    path = f"/status/{slug}/"
    try:
        procfile.wait_for_port(PORT)
        time.sleep(1)
        meter = baseline.CpuMeter({"web": web}, own="bench")
        # the meter counts from start(): started after the warm-up below
        loop_result: dict[str, Any] = {}

        async def run() -> None:
            async def measure_later() -> None:
                await asyncio.sleep(WARM_UP_SECONDS)
                meter.start()

            result, _ = await asyncio.gather(_load(path, component_id), measure_later())
            loop_result.update(result)

        asyncio.run(run())
        latencies = loop_result["latencies"]
        rate = len(latencies) / SECONDS
        cpu_figures = meter.stop(len(latencies), "request")
    finally:
        procfile.stop(web)
    out = {
        "benchmark": "statuspage",
        "components": COMPONENTS,
        "days": DAYS,
        "period_rows": period_rows,
        "clients": CLIENTS,
        "seconds": SECONDS,
        "page_bytes": loop_result["bytes"],
        "requests_per_second": round(rate, 1),
        "latency": stats.ms(latencies),
        "change_to_visible": {
            **stats.ms(loop_result["delays"]),
            "during_the_load": True,
        },
        "share_of_raw": baseline.share_of_raw(rate, base),
        "baseline": base,
        "cpu_components": baseline.components(
            ["web"], bench="this process: the 32 clients and the changes (not in _all)"
        ),
        **cpu_figures,
    }
    print(json.dumps(out, indent=2))
    latency = out["latency"]
    change = out["change_to_visible"]
    print(
        f"| GET {path} | {rate:.0f}/s | p50 {latency['p50_ms']} ms | p99 {latency['p99_ms']} ms"
        f" | change visible p50 {change['p50_ms']} ms, max {change['max_ms']} ms |",
        file=sys.stderr,
    )
    baseline.print_table(
        base,
        [(f"GET the page, {CLIENTS} clients", f"{rate:.0f} requests/s", rate, cpu_figures)],
    )


if __name__ == "__main__":
    main()
