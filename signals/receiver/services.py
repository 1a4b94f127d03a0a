"""Writes of the receiver beyond the hot insert (`ingest.py`): queuing a drain after an
accepted event, completing or failing the reference its sender got, replaying a failed event.

A drain is queued by name (`signals.raw_events_drain`, run by `incidents/ingest/`): signals
sits first in the flow and imports no later app. After its commit the receiver sets a Redis
flag with `SET NX` and queues a drain only when the flag was absent, at most every
`KICK_EVERY` seconds per process; the drain clears the flag when it starts.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from opsduty.models import User
from opsduty.queue import enqueue
from signals.receiver.models import IncidentReference, RawEvent, RawEventStatus, ReferenceStatus

logger = logging.getLogger(__name__)

DRAIN_TASK = "signals.raw_events_drain"
# A web process queues at most one drain per KICK_EVERY seconds; a drain that runs dry
# keeps polling a little longer (incidents/ingest/drain.py LINGER_SECONDS), so an event
# stored after a skipped kick is still picked up by the drain that the last kick started.
KICK_EVERY = 0.05
DRAIN_FLAG = "opsduty:signals:drain-queued"
DRAIN_FLAG_MS = 2000

_redis: redis.Redis | None = None


def redis_client() -> redis.Redis:
    """This process's Redis client (rate limits, the drain flag)."""
    global _redis  # noqa: PLW0603 - one client (and connection pool) per process
    if _redis is None:
        _redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1.0)
    return _redis


_last_kick = 0.0


def kick_due() -> bool:
    """True (and remembered) when this process has not queued a drain for KICK_EVERY."""
    global _last_kick  # noqa: PLW0603 - per process, see KICK_EVERY
    now = time.monotonic()
    if now - _last_kick < KICK_EVERY:
        return False
    _last_kick = now
    return True


def drain_queue() -> None:
    """Queue a drain task (the caller checked the DRAIN_FLAG)."""
    enqueue(DRAIN_TASK)


def drain_kick(*, force: bool = False) -> bool:
    """Queue a drain task unless one is already queued; True when one was queued."""
    if not force and not kick_due():
        return False
    try:
        if not redis_client().set(DRAIN_FLAG, "1", nx=True, px=DRAIN_FLAG_MS):
            return False
        drain_queue()
    except Exception:  # noqa: BLE001 - the sweeper queues a drain for anything left waiting
        logger.warning("drain not queued; the sweeper will pick the events up")
        return False
    return True


def drain_flag_clear() -> None:
    """A drain starts: the next accepted event may queue another one."""
    try:
        redis_client().delete(DRAIN_FLAG)
    except redis.RedisError:
        logger.warning("drain flag not cleared: Redis unavailable")


# Completing references: the one definition, used alone (`reference_complete`) and inside
# the drain's single "processed" statement for a batch (`incidents/ingest/drain.py`).
REFERENCES_COMPLETE_SQL = (
    f"UPDATE {IncidentReference._meta.db_table} AS r SET status = %(completed)s,"  # noqa: S608
    " incident_id = n.incident, updated_at = %(now)s"
    " FROM unnest(%(references)s::bigint[], %(incidents)s::bigint[]) AS n(reference, incident)"
    " WHERE r.id = n.reference"
)


def references_complete_params(pairs: list[tuple[int | None, int]]) -> dict[str, Any]:
    """The parameters of `REFERENCES_COMPLETE_SQL` for (reference id, incident id) pairs."""
    return {
        "completed": ReferenceStatus.COMPLETED,
        "references": [reference for reference, _ in pairs],
        "incidents": [incident for _, incident in pairs],
        "now": timezone.now(),
    }


def reference_complete(*, reference_id: int, incident_id: int) -> None:
    """The sender's reference now names its incident; the caller holds the transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            REFERENCES_COMPLETE_SQL, references_complete_params([(reference_id, incident_id)])
        )


def reference_fail(*, reference_id: int, reason: str) -> None:
    """The event behind the reference could not be processed; `reason` says why."""
    IncidentReference.objects.filter(pk=reference_id).update(
        status=ReferenceStatus.FAILED, reason=reason, updated_at=timezone.now()
    )


@transaction.atomic
def raw_event_replay(*, raw_event: RawEvent, by: User) -> RawEvent:
    """Send a failed event through the pipeline again (its error is cleared)."""
    raw = RawEvent.objects.select_for_update().get(pk=raw_event.pk)
    if raw.status != RawEventStatus.FAILED:
        raise ValidationError("Only a failed event can be replayed.")
    raw.status = RawEventStatus.PENDING
    raw.error = ""
    raw.claimed_at = None
    raw.save(update_fields=["status", "error", "claimed_at"])
    IncidentReference.objects.filter(pk=raw.reference_id).update(
        status=ReferenceStatus.PENDING, reason="", updated_at=timezone.now()
    )
    logger.info("raw event %s replayed by user %s", raw.pk, by.pk)
    transaction.on_commit(lambda: drain_kick(force=True))
    return raw
