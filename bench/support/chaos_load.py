"""The steady mixed load of bench/chaos.py, sent the way monitoring tools send: through
aiohttp (with httpx the rig's one process could not send 200 requests a second on the shared
2-core machine: 99 a second in a run without faults), each request retried until it is
answered 2xx (Alertmanager and most senders retry).

Three kinds of traffic, all on loopback, every HTTP attempt recorded (`Attempt`):

- lifecycle keys: a dedup id that goes new -> duplicate -> duplicate -> acknowledge ->
  resolve on the generic webhook (a key's next event is sent `gap` seconds after the previous
  one was answered 2xx), `rate / 5` keys a second;
- escalating keys: a new event and a duplicate on the service whose policy pages;
- heartbeat check-ins: environments that check in every `period` seconds, some of them
  stopping for good at a planned time (their misses must be reported).

Each webhook attempt carries its own `chaos_id`, so the stored raw events and the incident
events can be matched to the HTTP attempt that produced them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass, field

import aiohttp

LIFECYCLE = ("new", "duplicate", "duplicate", "acknowledge", "resolve")
ESCALATING = ("new", "duplicate")
_STATUS = {"new": "firing", "duplicate": "firing", "acknowledge": "acknowledged"}


@dataclass
class Attempt:
    """One HTTP request: what it was for, when it went out and how it was answered
    (`status` 0: no answer, `error` says why)."""

    kind: str  # lifecycle, escalating, checkin
    key: str
    step: str
    chaos_id: str
    sent: float
    answered: float | None = None
    status: int = 0
    error: str = ""


@dataclass
class Plan:
    """What to send. Paths are relative to `base_url`."""

    base_url: str
    lifecycle_path: str
    escalating_path: str
    checkin_paths: list[str]  # on-time environments
    stopping_paths: dict[str, float]  # environment path -> seconds after the start to stop
    rate: float  # webhook events a second, all kinds
    escalating_rate: float  # new escalating incidents a second
    period: float = 10.0  # check-in period
    gap: float = 1.0  # seconds between a lifecycle key's events
    prefix: str = "chaos"


@dataclass
class Load:
    """Runs a `Plan` in a thread of its own until `stop()`; then retries what is in flight
    for up to `drain_seconds`."""

    plan: Plan
    drain_seconds: float = 60.0
    attempts: list[Attempt] = field(default_factory=list)
    abandoned: list[tuple[str, str, str]] = field(default_factory=list)
    lifecycle_keys: list[str] = field(default_factory=list)
    escalating_keys: list[str] = field(default_factory=list)
    last_checkin_ok: dict[str, float] = field(default_factory=dict)
    started_at: float = 0.0
    stopped_at: float = 0.0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> None:
        self.started_at = time.time()
        self._thread.start()

    def stop(self) -> None:
        """No new keys or check-ins from now; returns when what was under way is answered
        or `drain_seconds` have passed."""
        self.stopped_at = time.time()
        self._stop.set()
        self._thread.join(self.drain_seconds + 30)

    # --- sending --------------------------------------------------------------------------

    async def _once(
        self, client: aiohttp.ClientSession, attempt: Attempt, body: bytes | None
    ) -> bool:
        self.attempts.append(attempt)
        try:
            if body is None:
                request = client.get(attempt.key)
            else:
                request = client.post(
                    self._path(attempt.kind),
                    data=body,
                    headers={"Content-Type": "application/json"},
                )
            async with request as answer:
                await answer.read()
                attempt.status = answer.status
        except (aiohttp.ClientError, TimeoutError) as error:
            attempt.error = type(error).__name__
        except asyncio.CancelledError:  # the run ended with the request under way
            attempt.error = "cancelled at the end"
            attempt.answered = time.time()
            raise
        attempt.answered = time.time()
        return 200 <= attempt.status < 300

    def _path(self, kind: str) -> str:
        return self.plan.lifecycle_path if kind == "lifecycle" else self.plan.escalating_path

    def _give_up_at(self) -> float:
        return (self.stopped_at or float("inf")) + self.drain_seconds

    async def _deliver(self, client: aiohttp.ClientSession, kind: str, key: str, step: str) -> bool:
        """Send one event until it is answered 2xx (backing off up to 5 s between attempts)."""
        for n in itertools.count():
            chaos_id = uuid.uuid4().hex
            body = None
            if kind != "checkin":
                event = {"title": f"Chaos {key}", "dedup_id": key, "chaos_id": chaos_id}
                event["status"] = _STATUS.get(step, step + "d")  # resolve -> resolved
                event["chaos_step"] = step
                body = json.dumps(event).encode()
            attempt = Attempt(kind, key, step, chaos_id, time.time())
            if await self._once(client, attempt, body):
                return True
            if time.time() > self._give_up_at():
                self.abandoned.append((kind, key, step))
                return False
            await asyncio.sleep(min(5.0, 0.5 * 2**n))
        return False  # pragma: no cover - the loop only returns

    async def _lifecycle(self, client: aiohttp.ClientSession, key: str) -> None:
        for step in LIFECYCLE:
            if not await self._deliver(client, "lifecycle", key, step):
                return
            await asyncio.sleep(self.plan.gap)

    async def _escalating(self, client: aiohttp.ClientSession, key: str) -> None:
        for step in ESCALATING:
            if not await self._deliver(client, "escalating", key, step):
                return
            await asyncio.sleep(self.plan.gap)

    async def _checkins(self, client: aiohttp.ClientSession, path: str, until: float) -> None:
        # Spread the environments over the period.
        await asyncio.sleep(hash(path) % 1000 / 1000 * self.plan.period)
        while not self._stop.is_set() and time.time() < until:
            began = time.time()
            if await self._deliver(client, "checkin", path, "checkin"):
                self.last_checkin_ok[path] = time.time()
            await asyncio.sleep(max(0.0, began + self.plan.period - time.time()))

    # --- pacing ---------------------------------------------------------------------------

    async def _spawn(
        self, rate: float, make: object, keys: list[str], label: str, tasks: set[asyncio.Task[None]]
    ) -> None:
        if rate <= 0:
            return
        began = time.perf_counter()
        for n in itertools.count():
            await asyncio.sleep(max(0.0, began + n / rate - time.perf_counter()))
            if self._stop.is_set():
                return
            key = f"{self.plan.prefix}-{label}-{n}"
            keys.append(key)
            task = asyncio.create_task(make(key))  # type: ignore[operator]
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def _run(self) -> None:
        plan = self.plan
        timeout = aiohttp.ClientTimeout(total=10.0, connect=2.0)
        # Requests held by a server waiting for PostgreSQL must not starve the rest of the
        # load of connections: a large pool, and the check-ins on a pool of their own.
        async with (
            aiohttp.ClientSession(
                plan.base_url, connector=aiohttp.TCPConnector(limit=512), timeout=timeout
            ) as c,
            aiohttp.ClientSession(
                plan.base_url, connector=aiohttp.TCPConnector(limit=64), timeout=timeout
            ) as hb,
        ):
            tasks: set[asyncio.Task[None]] = set()
            started = self.started_at
            checkins = [
                asyncio.create_task(self._checkins(hb, p, float("inf"))) for p in plan.checkin_paths
            ] + [
                asyncio.create_task(self._checkins(hb, p, started + stop))
                for p, stop in plan.stopping_paths.items()
            ]
            lifecycle_rate = max(0.0, plan.rate - len(ESCALATING) * plan.escalating_rate) / len(
                LIFECYCLE
            )
            await asyncio.gather(
                self._spawn(
                    lifecycle_rate,
                    lambda k: self._lifecycle(c, k),
                    self.lifecycle_keys,
                    "life",
                    tasks,
                ),
                self._spawn(
                    plan.escalating_rate,
                    lambda k: self._escalating(c, k),
                    self.escalating_keys,
                    "esc",
                    tasks,
                ),
                asyncio.to_thread(self._stop.wait),
            )
            for task in checkins:
                task.cancel()
            if tasks:
                await asyncio.wait(list(tasks), timeout=self.drain_seconds + 20)
