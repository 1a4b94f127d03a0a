"""Processing of stored raw events: exactly once per event, in order per dedup id, failures
kept and replayable.

Each event goes through the pipeline (`processing.pipeline.steps.pipeline_evaluate`: render,
route, orchestrate) and into ingest (`incidents.ingest.services`), in one transaction with
its "processed" mark. Raw events are processed by drain tasks rather than one Celery task
each: queuing a task costs the receiver more than storing the event. After its commit the
receiver queues `signals.raw_events_drain` at most once at a time (a Redis flag, see
`signals/receiver/services.py`); a drain clears the flag, then claims pending events in
batches (`FOR UPDATE SKIP LOCKED`, `claimed_at`). A full batch queues one more drain, so busy
periods spread over every worker process. The sweeper queues a drain when an event has
waited past `STALE_AFTER` (a lost task, a dead worker whose claim went stale).

Order per dedup id. Two drains work on consecutive batches at once, and an acknowledge in
one batch could commit after the resolve that followed it in the next (the chaos rig found
it, docs/reliability.md): the acknowledge then found no open incident. The dedup id is known
only once the pipeline has run, so a drain first runs the pipeline for its whole batch (no
writes) and stores each event's order key, a hash of its service and dedup id
(`RawEvent.order_key`, one UPDATE for the batch). Then it ingests the batch in id order, but
only an event with no pending event before it (a smaller id, same organization) of the same
order key or not yet keyed: such an event waits, and the drain goes on with the others. The
oldest pending event never waits, so processing always moves; a drain that waited past its
patience releases what still waits for a later claim.

The events of a pass that wait for nothing are ingested in one transaction (`_ingest_ready`):
one lock statement, one "processed" mark for all with their references, new incidents
numbered together at the end, and inside `incidents.hooks.batch()`, so that the log lines,
the analytics upkeep and the deliveries' tasks are written once for the batch and what the
per-event code reads (a service's maintenance and policy, labels, notification rules) is read
once. An event that fails there rolls the transaction back, and the pass is ingested again
one event per transaction, so that only that event is marked failed.

Database errors are retried (the task, then the sweeper): PostgreSQL or the network being
away must never fail an event. The exception is a data error (SQLSTATE class 22, Django's
`DataError`): what the event holds cannot be stored, and would not be on any retry, so the
event is marked failed like any other error of its own (replayable), instead of holding up
its batch and every later event of its key for ever.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from django.conf import settings
from django.db import DatabaseError, DataError, connection, transaction
from django.utils import timezone

from incidents import hooks
from incidents.ingest.services import (
    event_directives_apply,
    incidents_number_assign,
    incidents_open_together,
    ingest_event_in_transaction,
)
from incidents.models import Incident
from opsduty import rawsql
from opsduty.retry import run_retrying_conflicts
from processing.pipeline.steps import PipelineCache, ProcessedEvent, pipeline_evaluate
from signals.models import RawEvent, RawEventStatus
from signals.receiver.services import (
    REFERENCES_COMPLETE_SQL,
    drain_flag_clear,
    drain_kick,
    reference_fail,
    references_complete_params,
)

logger = logging.getLogger(__name__)

STALE_AFTER = timedelta(seconds=5)
# A batch slower than this renews its claim, so it never looks stale while its drain lives.
REFRESH_SECONDS = 1.0
BATCH = 50
DRAIN_SECONDS = 10.0
# A drain that runs dry keeps polling for LINGER_SECONDS, longer than the receiver's
# KICK_EVERY, so an event stored after a skipped kick is still picked up.
LINGER_SECONDS = 0.3
POLL_SECONDS = 0.02
# How long a drain keeps trying events that wait for an earlier event of their dedup id
# (another drain's batch) before it releases them to a later claim.
PATIENCE_SECONDS = 2.0
# ...polling this often at first: the event it waits for is usually one commit away; then
# less often, up to WAIT_POLL_MAX_SECONDS, while nothing it holds can go (another drain is
# still running the pipeline for a whole batch: polling every 2 ms then cost both drains'
# cores more than the work, a third of a mixed backlog's CPU).
WAIT_POLL_SECONDS = 0.002
WAIT_POLL_MAX_SECONDS = 0.016
MAX_ERROR = 4000


def raw_event_process(*, raw_event_id: int, cache: PipelineCache | None = None) -> bool:
    """Run the pipeline for a pending raw event; False when there was nothing to do.

    The row lock and the `pending` check make a duplicated task, or two drains racing, a
    no-op; everything the pipeline writes commits together with the `processed`
    mark, so a worker killed half-way leaves the event pending and the re-run starts clean.
    Database errors propagate (the task retries, or the sweeper does); any other error marks
    the event failed, with the error kept for a replay.
    """
    try:
        with transaction.atomic():
            if not _async_commit_session:
                _commit_without_waiting_for_disk()
            raw = _lock_pending(raw_event_id)
            if raw is None:
                return False
            _ingest_and_mark(raw, pipeline_evaluate(raw, cache))
            return True
    except Exception as error:  # noqa: BLE001 - kept on the event, replayable from the UI
        if _retried(error):
            raise
        logger.exception("raw event %s failed", raw_event_id)
        _fail(raw_event_id, f"{type(error).__name__}: {error}")
        return False


def _ingest_and_mark(raw: RawEvent, processed: ProcessedEvent) -> None:
    """Ingest what the pipeline made of `raw` and mark it processed (the caller's transaction
    holds the raw event's row lock)."""
    numbering: list[Incident] = []
    mark = _ingest(raw, processed, numbering)
    incidents_number_assign(numbering)
    _mark_processed([mark])


def _ingest(raw: RawEvent, processed: ProcessedEvent, numbering: list[Incident]) -> _Mark:
    """Ingest what the pipeline made of `raw` (a new incident goes to `numbering`)."""
    event = processed.event
    incident = ingest_event_in_transaction(
        service=processed.service, event=event, number_later=numbering
    )
    actions = event_directives_apply(incident=incident, directives=event.directives)
    return _Mark(raw, incident.pk, {**event.processing, "actions": actions})


@dataclass
class _Mark:
    """A raw event ingested in the current transaction: marked processed at its end."""

    raw: RawEvent
    incident_id: int
    result: dict[str, Any]


# In model field order: Model.from_db() reads the values in that order.
_RAW_COLUMNS = [
    field.attname
    for field in RawEvent._meta.concrete_fields
    if field.attname
    in {
        "id",
        "organization_id",
        "webhook_id",
        "routing_key",
        "reference_id",
        "received_at",
        "body",
        "attempts",
        "status",
    }
]
# Waits for a lock rather than skipping the row: another drain's claim statement locks rows
# it then finds already claimed (FOR UPDATE re-checks the WHERE after locking) until it
# commits, a few milliseconds. Skipping left such an event claimed but unprocessed until
# the claim went stale and the sweeper took it, 5 s late (about 1 event in 1,000 at 20/s).
# A drain or task processing the same event holds it for one pipeline transaction; the
# waiter then finds it processed.
_LOCK_PENDING_SQL = (
    f"SELECT {', '.join(_RAW_COLUMNS)} FROM {RawEvent._meta.db_table}"  # noqa: S608
    " WHERE id = %s AND status = 'pending' FOR UPDATE"
)


_LOCK_PENDING_IDS_SQL = (
    f"SELECT id FROM {RawEvent._meta.db_table} WHERE id = ANY(%s) AND status = 'pending'"  # noqa: S608
    " ORDER BY id FOR UPDATE"
)


def _lock_pending_ids(ids: list[int]) -> set[int]:
    """Lock those of the raw events that are still pending (in id order); their ids."""
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_PENDING_IDS_SQL, [ids])
        return {int(row[0]) for row in cursor.fetchall()}


