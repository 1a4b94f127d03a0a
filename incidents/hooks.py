"""The one hook through which higher layers (the escalation engine) follow incidents.

`incident_status_changed` is published inside the transaction that changed the status, so a
subscriber's writes (an escalation run, outbox rows) commit or roll back with the change.
Subscribers register once at app start-up (their AppConfig.ready), keep their work short,
and must not call back into incident services.

A new incident's change carries the `directives` of the event that opened it (what event
orchestrations decided: policy override, bypass, silence, users to notify...), so the
escalation engine starts the right run, or none, before anyone is paged. Subscribers say what
they did in `effects` (shown on the raw event's processing result).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from opsduty.events import EventDirectives

if TYPE_CHECKING:
    from incidents.models import Incident
    from opsduty.models import User


@dataclass(frozen=True)
class StatusChange:
    incident: Incident
    old_status: str | None  # None: the incident was just created
    new_status: str
    actor: User | None  # None: the system
    # Only on creation: the opening event's directives (empty for a manual trigger).
    directives: EventDirectives = field(default_factory=EventDirectives)
    effects: list[str] = field(default_factory=list)


Subscriber = Callable[[StatusChange], None]
_subscribers: list[Subscriber] = []


def subscribe(subscriber: Subscriber) -> None:
    """Register `subscriber` (idempotent)."""
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)


def unsubscribe(subscriber: Subscriber) -> None:
    if subscriber in _subscribers:
        _subscribers.remove(subscriber)


def publish(change: StatusChange) -> None:
    """Call every subscriber, in registration order, inside the caller's transaction."""
    for subscriber in list(_subscribers):
        subscriber(change)


# --- Every change: one call per incident log line (incidents/log.py) -------------------------
# Integrations that mirror an incident elsewhere (Slack's message, updated in place) follow
# every change here, not only status changes: urgency, notes, attach, escalation steps,
# paging. Called inside the caller's transaction; a subscriber only notes what to do after
# the commit (it must not call out to a provider here).


@dataclass(frozen=True)
class LogLine:
    incident: Incident
    action: str
    actor: User | None
    # The line's structured data (e.g. an escalation step's level, a reassignment's policy).
    data: dict[str, Any] = field(default_factory=dict)


LogSubscriber = Callable[[LogLine], None]
_log_subscribers: list[LogSubscriber] = []


def log_subscribe(subscriber: LogSubscriber) -> None:
    """Register `subscriber` for every log line (idempotent)."""
    if subscriber not in _log_subscribers:
        _log_subscribers.append(subscriber)


def log_unsubscribe(subscriber: LogSubscriber) -> None:
    if subscriber in _log_subscribers:
        _log_subscribers.remove(subscriber)


def log_publish(line: LogLine) -> None:
    """Call every log subscriber, in registration order, inside the caller's transaction."""
    for subscriber in _log_subscribers:
        subscriber(line)


# A batch: many changes in one transaction (the drain ingests a batch of events so). Inside
# `batch()`, the code that runs per change may gather work per batch rather than do it per
# change (`batch_scratch`), and does it once at the end of the block, still in the
# transaction: one statement for fifty incidents instead of fifty (the log lines, the
# analytics upkeep); or it may keep what it read for the rest of the batch (a service row
# it holds locked until commit).
BatchFlush = Callable[[dict[Any, Any]], None]
# The scratch of the incident events a batch stores in one statement at its end
# (`incidents.ingest.services`): flushed first by code that counts them in the batch.
EVENTS = "incident events"
# The open incidents a batch's events went to, by (service id, dedup id): the next event of
# the dedup id in the batch takes its incident from here (the batch's transaction holds its
# row lock) instead of reading it again. Any log line of an incident drops it: whatever
# changed it (a status, an attach) wrote one, and the next event reads it afresh.
OPEN_INCIDENTS = "open incidents"
T = TypeVar("T")
_Scratch = tuple[dict[Any, Any], BatchFlush | None, bool]  # the work, its flush, rows first
_batch: ContextVar[dict[str, _Scratch] | None] = ContextVar("incident_batch", default=None)


@contextmanager
def batch() -> Iterator[None]:
    """Run the block as one batch of changes; the gathered work runs at its end, in the order
    it was first gathered, rows first (`batch_scratch(rows=True)`: the other work reads them);
    not when the block raises: the caller's transaction is rolled back then."""
    gathered: dict[str, _Scratch] = {}
    token = _batch.set(gathered)
    try:
        yield
        # Still inside the batch: what a flush gathers (a label's log line) is flushed after.
        while pending := [
            name for name, (scratch, flush, _) in gathered.items() if flush and scratch
        ]:
            rows = [name for name in pending if gathered[name][2]]
            for name in rows or pending:
                batch_flush(name)
    finally:
        _batch.reset(token)


def batch_flush(name: str) -> None:
    """Do the work gathered in scratch `name` now (before something in the batch reads what
    it writes); nothing outside a batch or when nothing is gathered."""
    gathered = _batch.get()
    if gathered is None or name not in gathered:
        return
    scratch, flush, _ = gathered[name]
    if flush is None or not scratch:
        return
    work = dict(scratch)
    scratch.clear()
    flush(work)


def batch_memo(name: str, key: Hashable, read: Callable[[], T]) -> T:
    """`read()` once per batch for `key` (what it read stays true until commit, e.g. a row
    the transaction holds locked); outside a batch, every time."""
    seen = batch_scratch(name)
    if seen is None:
        return read()
    if key not in seen:
        seen[key] = read()
    value: T = seen[key]
    return value


def batch_scratch(
    name: str, flush: BatchFlush | None = None, *, rows: bool = False
) -> dict[Any, Any] | None:
    """Inside `batch()`: the scratch dict `name` of this batch, and `flush` (called with it
    once, at the batch's end); outside one: None, do the work now.

    `rows`: the flush writes rows that the batch's other work may read (a new incident's
    escalation run, its notification rows): such flushes run before the others, and the code
    that reads those rows in the batch calls `batch_flush(name)` first.
    """
    gathered = _batch.get()
    if gathered is None:
        return None
    return gathered.setdefault(name, ({}, flush, rows))[0]
