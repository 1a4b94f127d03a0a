"""Live updates benchmark: what open tabs cost the web server while nothing changes, and how
soon a change reaches them.

Serves the product the way `make run` does: the Procfile's `web` line (uvicorn, its worker
processes, DEBUG off); no Celery worker is needed. A bench organization gets a team of
BENCH_USERS people (one owner, the rest members), a service and one incident; then:

1. baseline: the web process tree's CPU time over BENCH_BASELINE_SECONDS with no stream open
   (uvicorn's own idle cost), as a share of one core;
2. idle: BENCH_TABS server-sent event streams (`GET /live/`), each with its own signed-in
   session (as many browsers), are opened and read; the web tree's CPU time over
   BENCH_IDLE_SECONDS while nothing changes, as a share of one core (keep-alive comments, and
   each stream's session check every 2 minutes, spread from the start at the steady rate);
   the keep-alive comments received; resident memory before and after the streams opened;
3. latency: after BENCH_WARMUP changes that are not counted (each web process's first API
   requests import and cache), BENCH_CHANGES times, one a second, the incident is acknowledged or
   unacknowledged through API v1 (bearer token); for every stream, the time from just before
   the POST to the event naming the incident (p50/p99/max over all streams and changes), the
   POST's own duration, and the web tree's CPU per change. The bench's clients only read
   events: browsers would then fetch the fragments they show, which is ordinary Django
   request load and is not counted here;
4. notice: what a committing transaction that changes an incident pays after commit to hand
   its notice to the process's publisher thread (`opsduty/live.py`), and the time for
   BENCH_NOTICES (2,000) such notices, one organization each, to be sent to Redis.

Beside them (bench/support/baseline.py): the raw-PostgreSQL baseline measured in the same run
before the web starts, and CPU of the web, PostgreSQL and Redis (and this process, the streams'
reader, not summed into `_all`): per second in steps 1 and 2 (nothing arrives: CPU ms per
second is a thousandth of a core), per change in step 3. No figure here is a rate the machine
sustains, so none is given as a share of the baseline. JSON on stdout, a Markdown table on
stderr.

    eval "$(make -s services)"; .venv/bin/python manage.py migrate
    .venv/bin/python bench/live_idle.py

Environment: BENCH_TABS (200), BENCH_USERS (20), BENCH_BASELINE_SECONDS (20),
BENCH_IDLE_SECONDS (60), BENCH_CHANGES (20), BENCH_WARMUP (4), BENCH_NOTICES (2000),
BENCH_PORT (8316).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import baseline, cpu, procfile, stats  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsduty.settings")
os.environ["OPSDUTY_DEBUG"] = "0"

TABS = int(os.environ.get("BENCH_TABS", "200"))
USERS = max(1, int(os.environ.get("BENCH_USERS", "20")))
BASELINE_SECONDS = float(os.environ.get("BENCH_BASELINE_SECONDS", "20"))
IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "60"))
CHANGES = int(os.environ.get("BENCH_CHANGES", "20"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "4"))
PORT = int(os.environ.get("BENCH_PORT", "8316"))
RUN_DIR = tempfile.mkdtemp(prefix="opsduty-bench-live-")
NOTICES = int(os.environ.get("BENCH_NOTICES", "2000"))


# --- setup ----------------------------------------------------------------------------------


def _setup() -> tuple[int, str, list[str], str]:
    """The incident's id, an API token, TABS session keys and the session cookie's name."""
    import django

    django.setup()
    from django.conf import settings
    from django.test import Client

    from opsduty import services
    from opsduty.models import Role
    from tests import factories

    suffix = secrets.token_hex(4)
    org = services.organization_create(name=f"Bench live {suffix}", domain=f"bench-live-{suffix}")
    users = [
        _person(org, Role.OWNER if index == 0 else Role.MEMBER, index) for index in range(USERS)
    ]
    team = services.team_create(organization=org, name="Platform", by=users[0])
    for user in users:
        services.team_add_member(team=team, user=user, by=None)
    service = factories.make_service(team=team, name="Checkout")
    incident = factories.make_incident(service=service, summary="Bench incident")
    token = services.api_token_create(user=users[0])
    keys = []
    for index in range(TABS):
        client = Client()
        client.force_login(users[index % len(users)])
        keys.append(client.cookies[settings.SESSION_COOKIE_NAME].value)
    return incident.pk, token, keys, settings.SESSION_COOKIE_NAME


def _person(org: Any, role: str, index: int) -> Any:
    from opsduty import services

    return services.user_create(
        organization=org,
        email=f"person{index}@bench.example",
        password=None,
        role=role,
        first_name=f"Person {index}",
    )


def _notice_cost() -> dict[str, Any]:
    """Notices handed over as a committing transaction does (outside a transaction
    `live_notice` hands its notice over at once), to organizations nobody listens to."""
    from opsduty.live import live_flush, live_notice

    live_notice(organization_id=-1)
    live_flush()  # the publisher thread and the Redis connection are up
    durations = []
    start_all = time.perf_counter()
    for index in range(NOTICES):
        start = time.perf_counter()
        live_notice(organization_id=-2 - index, service_id=1, incident_ids=(index,))
        durations.append(time.perf_counter() - start)
    live_flush()
    return {
        "hand_over": stats.ms(durations, digits=3),
        "all_sent_seconds": round(time.perf_counter() - start_all, 3),
    }


# --- the streams ----------------------------------------------------------------------------


class Tab:
    """One open stream, read continuously: its events with their arrival times."""

    def __init__(self, key: str, cookie: str) -> None:
        self.key, self.cookie = key, cookie
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.pings = 0
        self.arrived = asyncio.Event()
        self.status = 0
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        reader, self.writer = await asyncio.open_connection("127.0.0.1", PORT)
        self.writer.write(
            (
                f"GET /live/ HTTP/1.1\r\nHost: 127.0.0.1:{PORT}\r\n"
                f"Cookie: {self.cookie}={self.key}\r\nAccept: text/event-stream\r\n\r\n"
            ).encode()
        )
        await self.writer.drain()
        self.status = int((await reader.readline()).split()[1])
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        self.task = asyncio.ensure_future(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        # Chunked transfer: chunk-size lines and chunk data interleave; events are
        # "data: ..." lines and comments ": ping" inside the chunks.
        while True:
            line = await reader.readline()
            if not line:
                return
            if line.startswith(b"data: "):
                self.events.append((time.monotonic(), json.loads(line[6:])))
                self.arrived.set()
            elif line.startswith(b": ping"):
                self.pings += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if hasattr(self, "task"):
            self.task.cancel()


def _post(path: str, token: str) -> float:
    start = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    connection.request(
        "POST",
        path,
        body=b"{}",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    response = connection.getresponse()
    response.read()
    connection.close()
    if response.status != 200:
        raise SystemExit(f"POST {path} answered {response.status}")
    return time.monotonic() - start


async def _latencies(
    tabs: list[Tab], incident_id: int, token: str, web: subprocess.Popen[bytes]
) -> dict[str, Any]:
    web_pid = web.pid
    latencies: list[float] = []
    posts: list[float] = []
    missed = 0
    for change in range(WARMUP):  # each web process's first API requests import and cache
        action = "acknowledge" if change % 2 == 0 else "unacknowledge"
        await asyncio.to_thread(_post, f"/api/v1/incidents/{incident_id}/{action}/", token)
    await asyncio.sleep(1)
    cpu_before = cpu.tree_cpu_seconds(web_pid)
    meter = baseline.CpuMeter({"web": web}, own="bench").start()
    for change in range(CHANGES):
        action = "acknowledge" if change % 2 == 0 else "unacknowledge"
        seen = [len(tab.events) for tab in tabs]
        start = time.monotonic()
        posts.append(
            await asyncio.to_thread(_post, f"/api/v1/incidents/{incident_id}/{action}/", token)
        )
        deadline = start + 10
        for tab, before in zip(tabs, seen, strict=True):
            arrival = None
            while arrival is None and time.monotonic() < deadline:
                for at, event in tab.events[before:]:
                    if incident_id in event.get("incidents", ()):
                        arrival = at
                        break
                else:
                    tab.arrived.clear()
                    try:
                        await asyncio.wait_for(tab.arrived.wait(), deadline - time.monotonic())
                    except TimeoutError:
                        break
            if arrival is None:
                missed += 1
            else:
                latencies.append(arrival - start)
        await asyncio.sleep(max(0.0, start + 1.0 - time.monotonic()))
    cpu_spent = cpu.tree_cpu_seconds(web_pid) - cpu_before
    cpu_figures = meter.stop(CHANGES, "change")
    return {
        "changes": CHANGES,
        "warm_up_changes_not_counted": WARMUP,
        "change_to_event": stats.ms(latencies),
        "events_missed": missed,
        "post": stats.ms(posts),
        "web_cpu_ms_per_change": round(cpu_spent / max(CHANGES, 1) * 1000, 1),
        **cpu_figures,
    }


async def _run(
    keys: list[str], cookie: str, incident_id: int, token: str, web: subprocess.Popen[bytes]
) -> Any:
    web_pid = web.pid
    rss_before = cpu.tree_rss_mb(web_pid)
    tabs = [Tab(key, cookie) for key in keys]
    for start in range(0, len(tabs), 20):  # a few at a time, as browsers would arrive
        await asyncio.gather(*(tab.open() for tab in tabs[start : start + 20]))
    statuses = sorted({tab.status for tab in tabs})
    await asyncio.gather(*(asyncio.wait_for(tab.arrived.wait(), 30) for tab in tabs))
    await asyncio.sleep(2)  # let the connection burst settle before measuring
    rss_after = cpu.tree_rss_mb(web_pid)
    pings_before = sum(tab.pings for tab in tabs)
    cpu_before, wall = cpu.tree_cpu_seconds(web_pid), time.monotonic()
    meter = baseline.CpuMeter({"web": web}, own="bench").start()
    await asyncio.sleep(IDLE_SECONDS)
    cpu_idle, wall = cpu.tree_cpu_seconds(web_pid) - cpu_before, time.monotonic() - wall
    cpu_figures = meter.stop(wall, "second")
    idle = {
        "seconds": round(wall, 1),
        "web_cpu_seconds": round(cpu_idle, 3),
        "web_cpu_percent_of_one_core": round(cpu_idle / wall * 100, 2),
        "keepalive_comments_received": sum(tab.pings for tab in tabs) - pings_before,
        "events_received": sum(len(tab.events) for tab in tabs) - len(tabs),
        "rss_mb_before_streams": rss_before,
        "rss_mb_with_streams": rss_after,
        **cpu_figures,
    }
    latency = await _latencies(tabs, incident_id, token, web)
    for tab in tabs:
        tab.close()
    return statuses, idle, latency


def main() -> None:
    incident_id, token, keys, cookie = _setup()
    notice = _notice_cost()
    from django.db import connections

    connections.close_all()
    base = baseline.measure()
    env = {"OPSDUTY_WEB_PORT": str(PORT), "OPSDUTY_RUN_DIR": RUN_DIR}
    web = procfile.start("web", env)
    try:
        procfile.wait_for_port(PORT)
        time.sleep(2)
        cpu_before, wall = cpu.tree_cpu_seconds(web.pid), time.monotonic()
        meter = baseline.CpuMeter({"web": web}, own="bench").start()
        time.sleep(BASELINE_SECONDS)
        baseline_cpu = cpu.tree_cpu_seconds(web.pid) - cpu_before
        baseline_wall = time.monotonic() - wall
        cpu_no_streams = meter.stop(baseline_wall, "second")
        statuses, idle, latency = asyncio.run(_run(keys, cookie, incident_id, token, web))
    finally:
        procfile.stop(web)
    out = {
        "benchmark": "live_idle",
        "tabs": TABS,
        "users": USERS,
        "stream_statuses": statuses,
        "baseline": base,
        "cpu_components": baseline.components(
            ["web"], bench="this process: the streams' reader and the API client (not in _all)"
        ),
        "baseline_no_streams": {
            "seconds": round(baseline_wall, 1),
            "web_cpu_percent_of_one_core": round(baseline_cpu / baseline_wall * 100, 2),
            **cpu_no_streams,
        },
        "idle": idle,
        "latency": latency,
        "notice": notice,
    }
    print(json.dumps(out, indent=2))
    change = latency["change_to_event"]
    baseline.print_table(
        base,
        [
            (
                f"web alone, no stream open, {baseline_wall:.0f} s",
                f"web {out['baseline_no_streams']['web_cpu_percent_of_one_core']}% of a core",
                None,
                out["baseline_no_streams"],
            ),
            (
                f"{TABS} open streams, nothing changing, {idle['seconds']:g} s",
                f"web {idle['web_cpu_percent_of_one_core']}% of a core",
                None,
                idle,
            ),
            (
                f"{CHANGES} API acknowledge/unacknowledge calls, 1/s, {TABS} streams",
                f"change to event p99 {change['p99_ms']} ms, missed {latency['events_missed']}",
                None,
                latency,
            ),
        ],
    )


if __name__ == "__main__":
    main()