def _lock_pending(raw_event_id: int) -> RawEvent | None:
    """The raw event if still pending, locked (plain SQL, once per event)."""
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_PENDING_SQL, [raw_event_id])
        row = cursor.fetchone()
    return None if row is None else _raw_from_row(row)


def _raw_from_row(row: tuple[Any, ...]) -> RawEvent:
    """A RawEvent from a row of `_RAW_COLUMNS`."""
    # Model.from_db() skips the field converters: decode the JSON body ourselves.
    values = list(row)
    body = _RAW_COLUMNS.index("body")
    if isinstance(values[body], str | bytes):
        values[body] = orjson.loads(values[body])
    return RawEvent.from_db("default", _RAW_COLUMNS, values)


_MARK_PROCESSED_SQL = f"""
WITH reference AS ({REFERENCES_COMPLETE_SQL})
UPDATE {RawEvent._meta.db_table} AS r SET status = %(processed)s, attempts = r.attempts + 1,
    processed_at = %(now)s, incident_id = m.incident, result = m.result, error = ''
FROM json_to_recordset(%(marks)s::json) AS m(raw bigint, incident bigint, result jsonb)
WHERE r.id = m.raw
"""  # noqa: S608 - the marks as one JSON document (see incidents/log.py)


def _mark_processed(marks: list[_Mark]) -> None:
    """Mark raw events processed and complete their references, in one statement."""
    with connection.cursor() as cursor:
        cursor.execute(
            _MARK_PROCESSED_SQL,
            {
                **references_complete_params([(m.raw.reference_id, m.incident_id) for m in marks]),
                "processed": RawEventStatus.PROCESSED,
                "marks": orjson.dumps(
                    [
                        {"raw": m.raw.pk, "incident": m.incident_id, "result": m.result}
                        for m in marks
                    ]
                ).decode(),
            },
        )


