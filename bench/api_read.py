"""Throughput and latency of the platform's read paths, served by gunicorn on loopback.

Starts gunicorn (2 workers, like a small production box) on a free port, creates a benchmark
organization with 50 users and an API token, then hammers each path from 8 client threads
for BENCH_SECONDS (5), after BENCH_WARM_UP_SECONDS (2) of each path that are not counted.
Beside each path's requests/s: the raw-PostgreSQL baseline measured in the same run before
gunicorn starts (bench/support/baseline.py), the rate as a share of it, and CPU ms per request
of gunicorn (its workers included), PostgreSQL, Redis and this process (the client threads,
not summed into `_all`). JSON on stdout, a Markdown table on stderr.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsduty.settings")
# Measure production settings (DEBUG off); the secret key comes from `make services`.
os.environ["OPSDUTY_DEBUG"] = "0"
os.environ["OPSDUTY_STATIC_MANIFEST"] = "0"
# Measure serving, not the per-token throttle (1200/min by default).
os.environ["OPSDUTY_API_RATE"] = "100000000/min"
os.environ["OPSDUTY_LOG_LEVEL"] = "ERROR"

import django  # noqa: E402

django.setup()

from bench.support import baseline  # noqa: E402
from opsduty import services  # noqa: E402
from opsduty.models import Organization, Role, User  # noqa: E402

DURATION = float(os.environ.get("BENCH_SECONDS", "5"))
# Uncounted requests on each path first: gunicorn accepts connections before its workers have
# imported Django, and those first seconds measured the start-up, not the serving.
WARM_UP = float(os.environ.get("BENCH_WARM_UP_SECONDS", "2"))
THREADS = 8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed() -> str:
    org = Organization.objects.filter(domain="bench").first() or services.organization_create(
        name="Bench", domain="bench"
    )
    for i in range(50 - User.objects.filter(organization=org).count()):
        User.objects.create(
            organization=org, email=f"user{i}-{time.time_ns()}@bench.test", role=Role.MEMBER
        )
    user = User.objects.filter(organization=org).first()
    assert user is not None
    return services.api_token_create(user=user)


def hammer(
    port: int,
    path: str,
    headers: dict[str, str],
    server: subprocess.Popen[bytes],
    seconds: float = DURATION,
) -> dict[str, Any]:
    meter = baseline.CpuMeter({"web": server}, own="bench").start()
    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def worker() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine: list[float] = []
        bad = 0
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - t0)
            bad += response.status != 200
        with lock:
            latencies.extend(mine)
            errors += bad

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu_figures = meter.stop(len(latencies), "request")
    latencies.sort()
    return {
        "requests_per_second": round(len(latencies) / seconds, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "non_200": errors,
        **cpu_figures,
    }


def _warm_up(port: int, token: str, server: subprocess.Popen[bytes]) -> float:
    """WARM_UP seconds of each path, not counted (every worker has served both)."""
    if WARM_UP > 0:
        hammer(port, "/healthz", {}, server, WARM_UP)
        hammer(
            port, "/api/v1/users/?first=50", {"Authorization": f"Bearer {token}"}, server, WARM_UP
        )
    return WARM_UP


def main() -> None:
    token = seed()
    base = baseline.measure()
    port = free_port()
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "opsduty.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        result: dict[str, Any] = {
            "benchmark": "api_read",
            "duration_seconds": DURATION,
            "warm_up_seconds_not_counted": _warm_up(port, token, server),
            "client_threads": THREADS,
            "gunicorn_workers": 2,
            "baseline": base,
            "cpu_components": {
                "web": "gunicorn opsduty.wsgi, 2 workers (not the Procfile's uvicorn)",
                **baseline.components((), bench="this process: the client threads (not in _all)"),
            },
            "healthz": hammer(port, "/healthz", {}, server),
            "api_v1_users_first_50": hammer(
                port, "/api/v1/users/?first=50", {"Authorization": f"Bearer {token}"}, server
            ),
        }
    finally:
        server.terminate()
        server.wait()
    rows = []
    for key, label in (
        ("healthz", "GET /healthz"),
        ("api_v1_users_first_50", "GET /api/v1/users/?first=50"),
    ):
        figures = result[key]
        figures["share_of_raw"] = baseline.share_of_raw(figures["requests_per_second"], base)
        rows.append(
            (
                f"{label}, {THREADS} client threads, unpaced, {DURATION:g} s",
                f"{figures['requests_per_second']:,.0f} requests/s, p99 {figures['p99_ms']} ms",
                figures["share_of_raw"],
                figures,
            )
        )
    print(json.dumps(result, indent=2))
    baseline.print_table(base, rows)


if __name__ == "__main__":
    main()
