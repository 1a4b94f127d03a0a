"""One web process's live hub: one Redis subscription, fanned out to the process's streams.

The hub subscribes to every organization's channel with one pattern (`opsduty/live.py`) on
one Redis connection, whatever the number of open streams. A notice for an organization with
no stream here is dropped at once. Notices arriving within `WINDOW` are handled together:
the hub reads the organization's open counts once (one query, `organization_open_counts`),
then gives each stream of that organization an event naming the incidents its viewer may see,
its open count, and whether on-call widgets should refresh. Nothing else runs while nothing
changes: an idle stream costs a keep-alive comment every `KEEPALIVE` seconds and a check of
its session every `RECHECK` seconds (`stream.py`).

When the subscription breaks, the hub reconnects with a back-off and tells every stream to
resynchronize (its page refreshes what it shows): notices sent meanwhile are lost to it.

Database reads run in a small thread pool of their own (`run_sync`), so a burst of
connections never queues behind the Django requests in a2wsgi's threads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
import redis.asyncio
from django.conf import settings
from django.db import close_old_connections
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from incidents.live.selectors import (
    Viewer,
    organization_open_counts,
    viewer_get,
    viewer_open_count,
)
from opsduty.live import channel_prefix

logger = logging.getLogger(__name__)

T = TypeVar("T")

WINDOW = 0.1  # seconds: notices that arrive together make one event per stream
READY_WAIT = 2.0  # seconds a new stream waits for the subscription before it starts anyway
BACKLOG = 64  # events a stream may fall behind before it is closed (its page reconnects)
IDLE_READ = 30.0  # seconds between reads of an idle subscription (the health check pings)

_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="live-db")


def _with_connection(function: Callable[..., T], kwargs: dict[str, Any]) -> T:
    # As around a request: drop a connection past its age or broken, keep a healthy one.
    close_old_connections()
    try:
        return function(**kwargs)
    finally:
        close_old_connections()


async def run_sync(function: Callable[..., T], **kwargs: Any) -> T:
    """Run a synchronous (Django) read in the hub's thread pool."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor, _with_connection, function, kwargs)


def sse_event(data: dict[str, Any]) -> bytes:
    """One server-sent event carrying `data` as JSON."""
    return b"data: " + orjson.dumps(data) + b"\n\n"


class Client:
    """One open stream: its viewer and the events waiting to be written to it."""

    def __init__(self, viewer: Viewer) -> None:
        self.viewer = viewer
        self.count: int | None = None  # the open count the page was last told
        self.closed = False
        self._items: list[bytes] = []
        self._ready = asyncio.Event()

    def push(self, data: bytes) -> None:
        if self.closed:
            return
        if len(self._items) >= BACKLOG:
            # A stalled reader: end its stream; the browser reconnects and resynchronizes.
            self.close()
            return
        self._items.append(data)
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    async def wait(self) -> None:
        await self._ready.wait()

    def take(self) -> bytes:
        items, self._items = self._items, []
        self._ready.clear()
        return b"".join(items)


@dataclass
class _Pending:
    incidents: dict[int, set[int]] = field(default_factory=dict)  # service id -> incident ids
    every: bool = False
    oncall: bool = False
    access: bool = False
    resync: bool = False

    def add(self, message: dict[str, Any]) -> None:
        for service_id, ids in (message.get("s") or {}).items():
            self.incidents.setdefault(int(service_id), set()).update(int(i) for i in ids)
        self.every = self.every or bool(message.get("every"))
        self.oncall = self.oncall or bool(message.get("oncall"))
        self.access = self.access or bool(message.get("access"))


@dataclass(eq=False)
class _Organization:
    organization_id: int
    clients: set[Client] = field(default_factory=set)
    counts: dict[int, tuple[int, int]] | None = None  # organization_open_counts; None: stale
    generation: int = 0  # notices received: a count read across one is read again


def _event_for(
    client: Client, counts: dict[int, tuple[int, int]], pending: _Pending
) -> dict[str, Any] | None:
    """What one stream is told about `pending`: only incidents on services its viewer sees."""
    viewer = client.viewer
    ids = sorted(
        {
            incident_id
            for service_id, incident_ids in pending.incidents.items()
            if service_id in counts and viewer.sees(counts[service_id][0])
            for incident_id in incident_ids
        }
    )
    count = viewer_open_count(viewer, counts)
    oncall = pending.oncall or pending.access
    if not (ids or pending.every or oncall or pending.resync) and count == client.count:
        return None
    client.count = count
    return {
        "count": count,
        "incidents": ids,
        "every": int(pending.every),
        "oncall": int(oncall),
        "resync": int(pending.resync),
    }


