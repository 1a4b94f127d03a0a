"""Processing of stored raw events: exactly once per event, failures kept and replayable.

Each event goes through the pipeline (`processing.pipeline.steps.pipeline_evaluate`: render,
route, orchestrate) and into ingest (`incidents.ingest.services`), in one transaction with
its "processed" mark. Raw events are processed by drain tasks rather than one Celery task
each: queuing a task costs the receiver more than storing the event. After its commit the
receiver queues `signals.raw_events_drain` at most once at a time (a Redis flag, see
`signals/receiver/services.py`); a drain clears the flag, then claims a batch of one
channel's pending events (`raw_events_claim`: a dedup id's events in the order they were
accepted) and processes each in its own transaction, in order. A full batch queues one more
drain, so busy periods spread over every worker process (one channel at a time each). The
sweeper queues a drain when an event has waited past `STALE_AFTER` (a lost task, a dead
worker whose claim went stale).
"""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import datetime, timedelta
from typing import Any

import orjson
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from incidents.ingest.services import event_directives_apply, ingest_event_in_transaction
from opsduty.retry import run_retrying_conflicts
from processing.pipeline.steps import PipelineCache, pipeline_evaluate
from signals.models import RawEvent, RawEventStatus
from signals.receiver.services import (
    REFERENCE_COMPLETE_SQL,
    drain_flag_clear,
    drain_kick,
    reference_complete_params,
    reference_fail,
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
            processed = pipeline_evaluate(raw, cache)
            event = processed.event
            incident = ingest_event_in_transaction(service=processed.service, event=event)
            actions = event_directives_apply(incident=incident, directives=event.directives)
            _mark_processed(raw, incident.pk, {**event.processing, "actions": actions})
            return True
    except DatabaseError:
        raise
    except Exception as error:  # noqa: BLE001 - kept on the event, replayable from the UI
        logger.exception("raw event %s failed", raw_event_id)
        _fail(raw_event_id, f"{type(error).__name__}: {error}")
        return False


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


def _lock_pending(raw_event_id: int) -> RawEvent | None:
    """The raw event if still pending, locked (plain SQL, once per event)."""
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_PENDING_SQL, [raw_event_id])
        row = cursor.fetchone()
    if row is None:
        return None
    # Model.from_db() skips the field converters: decode the JSON body ourselves.
    values = list(row)
    body = _RAW_COLUMNS.index("body")
    if isinstance(values[body], str | bytes):
        values[body] = orjson.loads(values[body])
    return RawEvent.from_db("default", _RAW_COLUMNS, values)


_MARK_PROCESSED_SQL = f"""
WITH reference AS ({REFERENCE_COMPLETE_SQL})
UPDATE {RawEvent._meta.db_table} SET status = %(processed)s, attempts = attempts + 1,
    processed_at = %(now)s, incident_id = %(incident)s, result = %(result)s::jsonb, error = ''
WHERE id = %(raw)s
"""  # noqa: S608