_async_commit_session = False


def _commit_without_waiting_for_disk() -> None:
    """Processing results need not survive a database crash: the raw event does (it was
    committed synchronously before the 202), and a crash that loses this commit leaves it
    pending, so it is processed again. Not waiting for the WAL flush saves a disk round trip
    per event."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")


@transaction.atomic
def _fail(raw_event_id: int, message: str) -> None:
    raw = RawEvent.objects.select_for_update().filter(pk=raw_event_id).first()
    if raw is None or raw.status != RawEventStatus.PENDING:
        return
    now = timezone.now()
    RawEvent.objects.filter(pk=raw.pk).update(
        status=RawEventStatus.FAILED,
        attempts=raw.attempts + 1,
        processed_at=now,
        error=message[:MAX_ERROR],
    )
    reference_fail(reference_id=raw.reference_id, reason=message[:MAX_ERROR])


def raw_events_claim(*, now: datetime | None = None, limit: int = BATCH) -> list[int]:
    """Claim up to `limit` pending events, oldest first, that nobody claimed recently."""
    now = now or timezone.now()
    table = RawEvent._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET claimed_at = %s WHERE id IN ("  # noqa: S608
            f"  SELECT id FROM {table} WHERE status = %s"
            "   AND (claimed_at IS NULL OR claimed_at < %s)"
            "   ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED"
            ") RETURNING id",
            [now, RawEventStatus.PENDING, now - STALE_AFTER, limit],
        )
        return sorted(int(row[0]) for row in cursor.fetchall())


@dataclass
class Prepared:
    """A claimed event after the pipeline: what to ingest (or why it fails), and its order key."""

    raw: RawEvent
    order_key: int
    processed: ProcessedEvent | None = None
    error: str = ""


def _order_key(organization_id: int, *parts: object) -> int:
    """A signed 64-bit hash (a collision only makes two dedup ids wait for each other)."""
    text = repr((organization_id, *parts)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big", signed=True)


_PENDING_ROWS_SQL = (
    f"SELECT {', '.join(_RAW_COLUMNS)} FROM {RawEvent._meta.db_table}"  # noqa: S608
    " WHERE id = ANY(%s) AND status = 'pending' ORDER BY id"
)
_ORDER_KEYS_SQL = (
    f"UPDATE {RawEvent._meta.db_table} AS r SET order_key = k.key"  # noqa: S608
    " FROM unnest(%s::bigint[], %s::bigint[]) AS k(id, key) WHERE r.id = k.id"
)


def raw_events_prepare(ids: list[int], cache: PipelineCache | None = None) -> list[Prepared]:
    """Run the pipeline for claimed events (no writes but their order keys), in id order."""
    cache = cache or PipelineCache()
    with connection.cursor() as cursor:
        cursor.execute(_PENDING_ROWS_SQL, [ids])
        raws = [_raw_from_row(row) for row in cursor.fetchall()]
    prepared = []
    for raw in raws:
        try:
            processed = pipeline_evaluate(raw, cache)
        except DatabaseError:
            raise
        except Exception as error:  # noqa: BLE001 - failed in its turn, replayable from the UI
            logger.exception("raw event %s failed", raw.pk)
            # A key of its own: it holds up nobody while it waits to be marked failed.
            failed = Prepared(raw, _order_key(raw.organization_id, "raw", raw.pk))
            failed.error = f"{type(error).__name__}: {error}"
            prepared.append(failed)
            continue
        key = _order_key(raw.organization_id, processed.service.pk, processed.event.dedup_id)
        prepared.append(Prepared(raw, key, processed))
    if prepared:
        with connection.cursor() as cursor:
            cursor.execute(
                _ORDER_KEYS_SQL,
                [[p.raw.pk for p in prepared], [p.order_key for p in prepared]],
            )
    return prepared


def raw_event_ingest(prepared: Prepared) -> bool | None:
    """Ingest a prepared event: True when processed, False when there was nothing to do (or
    it failed), None when it must wait for an earlier event of its order key."""
    if _waits(prepared, _blockers([prepared]), set()):
        return None
    return _ingest_prepared(prepared)


def _ingest_prepared(prepared: Prepared) -> bool:
    """Ingest a prepared event that waits for nothing (see `raw_event_ingest`)."""
    raw = prepared.raw
    if prepared.processed is None:
        _fail(raw.pk, prepared.error)
        return False
    try:
        with transaction.atomic():
            if not _async_commit_session:
                _commit_without_waiting_for_disk()
            if raw.pk not in _lock_pending_ids([raw.pk]):
                return False
            _ingest_and_mark(raw, prepared.processed)
            return True
    except Exception as error:  # noqa: BLE001 - kept on the event, replayable from the UI
        if _retried(error):
            raise
        logger.exception("raw event %s failed", raw.pk)
        _fail(raw.pk, f"{type(error).__name__}: {error}")
        return False


def _retried(error: Exception) -> bool:
    """A database error other than a data error: retried, never the event's fault."""
    return isinstance(error, DatabaseError) and not isinstance(error, DataError)


