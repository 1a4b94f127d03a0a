"""Live-update notices: after a change commits, one small message on the organization's Redis
channel tells every web process's live stream (`incidents/live/`) what to refresh.

A notice carries ids only (incident and service ids, "on call changed", "access changed"),
never summaries: the browser fetches what it shows through the ordinary Django views, which
check permissions as always. The notices of one transaction are gathered in one callback
registered with `transaction.on_commit`, so a transaction publishes at most one message per
organization, and a rolled-back transaction publishes nothing. A change undone by a rolled-back
savepoint inside a committed transaction may still be announced: a needless refresh, never a
missed one.

The committing thread only hands the notice to the process's publisher thread (`_Publisher`),
merging it into the organization's notice that is still waiting to be sent, if there is one;
the publisher sends what arrived within `BATCH_SECONDS`, one message per organization, in one
pipelined round trip. A PUBLISH after every commit cost the ingest path a quarter
of its throughput (bench/dedup.py with one producer); batched, an alert storm costs at most
one message per organization every 20 ms and process. Publishing is best effort: when Redis
is unreachable (or the process exits with notices still queued) the change stands, a warning
is logged, and open pages catch up at their next notice or reconnection.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import orjson
import redis
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

_client: redis.Redis | None = None


def channel_prefix() -> str:
    """`opsduty:<db>:live:`: installations that share one Redis server on different database
    numbers must not hear each other (pub/sub channels ignore the database number)."""
    path = urlsplit(settings.REDIS_URL).path.strip("/")
    return f"opsduty:{path or '0'}:live:"


def channel(organization_id: int) -> str:
    """The organization's channel."""
    return f"{channel_prefix()}{organization_id}"


def _redis() -> redis.Redis:
    global _client  # noqa: PLW0603 - one client (a connection pool) per process
    if _client is None:
        _client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5
        )
    return _client


@dataclass(eq=False)
class _Notice:
    """What one transaction changed in one organization; called once, after commit."""

    organization_id: int
    services: dict[int, set[int]] = field(default_factory=dict)
    oncall: bool = False
    access: bool = False
    every: bool = False

    def message(self) -> bytes:
        body: dict[str, object] = {
            "s": {str(sid): sorted(ids) for sid, ids in sorted(self.services.items())}
        }
        if self.oncall:
            body["oncall"] = 1
        if self.access:
            body["access"] = 1
        if self.every:
            body["every"] = 1
        return orjson.dumps(body)

    def merge(self, other: _Notice) -> None:
        for service_id, ids in other.services.items():
            self.services.setdefault(service_id, set()).update(ids)
        self.oncall = self.oncall or other.oncall
        self.access = self.access or other.access
        self.every = self.every or other.every

    def __call__(self) -> None:
        _publisher.put(self)


# Notices handed over within this many seconds go out together, merged per organization.
BATCH_SECONDS = 0.02


class _Publisher:
    """The process's publisher thread (started on first use, again in a forked child).

    Notices wait in `_waiting`, at most one per organization: a notice for an organization
    that already has one waiting is merged into it by the committing thread, without waking
    the publisher, so an alert storm on one organization costs a merge per commit, not a
    thread hand-over. The publisher takes the waiting notices (under the lock) before sending
    them: a commit that merged into a notice happened before that notice was sent, and a
    later one starts a new notice, so no change is left unannounced.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[int | threading.Event] = queue.SimpleQueue()
        self._waiting: dict[int, _Notice] = {}
        self._pid: int | None = None
        self._lock = threading.Lock()

    def put(self, notice: _Notice) -> None:
        with self._lock:
            if self._pid != os.getpid():
                # A forked child: not the parent's queue, nor its thread.
                self._queue, self._waiting = queue.SimpleQueue(), {}
                threading.Thread(target=self._run, name="live-publish", daemon=True).start()
                self._pid = os.getpid()
            waiting = self._waiting.get(notice.organization_id)
            if waiting is not None:
                waiting.merge(notice)
                return
            self._waiting[notice.organization_id] = notice
        self._queue.put(notice.organization_id)

    def flush(self, timeout: float = 2.0) -> None:
        """Wait until what was queued so far has been sent (tests, process exit)."""
        if self._pid == os.getpid():
            done = threading.Event()
            self._queue.put(done)
            done.wait(timeout)

    def _batch(self) -> list[int | threading.Event]:
        batch = [self._queue.get()]
        deadline = time.monotonic() + BATCH_SECONDS
        while not isinstance(batch[-1], threading.Event):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        while True:
            batch = self._batch()
            with self._lock:
                notices = [
                    self._waiting.pop(item)
                    for item in batch
                    if not isinstance(item, threading.Event) and item in self._waiting
                ]
            if notices:
                self._send(notices)
            for item in batch:
                if isinstance(item, threading.Event):
                    item.set()

    def _send(self, notices: list[_Notice]) -> None:
        try:
            pipe = _redis().pipeline(transaction=False)
            for notice in notices:
                pipe.publish(channel(notice.organization_id), notice.message())
            pipe.execute()
        except redis.RedisError as error:
            logger.warning("live notices not published (%s); pages catch up later", error)


_publisher = _Publisher()
atexit.register(_publisher.flush)


def live_flush() -> None:
    """Send the notices this process has queued so far before returning (tests, scripts)."""
    _publisher.flush()


def _pending(organization_id: int) -> _Notice | None:
    """This transaction's notice for the organization, if one is waiting for the commit."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        return None
    for _savepoints, callback, _robust in connection.run_on_commit:
        if isinstance(callback, _Notice) and callback.organization_id == organization_id:
            return callback
    return None


def live_notice(
    *,
    organization_id: int,
    service_id: int | None = None,
    incident_ids: Iterable[int | None] = (),
    oncall: bool = False,
    access: bool = False,
    every_incident: bool = False,
) -> None:
    """Announce a change to the organization's open pages once the transaction commits.

    `incident_ids` changed on `service_id` (an incident and the parent it is attached to,
    whose page lists it); `oncall`: who is on call may have changed (schedules, policies,
    services); `access`: who may see what changed (team memberships, roles, sign-outs), so
    streams check their viewer again; `every_incident`: too many incidents to name changed
    (the archive): refresh every list. Outside a transaction the notice is sent at once.
    """
    notice = _pending(organization_id)
    new = notice is None
    if notice is None:
        notice = _Notice(organization_id)
    if service_id is not None:
        notice.services.setdefault(service_id, set()).update(i for i in incident_ids if i)
    notice.oncall = notice.oncall or oncall
    notice.access = notice.access or access
    notice.every = notice.every or every_incident
    if new:
        transaction.on_commit(notice)