def _mark_processed(raw: RawEvent, incident_id: int, result: dict[str, Any]) -> None:
    """Mark the raw event processed and complete its reference, in one statement."""
    with connection.cursor() as cursor:
        cursor.execute(
            _MARK_PROCESSED_SQL,
            {
                **reference_complete_params(reference_id=raw.reference_id, incident_id=incident_id),
                "processed": RawEventStatus.PROCESSED,
                "result": orjson.dumps(result).decode(),
                "raw": raw.pk,
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


# --- claiming: one drain per channel at a time, its events in the order they were stored ---
#
# A channel is one webhook (or one routing key) of one organization. A dedup id's events all
# come through one channel, and must be processed in the order they were accepted: an
# acknowledge processed after the resolve that followed it opened a second incident (the
# chaos rig, docs/reliability.md). The dedup id is known only after the pipeline rendered the
# event, so the unit of ordering is the channel: a drain claims a batch of one channel's oldest
# pending events, and no other drain claims that channel while any of them is pending and its
# claim is fresh. Channels are processed in parallel; one channel by one drain at a time.
# The claim transaction holds the channel's advisory lock (transaction-level: nothing outlives
# the transaction, so PgBouncer in transaction mode is fine), so two drains never both find a
# channel free.

_CHANNEL = "organization_id = %s AND webhook_id IS NOT DISTINCT FROM %s AND routing_key = %s"
_TABLE = RawEvent._meta.db_table
# The oldest pending events first (the partial index `rawevent_pending`): most claims find a
# free channel among them.
_WINDOW_SQL = (
    f"SELECT organization_id, webhook_id, routing_key FROM {_TABLE}"  # noqa: S608
    " WHERE status = 'pending' ORDER BY id LIMIT %s"
)
# When they all belong to busy channels (one channel's backlog), every channel with pending
# events, oldest first: a flood on one channel does not hold up the others.
_CHANNELS_SQL = (
    f"SELECT organization_id, webhook_id, routing_key FROM {_TABLE}"  # noqa: S608
    " WHERE status = 'pending' GROUP BY 1, 2, 3 ORDER BY min(id) LIMIT %s"
)
_HEAD_SQL = (
    f"SELECT claimed_at FROM {_TABLE} WHERE status = 'pending' AND {_CHANNEL}"  # noqa: S608
    " ORDER BY id LIMIT 1"
)
# Plain FOR UPDATE, not SKIP LOCKED: holding the channel, nobody else claims these rows; a
# row lock can only be a moment's (a dead drain's last statement, a replay).
_CLAIM_SQL = (
    f"UPDATE {_TABLE} SET claimed_at = %s WHERE id IN ("  # noqa: S608
    f"  SELECT id FROM {_TABLE} WHERE status = 'pending' AND {_CHANNEL}"
    "   ORDER BY id LIMIT %s FOR UPDATE"
    ") RETURNING id"
)
_REFRESH_SQL = f"UPDATE {_TABLE} SET claimed_at = %s WHERE id = ANY(%s) AND status = 'pending'"  # noqa: S608
WINDOW = 200
Channel = tuple[int, int | None, str]


def _channel_lock_key(channel: Channel) -> int:
    """A signed 64-bit advisory lock key for the channel (a collision only serializes two
    channels)."""
    digest = hashlib.blake2b(repr(("raw-channel", *channel)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _candidates(cursor: Any, sql: str, limit: int) -> list[Channel]:
    cursor.execute(sql, [limit])
    return list(dict.fromkeys((int(o), w, str(r)) for o, w, r in cursor.fetchall()))


def _claim_channel(cursor: Any, channel: Channel, now: datetime, limit: int) -> list[int] | None:
    """Claim the channel's oldest pending events; None when another drain holds it."""
    cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_channel_lock_key(channel)])
    if not cursor.fetchone()[0]:
        return None
    cursor.execute(_HEAD_SQL, list(channel))
    head = cursor.fetchone()
    if head is None:
        return []  # processed meanwhile
    if head[0] is not None and head[0] >= now - STALE_AFTER:
        return None  # a live drain is processing this channel's batch
    cursor.execute(_CLAIM_SQL, [now, *channel, limit])
    return sorted(int(row[0]) for row in cursor.fetchall())


def raw_events_claim(*, now: datetime | None = None, limit: int = BATCH) -> list[int]:
    """Claim up to `limit` pending events of one channel that no live drain holds, oldest first.

    A claim older than STALE_AFTER belongs to a drain that died: it is taken over, from the
    channel's oldest pending event on.
    """
    now = now or timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        tried: set[Channel] = set()
        for sql, count in ((_WINDOW_SQL, WINDOW), (_CHANNELS_SQL, WINDOW)):
            for channel in _candidates(cursor, sql, count):
                if channel in tried:
                    continue
                tried.add(channel)
                ids = _claim_channel(cursor, channel, now, limit)
                if ids:
                    return ids
        return []


def _claims_refresh(ids: list[int]) -> None:
    """Keep this drain's claim on its batch's remaining events fresh."""
    with connection.cursor() as cursor:
        cursor.execute(_REFRESH_SQL, [timezone.now(), ids])


def raw_events_drain(*, seconds: float = DRAIN_SECONDS, linger: float = LINGER_SECONDS) -> int:
    """Process pending events batch by batch until none is left or `seconds` have passed."""
    drain_flag_clear()
    global _async_commit_session  # noqa: PLW0603 - the drain's session setting, see below
    cache = PipelineCache()  # configuration read once per drain
    # For the whole drain rather than per event (one round trip less per event); reset
    # before the connection serves other tasks.
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
    _async_commit_session = True
    try:
        return _drain(cache, seconds, linger)
    finally:
        _async_commit_session = False
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")


def _drain(cache: PipelineCache, seconds: float, linger: float) -> int:
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
        claimed = time.monotonic()
        for n, raw_id in enumerate(ids):
            if time.monotonic() - claimed > REFRESH_SECONDS:
                _claims_refresh(ids[n:])
                claimed = time.monotonic()
            processed += run_retrying_conflicts(raw_event_process, raw_event_id=raw_id, cache=cache)
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