class _OneFailed(Exception):
    """An event of a batch failed (not a database error): its transaction is rolled back."""


def _ingest_ready(ready: list[Prepared]) -> int:
    """Ingest prepared events that wait for nothing, in id order, in one transaction (the
    per-event statements stay, but not the per-event BEGIN, COMMIT, lock and "processed" mark,
    and new incidents are numbered together at the end). If one of them fails, the transaction
    is rolled back and each is ingested alone, so that only that one is marked failed."""
    good = []
    for item in ready:
        if item.processed is None:
            _fail(item.raw.pk, item.error)
        else:
            good.append(item)
    if len(good) > 1:
        try:
            done: int = run_retrying_conflicts(_ingest_together, good)
            return done
        except (_OneFailed, DataError):
            pass  # one at a time: the one that fails is marked failed, alone
    return sum(run_retrying_conflicts(_ingest_prepared, prepared=item) for item in good)


def _ingest_together(items: list[Prepared]) -> int:
    with transaction.atomic():
        if not _async_commit_session:
            _commit_without_waiting_for_disk()
        locked = _lock_pending_ids([item.raw.pk for item in items])
        numbering: list[Incident] = []
        marks: list[_Mark] = []
        with hooks.batch():  # log lines and the analytics upkeep, once per batch
            incidents_open_together(
                [
                    (item.processed.service, item.processed.event)
                    for item in items
                    if item.processed is not None and item.raw.pk in locked
                ]
            )
            for item in items:
                if item.raw.pk not in locked:
                    continue  # processed meanwhile (a duplicated task, a replay)
                assert item.processed is not None  # `_ingest_ready` passes only those
                try:
                    marks.append(_ingest(item.raw, item.processed, numbering))
                except DatabaseError:
                    raise
                except Exception as error:
                    raise _OneFailed from error
        incidents_number_assign(numbering)
        if marks:
            _mark_processed(marks)
        return len(marks)


