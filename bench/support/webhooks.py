"""Paced webhook POSTs on loopback for the benchmarks that start the product (escalation,
telephony): Alertmanager-like bodies with unique dedup ids, sent over keep-alive connections
by a few asyncio clients, each POST's send and answer time recorded."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

__all__ = ["Sent", "alert_body", "post_all", "response_read"]


def alert_body(n: int, dedup: str) -> bytes:
    return json.dumps(
        {
            "receiver": "bench",
            "status": "firing",
            "title": f"Disk full on node-{n}",
            "dedup_id": dedup,
            "labels": {"alertname": "DiskFull", "severity": "critical", "instance": f"node-{n}"},
            "annotations": {"summary": "Disk above 95%", "runbook": "https://x/y"},
        }
    ).encode()


@dataclass
class Sent:
    """What `post_all` did: wall-clock send and answer times by dedup id (time.time(), to
    compare with database timestamps), HTTP statuses and the seconds the whole send took."""

    sent: dict[str, float] = field(default_factory=dict)
    answered: dict[str, float] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0


async def response_read(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
    """Read one HTTP/1.1 answer (status line, headers, Content-Length body): its status (0 if
    the connection closed first), whether the connection stays open for the next request, and
    its body."""
    status_line = await reader.readline()
    length, close = 0, False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "connection" and "close" in value.lower():
            close = True
    content = await reader.readexactly(length)
    status = int(status_line.split()[1]) if status_line else 0
    keep = not close and bool(status_line) and not status_line.startswith(b"HTTP/1.0")
    return status, keep, content


async def _client(
    port: int,
    queue: list[tuple[int, str, str, bytes]],
    result: Sent,
    rate: float,
    started: float,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while queue:
        n, dedup, path, body = queue.pop()
        if rate > 0:  # event n goes out n / rate seconds after the start, not earlier
            await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
        request = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        result.sent[dedup] = time.time()
        writer.write(request)
        status, keep, _ = await response_read(reader)
        result.answered[dedup] = time.time()
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if not keep:
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.close()


def post_all(
    port: int,
    events: list[tuple[str, str, bytes]],
    *,
    rate: float,
    clients: int,
) -> Sent:
    """POST every (dedup id, path, body) of `events` to 127.0.0.1:`port`, event n at n / rate
    seconds after the start (rate 0: an unpaced burst), over `clients` connections."""
    queue = [(n, dedup, path, body) for n, (dedup, path, body) in enumerate(events)][::-1]
    result = Sent()
    started = time.perf_counter()

    async def run() -> None:
        await asyncio.gather(*(_client(port, queue, result, rate, started) for _ in range(clients)))

    timeout = 120 + (len(events) / rate if rate > 0 else 0)
    asyncio.run(asyncio.wait_for(run(), timeout=timeout))
    result.seconds = time.perf_counter() - started
    return result