class Hub:
    """The process's streams by organization, the subscription and the delivery loop."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.organizations: dict[int, _Organization] = {}
        self.pending: dict[int, _Pending] = {}
        self.ready = asyncio.Event()  # subscribed
        self.lost = False  # notices may have been missed: resynchronize on subscribing
        self._wake = asyncio.Event()
        self._tasks = [
            self.loop.create_task(self._listen(), name="live-listen"),
            self.loop.create_task(self._deliver_loop(), name="live-deliver"),
        ]

    # --- streams ----------------------------------------------------------------------------

    async def join(self, viewer: Viewer) -> tuple[Client, bytes]:
        """Register a stream; answers it and its first event (its open count, resync)."""
        if not self.ready.is_set():
            try:
                await asyncio.wait_for(self.ready.wait(), READY_WAIT)
            except TimeoutError:
                self.lost = True  # resynchronize this stream too once subscribed
        org_id = viewer.organization.pk
        org = self.organizations.setdefault(org_id, _Organization(org_id))
        client = Client(viewer)
        # Registered before the counts are read: a notice arriving meanwhile is delivered to
        # this stream too, after its first event, with counts read after the change.
        org.clients.add(client)
        try:
            counts = org.counts
            if counts is None:
                generation = org.generation
                counts = await run_sync(organization_open_counts, organization=viewer.organization)
                if generation == org.generation:
                    org.counts = counts
        except BaseException:
            self.leave(client)
            raise
        count = viewer_open_count(viewer, counts)
        if client.count is None:  # else a delivery already told it a fresher count
            client.count = count
        return client, sse_event({"count": count, "resync": 1})

    def leave(self, client: Client) -> None:
        org = self.organizations.get(client.viewer.organization.pk)
        if org is None:
            return
        org.clients.discard(client)
        if not org.clients:
            del self.organizations[org.organization_id]

    def viewer_changed(self, client: Client, viewer: Viewer) -> None:
        """A stream checked its session again: keep what it sees up to date."""
        client.viewer = viewer
        org = self.organizations.get(viewer.organization.pk)
        if org is not None and org.counts is not None:
            event = _event_for(client, org.counts, _Pending())
            if event is not None:
                client.push(sse_event(event))

    def stream_count(self) -> int:
        return sum(len(org.clients) for org in self.organizations.values())

    # --- notices ----------------------------------------------------------------------------

    def notice(self, organization_id: int, message: dict[str, Any]) -> None:
        """A notice from Redis: remember it for the next delivery (if anyone here listens)."""
        org = self.organizations.get(organization_id)
        if org is None:
            return
        org.generation += 1
        org.counts = None
        self.pending.setdefault(organization_id, _Pending()).add(message)
        self._wake.set()

    def resync_all(self) -> None:
        for org in self.organizations.values():
            org.generation += 1
            org.counts = None
            self.pending.setdefault(org.organization_id, _Pending()).resync = True
        self._wake.set()

    async def _listen(self) -> None:
        prefix = channel_prefix()
        backoff = 0.5
        while True:
            # No retries inside redis-py: a broken connection must surface here, where the
            # streams are told to resynchronize, instead of being silently re-subscribed.
            client = redis.asyncio.Redis.from_url(
                settings.REDIS_URL,
                socket_connect_timeout=2.0,
                socket_keepalive=True,
                health_check_interval=int(IDLE_READ),
                retry=Retry(NoBackoff(), 0),
            )
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(prefix + "*")
                self.ready.set()
                if self.lost:
                    self.lost = False
                    self.resync_all()
                backoff = 0.5
                while True:
                    message = await pubsub.get_message(timeout=IDLE_READ)
                    if message is not None:
                        self._received(prefix, message)
            except (redis.RedisError, OSError) as error:
                logger.warning("live: Redis subscription lost (%s); retrying", error)
            except Exception:
                logger.exception("live: subscription failed; retrying")
            finally:
                self.ready.clear()
                self.lost = True
                await pubsub.aclose()  # type: ignore[no-untyped-call]
                await client.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)

    def _received(self, prefix: str, message: dict[str, Any]) -> None:
        channel = message["channel"].decode()
        try:
            organization_id = int(channel.removeprefix(prefix))
            body = orjson.loads(message["data"])
        except ValueError:
            logger.warning("live: ignored a malformed notice on %s", channel)
            return
        self.notice(organization_id, body)

    async def _deliver_loop(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(WINDOW)
            self._wake.clear()
            pending, self.pending = self.pending, {}
            for organization_id, notice in pending.items():
                try:
                    await self._deliver(organization_id, notice)
                except Exception:
                    # Its streams resynchronize rather than miss the change.
                    logger.exception("live: delivery failed for organization %s", organization_id)
                    org = self.organizations.get(organization_id)
                    for client in org.clients if org else ():
                        client.close()

    async def _deliver(self, organization_id: int, pending: _Pending) -> None:
        org = self.organizations.get(organization_id)
        if org is None or not org.clients:
            return
        if pending.access:
            await self._recheck(org)
            if not org.clients:
                return
        organization = next(iter(org.clients)).viewer.organization
        generation = org.generation
        counts = await run_sync(organization_open_counts, organization=organization)
        if generation == org.generation:
            org.counts = counts
        encoded: dict[bytes, bytes] = {}  # most viewers are told the same: encode it once
        for client in list(org.clients):
            event = _event_for(client, counts, pending)
            if event is not None:
                key = orjson.dumps(event)
                client.push(encoded.setdefault(key, b"data: " + key + b"\n\n"))

    async def _recheck(self, org: _Organization) -> None:
        """Memberships, roles or sessions changed: check every viewer of the organization."""
        for client in list(org.clients):
            viewer = await run_sync(viewer_get, session_key=client.viewer.session_key)
            if viewer is None or viewer.user_id != client.viewer.user_id:
                client.close()
            else:
                client.viewer = viewer


_hub: Hub | None = None


def hub_get() -> Hub:
    """The running event loop's hub (one per process under uvicorn; tests run several loops)."""
    global _hub  # noqa: PLW0603 - one hub per process (per event loop)
    if _hub is None or _hub.loop is not asyncio.get_running_loop():
        _hub = Hub()
    return _hub