# The (organization, order key) of the pending events outside a batch that could hold up one
# of its events (an unkeyed one holds up its organization), with the smallest id of each, in
# one query per pass. A batch is not a contiguous range of ids: two claims running at once
# interleave their row locks (SKIP LOCKED), so one drain can hold events 1-22 and 73-100
# while another holds 23-72; an event waits for every pending event before it of its key,
# including those in the middle of its own batch's range (CI found a resolve ingested before
# the firing it follows that way, and the firing opened a second incident). Uses the partial
# index `rawevent_pending` (id): the pending events before the batch's last are a few batches.
_BLOCKERS_SQL = (
    f"SELECT organization_id, order_key, min(id) FROM {RawEvent._meta.db_table}"  # noqa: S608
    " WHERE status = 'pending' AND id < %s AND NOT (id = ANY(%s))"
    " AND organization_id = ANY(%s) AND (order_key IS NULL OR order_key = ANY(%s))"
    " GROUP BY organization_id, order_key"
)

Blockers = dict[tuple[int, int | None], int]


def _blockers(batch: list[Prepared]) -> Blockers:
    """(organization, order key) -> the smallest id of a pending event outside `batch` with
    them, before its last event."""
    ids = [p.raw.pk for p in batch]
    with connection.cursor() as cursor:
        cursor.execute(
            _BLOCKERS_SQL,
            [
                max(ids),
                ids,
                list({p.raw.organization_id for p in batch}),
                list({p.order_key for p in batch}),
            ],
        )
        return {(int(org), key): int(first) for org, key, first in cursor.fetchall()}


_RELEASE_SQL = (
    f"UPDATE {RawEvent._meta.db_table} SET claimed_at = NULL"  # noqa: S608
    " WHERE id = ANY(%s) AND status = 'pending'"
)
_REFRESH_SQL = (
    f"UPDATE {RawEvent._meta.db_table} SET claimed_at = %s"  # noqa: S608
    " WHERE id = ANY(%s) AND status = 'pending'"
)


def _waits(item: Prepared, blockers: Blockers, held: set[tuple[int, int | None]]) -> bool:
    """A pending event outside the batch, before `item`, of its key or not keyed yet
    (`blockers`), or an earlier event of the batch with its key that waits (`held`)."""
    org, key, pk = item.raw.organization_id, item.order_key, item.raw.pk
    return (
        blockers.get((org, None), pk) < pk
        or blockers.get((org, key), pk) < pk
        or (org, key) in held
    )


def _claims_refresh(ids: list[int]) -> None:
    """Keep this drain's claim on events it still holds fresh (a live drain never looks dead)."""
    with connection.cursor() as cursor:
        cursor.execute(_REFRESH_SQL, [timezone.now(), ids])


def _claims_release(ids: list[int]) -> None:
    """Give events that still wait back to the next claim."""
    with connection.cursor() as cursor:
        cursor.execute(_RELEASE_SQL, [ids])


