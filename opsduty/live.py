"""Live-update notices: after a change commits, one small message on the organization's Redis
channel tells every web process's live stream (`incidents/live/`) what to refresh.

A notice carries ids only (incident and service ids, "on call changed", "access changed"),
never summaries: the browser fetches what it shows through the ordinary Django views, which
check permissions as always. The notices of one transaction are gathered in one callback
registered with `transaction.on_commit`, so a transaction publishes at most one message per
organization, and a rolled-back transaction publishes nothing. A change undone by a rolled-back
savepoint inside a committed transaction may still be announced: a needless refresh, never a
missed one.

Publishing is best effort: when Redis is unreachable the change stands, a warning is logged,
and open pages catch up at their next notice or reconnection.
"""

from __future__ import annotations

import logging
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

    def __call__(self) -> None:
        try:
            _redis().publish(channel(self.organization_id), self.message())
        except redis.RedisError as error:
            logger.warning("live notice not published (%s); pages catch up later", error)


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
    streams check their viewer again;
    `every_incident`: too many incidents to name changed (the archive): refresh every list.
    Outside a transaction the notice is published at once.
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
