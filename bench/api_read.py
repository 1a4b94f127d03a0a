"""Throughput and latency of the platform's read paths, served by gunicorn on loopback.

Starts gunicorn (2 workers, like a small production box) on a free port, creates a benchmark
organization with 50 users and an API token, then hammers each path from 8 client threads.
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

from opsduty import services  # noqa: E402
from opsduty.models import Organization, Role, User  # noqa: E402

DURATION = float(os.environ.get("BENCH_SECONDS", "5"))
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


def hammer(port: int, path: str, headers: dict[str, str]) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + DURATION
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
    latencies.sort()
    return {
        "requests_per_second": round(len(latencies) / DURATION, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "non_200": errors,
    }


def main() -> None:
    token = seed()
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
        result = {
            "benchmark": "api_read",
            "duration_seconds": DURATION,
            "client_threads": THREADS,
            "gunicorn_workers": 2,
            "healthz": hammer(port, "/healthz", {}),
            "api_v1_users_first_50": hammer(
                port, "/api/v1/users/?first=50", {"Authorization": f"Bearer {token}"}
            ),
        }
    finally:
        server.terminate()
        server.wait()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