def _ingest_batch(prepared: list[Prepared], patience: float) -> tuple[int, bool]:
    """Ingest a prepared batch in id order; events that must wait are tried again until
    `patience` runs out, then released. (How many were processed, whether some were released.)

    One query per pass finds what the pending events outside the batch hold up (`_blockers`);
    within the batch, an event that waits holds up the later ones of its key.
    """
    processed = 0
    give_up = time.monotonic() + patience
    refreshed = time.monotonic()
    waiting = prepared
    poll = WAIT_POLL_SECONDS
    while waiting:
        blockers = _blockers(waiting)
        held: set[tuple[int, int | None]] = set()
        still: list[Prepared] = []
        if time.monotonic() - refreshed > REFRESH_SECONDS:
            _claims_refresh([p.raw.pk for p in waiting])
            refreshed = time.monotonic()
        ready: list[Prepared] = []
        for item in waiting:
            if _waits(item, blockers, held):
                held.add((item.raw.organization_id, item.order_key))
                still.append(item)
            else:
                ready.append(item)
        processed += _ingest_ready(ready)
        if still and time.monotonic() >= give_up:
            _claims_release([p.raw.pk for p in still])
            return processed, True
        if still:
            # Back to the shortest wait as soon as something went through.
            poll = WAIT_POLL_SECONDS if ready else min(poll * 2, WAIT_POLL_MAX_SECONDS)
            time.sleep(poll)
        waiting = still
    return processed, False


def raw_events_drain(
    *,
    seconds: float = DRAIN_SECONDS,
    linger: float = LINGER_SECONDS,
    patience: float = PATIENCE_SECONDS,
) -> int:
    """Process pending events batch by batch until none is left or `seconds` have passed."""
    drain_flag_clear()
    if settings.OPSDUTY_DB_PGBOUNCER:
        # A session setting would stay on a pooled server connection that other clients get
        # next (a webhook's durable INSERT among them): each transaction sets it LOCAL.
        return _drain(PipelineCache(), seconds, linger, patience)
    global _async_commit_session  # noqa: PLW0603 - the drain's session setting, see below
    cache = PipelineCache()  # configuration read once per drain
    # For the whole drain rather than per event (one round trip less per event); reset
    # before the connection serves other tasks.
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
    _async_commit_session = True
    try:
        return _drain(cache, seconds, linger, patience)
    finally:
        _async_commit_session = False
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")


def _drain(cache: PipelineCache, seconds: float, linger: float, patience: float) -> int:
    deadline = time.monotonic() + seconds
    processed = 0
    idle_since: float | None = None
    while time.monotonic() < deadline:
        ids = raw_events_claim()
        if not ids:
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= linger:
                return processed
            time.sleep(POLL_SECONDS)
            continue
        idle_since = None
        if len(ids) == BATCH:
            drain_kick(force=True)  # more waiting: let another worker process help
        done, released = _ingest_batch(raw_events_prepare(ids, cache), patience)
        processed += done
        if released:
            # Held up by another drain's events: that drain, when it is done, or the
            # sweeper, if it died, takes these; claiming them again here would only spin.
            return processed
    drain_kick(force=True)  # out of time: continue in a fresh task
    return processed


def raw_events_stale(*, now: datetime | None = None) -> bool:
    """True when a pending event has waited past STALE_AFTER without a live claim."""
    now = now or timezone.now()
    cutoff = now - STALE_AFTER
    return (
        RawEvent.objects.filter(status=RawEventStatus.PENDING, received_at__lt=cutoff)
        .exclude(claimed_at__gte=cutoff)
        .exists()
    )


# Run for every event, change or step; safe as generic plans (opsduty/rawsql.py).
rawsql.prepared(
    _LOCK_PENDING_SQL,
    _LOCK_PENDING_IDS_SQL,
    _MARK_PROCESSED_SQL,
    _PENDING_ROWS_SQL,
    _ORDER_KEYS_SQL,
    _BLOCKERS_SQL,
    _RELEASE_SQL,
    _REFRESH_SQL,
)
