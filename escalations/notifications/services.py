"""The notification outbox (invariant 5, docs/architecture.md): rows written with the decision
to notify, delivered by a retried task, every attempt logged on the incident.

Delivery is claim -> send -> record, so that no crash PostgreSQL survives sends a row twice:

1. Claim (T1, committed before the send): the incident `FOR KEY SHARE` (the locking order,
   docs/architecture.md), the row `FOR UPDATE SKIP LOCKED` where it is pending, due and not
   under a live lease; `attempts` + 1 and `lease_until` = now + LEASE. The row stays
   `pending` (no new status: the UI, API and analytics see what they saw).
2. Send, with no transaction open and no lock held: a slow provider holds up nobody, and a
   database that goes away now loses nothing.
3. Record (T2): the incident `FOR KEY SHARE`, then the outcome written only while the row is
   still this attempt's (same `attempts`, lease still on it), the lease cleared. If T2 fails
   because the connection broke (PostgreSQL restarted), this process knows the outcome: it
   records it again on a new connection, for up to RECORD_PATIENCE. Lock races are retried
   around T1 and around T2, never around the send.

A duplicated task, the ETA task racing the sweeper, or a second sender during the send finds
the row held or leased: a no-op. If the process dies between the claim and the record (a
SIGKILL, or RECORD_PATIENCE ran out), the lease expires and the row is claimed and sent
again, once PostgreSQL has been up for RECOVERY_GRACE (so a live sender waiting out a restart
records first); the timeline says the earlier attempt's outcome is unknown. That window is
still at-least-once, because a duplicate page is better than a missed one; email carries
the same Message-ID on every attempt so that a receiver that dedupes shows it once.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from django.core.cache import cache
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import BooleanField, Model, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential,
)

from escalations.models import CalendarFeed
from escalations.notifications.models import (
    Channel,
    Notification,
    NotificationRule,
    NotificationStatus,
)
from escalations.notifications.providers import (
    ChannelNotConfigured,
    DeliveryError,
    Receipt,
    Throttled,
    provider_for,
)
from escalations.notifications.rules import notification_rule_list
from incidents import hooks
from incidents.log import incident_log_write
from incidents.models import (
    Incident,
    IncidentResponder,
    LogAction,
    ResponderStatus,
    Status,
)
from opsduty import rawsql
from opsduty.models import Service, User
from opsduty.queue import enqueue
from opsduty.retry import run_retrying_conflicts

if TYPE_CHECKING:
    from incidents.hooks import StatusChange

logger = logging.getLogger(__name__)
R = TypeVar("R")

MAX_ATTEMPTS = 5
BACKOFF_BASE = timedelta(seconds=30)
# The sweeper leaves rows alone for this long past due: their ETA task is about to run.
SWEEP_GRACE = timedelta(seconds=10)
# ...and queues a row again only this long after it last queued it. Behind a backlog a row's
# own task is merely waiting; queuing every such row every 5 s flooded the `notify` queue
# with duplicates (no-ops, but each costs a task) and slowed the backlog down further.
SWEEP_REQUEUE_SECONDS = 60
MAX_ERROR = 2000
# Acknowledged or resolved: somebody is on it or it is over, stop paging.
_CANCEL_ON = (Status.ACKNOWLEDGED, Status.RESOLVED)


def _log(incident: Incident, message: str, **data: Any) -> None:
    incident_log_write(incident=incident, action=LogAction.NOTIFICATION, message=message, data=data)


@transaction.atomic(savepoint=False)  # no error is caught inside: no savepoint needed
def notify_user(
    *,
    incident: Incident,
    user: User,
    reason: str,
    key_prefix: str,
    channel: str = "",
    later: bool = False,
) -> list[Notification]:
    """Write one outbox row per rule of the user's policy for the incident's urgency.

    With `channel` (an escalation step's override) one row on that channel, at once, instead.

    Runs in the caller's transaction; idempotent per `key_prefix` (a second call with the same
    prefix writes nothing and returns []). Stakeholders and inactive users are skipped.
    Delivery is scheduled after commit, at each row's due time.

    `later` (an escalation step): inside a batch of events ingested together
    (`incidents.hooks.batch`), the rows and the responder are written with the batch's others
    in one statement each, before the batch's other work, and [] is returned.
    """
    if user.organization_id != incident.organization_id:
        raise ValueError("the user and the incident belong to different organizations")
    if user.is_stakeholder or not user.is_active:
        who = "Stakeholders are" if user.is_stakeholder else "Deactivated users are"
        _log(incident, f"{user.get_full_name()} not notified: {who} not notified", user=user.pk)
        return []
    now = timezone.now()  # one "now": rules with the same delay share a due time (one task)
    rules = [] if channel else _rules_of(user, incident.urgency)
    if not rules and not channel:
        _log(incident, f"{user.get_full_name()} has no {incident.urgency} urgency rules")
        return []
    rows = (
        [_row(incident, user, None, reason, f"{key_prefix}:{channel}", now, channel)]
        if channel
        else [_row(incident, user, rule, reason, f"{key_prefix}:{rule.pk}", now) for rule in rules]
    )
    batch = hooks.batch_scratch(NOTIFICATION_ROWS, _rows_write, rows=True) if later else None
    if batch is not None:
        batch[len(batch)] = rows
        return []
    hooks.batch_flush(CANCELS)  # a cancel gathered earlier in a batch is not for these rows
    return _rows_insert(rows)


def _deliveries(rows: list[tuple[int, datetime]]) -> None:
    """Schedule new rows (id, due time) after commit: one task per due time (email and SMS
    "immediately" share one), not one per row; in a batch of events ingested together, one
    for all its rows (`_schedule_batch`)."""
    by_due: dict[datetime, list[int]] = {}
    for pk, due in sorted(rows, key=lambda row: (row[1], row[0])):
        by_due.setdefault(due, []).append(pk)
    batch = hooks.batch_scratch("deliveries", _schedule_batch)
    for due, due_ids in by_due.items():
        if batch is not None:
            batch.setdefault(due, []).extend(due_ids)
        else:
            transaction.on_commit(partial(_schedule, due_ids, due))


# A batch's notification rows (`notify_user(later=True)`); `notifications_cancel_for` writes
# them before it cancels.
NOTIFICATION_ROWS = "notification rows"
_ROW_COLUMNS = (
    "organization_id, incident_id, user_id, channel, rule_id, reason, due_at,"
    " idempotency_key, created_at"
)
_ROWS_INSERT_SQL = (
    f"INSERT INTO {Notification._meta.db_table} ({_ROW_COLUMNS}, status, attempts, last_error)"  # noqa: S608
    " SELECT o, i, u, c, r, w, d, k, t, 'pending', 0, ''"
    " FROM ROWS FROM (json_to_recordset(%s::json) AS (o bigint, i bigint, u bigint, c text,"
    " r bigint, w text, d timestamptz, k text, t timestamptz)) WITH ORDINALITY"
    " AS n(o, i, u, c, r, w, d, k, t, n) ORDER BY n"
    " ON CONFLICT (idempotency_key) DO NOTHING"
    f" RETURNING {', '.join(rawsql.columns(Notification))}"
)
_RESPONDERS_SQL = (
    f"INSERT INTO {IncidentResponder._meta.db_table}"  # noqa: S608 - our table name
    " (organization_id, incident_id, user_id, status, last_notified, status_updated_at)"
    " SELECT o, i, u, %s, %s::timestamptz, %s::timestamptz"
    " FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS r(o, i, u) ORDER BY i, u"
    " ON CONFLICT (incident_id, user_id) DO UPDATE SET last_notified = EXCLUDED.last_notified"
)


def _row(
    incident: Incident,
    user: User,
    rule: NotificationRule | None,
    reason: str,
    key: str,
    now: datetime,
    channel: str = "",
) -> tuple[Any, ...]:
    """An outbox row's values (`_ROWS_INSERT_SQL`). Without a rule (a step's channel override) the
    row goes out at once on `channel`."""
    due = now + timedelta(minutes=rule.delay_minutes if rule is not None else 0)
    return (
        incident.organization_id,
        incident.pk,
        user.pk,
        rule.channel if rule is not None else channel,
        rule.pk if rule is not None else None,
        reason,
        due,
        key,
        now,
    )


def _rows_write(batch: dict[int, list[tuple[Any, ...]]]) -> None:
    """A batch's outbox rows (`notify_user(later=True)`), in the order they came."""
    _rows_insert([row for n in sorted(batch) for row in batch[n]])


def _rows_insert(rows: list[tuple[Any, ...]]) -> list[Notification]:
    """Outbox rows (`_row`) in one statement (a key that exists writes nothing), their users
    marked paged in one more (an active responder stays active: only `last_notified` moves),
    and their deliveries scheduled; the new rows, by due time."""
    keys = ("o", "i", "u", "c", "r", "w", "d", "k", "t")
    documents = [dict(zip(keys, row, strict=True)) for row in rows]
    created = sorted(
        rawsql.fetch_all(Notification, _ROWS_INSERT_SQL, [orjson.dumps(documents).decode()]),
        key=lambda row: (row.due_at, row.pk),
    )
    if not created:
        return []
    responders = sorted({(row.organization_id, row.incident_id, row.user_id) for row in created})
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _RESPONDERS_SQL,
            [
                ResponderStatus.PENDING,
                now,
                now,
                [o for o, _, _ in responders],
                [i for _, i, _ in responders],
                [u for _, _, u in responders],
            ],
        )
    _deliveries([(row.pk, row.due_at) for row in created])
    return created


def _rules_of(user: User, urgency: str) -> list[NotificationRule]:
    """The user's rules, read once per batch of events ingested together."""
    return hooks.batch_memo(
        "notification rules",
        (user.pk, urgency),
        lambda: notification_rule_list(user=user, urgency=urgency),
    )


def _schedule_batch(by_due: dict[datetime, list[int]]) -> None:
    """A batch's rows: those due by now in one task, the others one per due time."""
    now = timezone.now()
    due_now = sorted(pk for due, ids in by_due.items() if due <= now for pk in ids)
    if due_now:
        transaction.on_commit(partial(_schedule, due_now, now))
    for due, ids in by_due.items():
        if due > now:
            transaction.on_commit(partial(_schedule, ids, due))


# Set while a task of the escalator (the process that delivers) runs: rows it writes that
# are due at once are delivered right after its commit, in the same process, instead of
# through another task (a Celery task costs the escalator about 3.5 ms of CPU besides its
# work; a delivery about 2 ms). Everywhere else (event processing, web requests) delivery
# is queued: a slow SMTP server must never hold up events or pages.
_deliver_inline: ContextVar[bool] = ContextVar("deliver_inline", default=False)


@contextmanager
def delivering_inline() -> Iterator[None]:
    """Deliver the rows due now that are written inside this block after their commit."""
    token = _deliver_inline.set(True)
    try:
        yield
    finally:
        _deliver_inline.reset(token)


def _schedule(notification_ids: list[int], due: datetime) -> None:
    """Queue delivery at `due` (or deliver now, see `delivering_inline`); if the broker is
    down, or the process dies first, the sweeper sends them."""
    if _deliver_inline.get() and due <= timezone.now():
        try:
            notifications_deliver(notification_ids=notification_ids)
        except Exception:  # noqa: BLE001 - still pending: the sweeper sends them
            logger.exception("notifications %s not delivered; the sweeper will", notification_ids)
        return
    # No ETA for rows already due: a worker holds an ETA task in its timer first, which costs
    # it more than running a plain task.
    eta = due if due > timezone.now() else None
    try:
        if len(notification_ids) == 1:
            enqueue("notifications.deliver", (notification_ids[0],), eta=eta)
        else:
            enqueue("notifications.deliver_many", (notification_ids,), eta=eta)
    except Exception:  # noqa: BLE001 - the rows are committed; the sweeper picks them up
        logger.warning("notifications %s not queued; the sweeper will send them", notification_ids)


# The rows locked in id order (docs/architecture.md, "Locking order"), the incidents' locks
# being held already by the status changes that cancel them.
_CANCEL_SQL = (
    f"UPDATE {Notification._meta.db_table} SET status = %(cancelled)s"  # noqa: S608 - our table
    f" WHERE id IN (SELECT id FROM {Notification._meta.db_table}"
    " WHERE incident_id = ANY(%(incidents)s) AND status = %(pending)s ORDER BY id FOR UPDATE)"
    " RETURNING incident_id"
)
# A batch's cancels (`on_incident_status_changed` in `incidents.hooks.batch`), in one
# statement at its end: incident id -> (incident, the status that cancelled).
CANCELS = "notification cancels"


def notifications_cancel_for(incident: Incident) -> int:
    """Cancel the incident's pending notifications; logs and returns how many.

    Precondition: the caller holds the incident's row lock in its transaction (a status
    change); one statement, so it needs no savepoint of its own.
    """
    return _cancel({incident.pk: (incident, incident.status)}).get(incident.pk, 0)


def _cancel(incidents: dict[int, tuple[Incident, str]]) -> dict[int, int]:
    """Cancel these incidents' pending notifications, a line each on the ones that had some;
    how many, by incident id."""
    hooks.batch_flush(NOTIFICATION_ROWS)  # a batch's rows are written before they are cancelled
    with connection.cursor() as cursor:
        cursor.execute(
            _CANCEL_SQL,
            {
                "cancelled": NotificationStatus.CANCELLED,
                "incidents": list(incidents),
                "pending": NotificationStatus.PENDING,
            },
        )
        counts = Counter(int(row[0]) for row in cursor.fetchall())
    for incident_id, (incident, status) in incidents.items():
        if count := counts.get(incident_id, 0):
            plural = "notification" if count == 1 else "notifications"
            _log(incident, f"{count} pending {plural} cancelled (incident {status})")
    return dict(counts)


def _cancel_gathered(batch: dict[int, tuple[Incident, str]]) -> None:
    _cancel(batch)


def on_incident_status_changed(change: StatusChange) -> None:
    """The incidents hook: acknowledged or resolved stops pending notifications; in a batch of
    events, with the batch's other cancels at its end (`_cancel`)."""
    if change.new_status not in _CANCEL_ON:
        return
    batch = hooks.batch_scratch(CANCELS, _cancel_gathered)
    if batch is None:
        notifications_cancel_for(change.incident)
    elif change.incident.pk not in batch:
        batch[change.incident.pk] = (change.incident, change.new_status)


# --- delivery -----------------------------------------------------------------------------

# How long a claim holds a row: the provider's send must be over by then. Each provider's own
# timeout is below it: EMAIL_TIMEOUT 10 s (settings), Twilio's API_TIMEOUT 10 s
# (integrations/twilio/client.py), Slack's TIMEOUT_SECONDS 10 s (integrations/slack/client.py).
# Those are per socket operation (an SMTP exchange has several), so a server that answers
# each step just in time could outlast it: the row is then claimed and sent again (at least
# once), and the late record finds the row claimed by another attempt and only logs.
LEASE = timedelta(seconds=30)
# A row whose lease expired (its sender died between the claim and the record) is claimed
# again only once PostgreSQL has been up this long: a live sender that waited out a restart
# to record its outcome (RECORD_PATIENCE, retried at least every 2 s) records it first.
RECOVERY_GRACE = timedelta(seconds=5)
# How long a sender that knows its outcome keeps trying to record it while the database is
# unreachable (restarted, connection dropped), closing the broken connection each time.
RECORD_PATIENCE = timedelta(minutes=10)
RECORD_WAIT = wait_exponential(multiplier=0.2, min=0.2, max=2)
RECORD_WARN_EVERY = 60.0  # seconds between the warnings of a sender waiting to record


def _label(notification: Notification) -> str:
    return f"{Channel(notification.channel).label} to {notification.user.get_full_name()}"


_CLAIM_MODELS: list[tuple[type[Model], str]] = [
    (Notification, "n"),
    (Incident, "i"),
    (Service, "s"),
    (User, "u"),
]
# Pending, due and not held: no lease, or an expired one (the sender died mid-send) once the
# server has been up for RECOVERY_GRACE. `now` is the application's clock, as the lease's;
# the server's start time is compared with the server's own clock.
_CLAIMABLE = (
    " n.status = 'pending' AND n.due_at <= %(now)s AND (n.lease_until IS NULL"
    " OR (n.lease_until < %(now)s AND pg_postmaster_start_time() < now() - %(grace)s))"
)
# What `select_related("incident", "incident__service", "user")` would read, as plain SQL
# (opsduty.rawsql): building that ORM query cost about a third of a delivery's CPU. None of
# these models has a field that needs a converter from the database (no JSON).
_CLAIM_SELECT = (
    "SELECT "  # noqa: S608 - our tables
    + ", ".join(rawsql.select_list(model, alias) for model, alias in _CLAIM_MODELS)
    + f" FROM {Notification._meta.db_table} n"
    f" JOIN {Incident._meta.db_table} i ON i.id = n.incident_id"
    f" JOIN {Service._meta.db_table} s ON s.id = i.service_id"
    f" JOIN {User._meta.db_table} u ON u.id = n.user_id"
)
_CLAIM_SQL = (
    _CLAIM_SELECT + " WHERE n.id = %(id)s AND" + _CLAIMABLE + " FOR UPDATE OF n SKIP LOCKED"
)
_CLAIM_MANY_SQL = (
    _CLAIM_SELECT
    + " WHERE n.id = ANY(%(ids)s) AND"
    + _CLAIMABLE
    + " ORDER BY n.id FOR UPDATE OF n SKIP LOCKED"
)


# Before the row, its incident (docs/architecture.md, "Locking order"), while the row is
# claimable: `FOR KEY SHARE`, the lock the foreign-key check of a log line takes at COMMIT
# anyway, taken first instead of last, so a claim or a record never waits for an incident
# while it holds a notification row (a resolve holds the incident and waits for the rows it
# cancels). It conflicts with no responder's change (`FOR NO KEY UPDATE`).
_INCIDENT_OF_DUE_SQL = (
    f"SELECT i.id FROM {Incident._meta.db_table} i"  # noqa: S608 - our tables
    f" JOIN {Notification._meta.db_table} n ON n.incident_id = i.id"
    " WHERE n.id = %(id)s AND" + _CLAIMABLE + " FOR KEY SHARE OF i"
)
_INCIDENTS_OF_DUE_SQL = (
    f"SELECT i.id FROM {Incident._meta.db_table} i"  # noqa: S608 - our tables
    f" JOIN {Notification._meta.db_table} n ON n.incident_id = i.id"
    " WHERE n.id = ANY(%(ids)s) AND" + _CLAIMABLE + " ORDER BY i.id FOR KEY SHARE OF i"
)
_INCIDENT_SHARE_SQL = f"SELECT id FROM {Incident._meta.db_table} WHERE id = %s FOR KEY SHARE"  # noqa: S608
_INCIDENTS_SHARE_SQL = (
    f"SELECT id FROM {Incident._meta.db_table}"  # noqa: S608 - our table
    " WHERE id = ANY(%s) ORDER BY id FOR KEY SHARE"
)


def _claim_params(notification_id: int, now: datetime) -> dict[str, Any]:
    return {"id": notification_id, "now": now, "grace": RECOVERY_GRACE}


def _incident_of_due_locked(notification_id: int, now: datetime) -> bool:
    """Lock the incident of a claimable notification; False when the row is not claimable."""
    with connection.cursor() as cursor:
        cursor.execute(_INCIDENT_OF_DUE_SQL, _claim_params(notification_id, now))
        return cursor.fetchone() is not None


def _claim(notification_id: int, now: datetime) -> Notification | None:
    """The row if claimable and not locked by another worker (the caller holds a transaction),
    with its incident, the incident's service and its user."""
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, _claim_params(notification_id, now))
        row = cursor.fetchone()
    return None if row is None else _claimed(row)


def _claimed(row: Sequence[Any]) -> Notification:
    """A claimed row of `_CLAIM_SELECT`: the notification with its incident, service, user."""
    values: list[Sequence[Any]] = []
    start = 0
    for model, _ in _CLAIM_MODELS:
        end = start + len(model._meta.concrete_fields)
        values.append(row[start:end])
        start = end
    notification = rawsql.instance(Notification, values[0])
    incident = rawsql.instance(Incident, values[1])
    incident.service = rawsql.instance(Service, values[2])
    notification.incident = incident
    notification.user = rawsql.instance(User, values[3])
    return notification


@dataclass(frozen=True)
class _Claim:
    """A row claimed for one attempt (T1 committed), as the record (T2) needs it."""

    notification: Notification
    due_at: datetime  # the row's due time at the claim: each run of T2 starts from it
    # The row's previous lease had expired: that attempt's sender stopped mid-send, so its
    # outcome is unknown and the person may get this message twice.
    recovered: bool


_LEASE_SQL = (
    f"UPDATE {Notification._meta.db_table} SET attempts = %s, lease_until = %s"  # noqa: S608
    " WHERE id = %s"
)


@transaction.atomic
def _lease(notification_id: int) -> _Claim | None:
    """T1: claim a claimable row for one attempt (attempts + 1, a lease until now + LEASE; the
    row stays pending) and commit before the send; None when there is nothing to do.

    A stale row is cancelled instead (the claim comes back with that status); its lease, if
    any, is left for a late record of the sender that held it (`_record`).
    """
    now = timezone.now()
    if not _incident_of_due_locked(notification_id, now):
        return None
    notification = _claim(notification_id, now)
    if notification is None:
        return None
    claim = _Claim(notification, notification.due_at, notification.lease_until is not None)
    if _stale(notification):
        # Defensive: the hook cancels these, but a row written afterwards must not page.
        notification.status = NotificationStatus.CANCELLED
        notification.save(update_fields=["status"])
        return claim
    notification.attempts += 1
    notification.lease_until = now + LEASE
    with connection.cursor() as cursor:
        cursor.execute(
            _LEASE_SQL, [notification.attempts, notification.lease_until, notification.pk]
        )
    return claim


def _send(notification: Notification) -> Receipt | DeliveryError:
    """The provider's receipt, or its refusal. Called with no transaction open and no lock
    held: a slow provider holds up nobody, and a database that goes away now loses nothing."""
    try:
        return provider_for(notification.channel).send(notification)
    except DeliveryError as error:
        return error


def _backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min after attempts 1..4."""
    return BACKOFF_BASE * (1 << (attempts - 1))


_RESPONDER_NOTIFIED_SQL = (
    f"UPDATE {IncidentResponder._meta.db_table} SET last_notified = %s"  # noqa: S608
    " WHERE incident_id = %s AND user_id = %s"
)
# Only the attempt this process claimed, while its lease is on the row: not a row claimed
# again after the lease expired (attempts moved on), nor one this process recorded already
# (a COMMIT that went through although its answer was lost: lease cleared). A status callback
# may have come before the record: its state stays (states only move forward).
_OUTCOME_SQL = (
    f"UPDATE {Notification._meta.db_table} SET status = %s, attempts = %s, due_at = %s,"  # noqa: S608
    " last_error = %s, sent_at = %s, provider_id = %s,"
    " delivery_status = CASE WHEN delivery_status = '' THEN %s ELSE delivery_status END,"
    " lease_until = NULL"
    " WHERE id = %s AND attempts = %s AND status = %s AND lease_until IS NOT NULL"
)


def _outcome_save(notification: Notification, *, status_was: str) -> bool:
    """Write the attempt's outcome if the row is still this attempt's and `status_was`."""
    with connection.cursor() as cursor:
        cursor.execute(
            _OUTCOME_SQL,
            [
                notification.status,
                notification.attempts,
                notification.due_at,
                notification.last_error,
                notification.sent_at,
                notification.provider_id,
                notification.delivery_status,
                notification.pk,
                notification.attempts,
                status_was,
            ],
        )
        return bool(cursor.rowcount == 1)


def _sent_fields(notification: Notification, receipt: Receipt, now: datetime) -> None:
    notification.status = NotificationStatus.SENT
    notification.sent_at = now
    notification.last_error = ""
    notification.provider_id = receipt.provider_id[:64]
    notification.delivery_status = receipt.delivery_status[:16]


def _sent(notification: Notification, receipt: Receipt, now: datetime, note: str = "") -> None:
    """The responder's `last_notified` and the timeline's line of a sent notification."""
    with connection.cursor() as cursor:
        cursor.execute(
            _RESPONDER_NOTIFIED_SQL, [now, notification.incident_id, notification.user_id]
        )
    _sent_line(notification, receipt, note)


def _sent_line(notification: Notification, receipt: Receipt, note: str = "") -> None:
    """The timeline's line of a sent notification."""
    _log(
        notification.incident,
        f"{_label(notification)}: {receipt.answer}{note}"[:MAX_ERROR],
        notification=notification.pk,
        attempt=notification.attempts,
        provider_id=receipt.provider_id,
        # What the analytics' responder load counts (analytics/services.py).
        sent_to=notification.user_id,
        channel=notification.channel,
    )


def _failed_fields(notification: Notification, error: DeliveryError, now: datetime) -> str:
    """Set the failed attempt's status (or its retry's due time); the timeline's message."""
    notification.last_error = error.message[:MAX_ERROR]
    if isinstance(error, Throttled):
        notification.status = NotificationStatus.THROTTLED
        return f"{_label(notification)} not sent: {error.message}"
    if isinstance(error, ChannelNotConfigured):
        notification.status = NotificationStatus.NOT_CONFIGURED
        channel = Channel(notification.channel).label
        return f"{channel} not sent: {error.message} (to {notification.user.get_full_name()})"
    if error.permanent or notification.attempts >= MAX_ATTEMPTS:
        notification.status = NotificationStatus.FAILED
        message = f"{_label(notification)}: failed ({error.message})"
        if not error.permanent:
            message += f", gave up after {notification.attempts} attempts"
        return message
    wait = _backoff(notification.attempts)
    if error.retry_after is not None:
        wait = timedelta(seconds=error.retry_after)
    notification.due_at = now + wait
    return (
        f"{_label(notification)}: failed ({error.message}), "
        f"retry {notification.attempts + 1} of {MAX_ATTEMPTS} at "
        f"{notification.due_at:%H:%M:%S} UTC"
    )


def _failed(notification: Notification, message: str, now: datetime, note: str = "") -> None:
    """What follows a recorded failure: the retry's task, or the next rule brought forward
    (throttled); and the timeline's line."""
    data: dict[str, Any] = {"notification": notification.pk, "attempt": notification.attempts}
    if notification.status == NotificationStatus.THROTTLED:
        following = _next_rule_now(notification, now)
        if following is not None:
            message += f"; {Channel(following.channel).label} goes now instead"
    elif notification.status == NotificationStatus.PENDING:
        data["retry_at"] = notification.due_at.isoformat()
        transaction.on_commit(partial(_schedule, [notification.pk], notification.due_at))
    _log(notification.incident, f"{message}{note}"[:MAX_ERROR], **data)


def _next_rule_now(notification: Notification, now: datetime) -> Notification | None:
    """Bring the person's next pending notification for the incident forward to now (a
    throttled one falls through to the next rule); that row, or None."""
    following = (
        Notification.objects.select_for_update(skip_locked=True)
        .filter(
            incident_id=notification.incident_id,
            user_id=notification.user_id,
            status=NotificationStatus.PENDING,
            due_at__gt=now,
        )
        .exclude(channel=notification.channel)
        .order_by("due_at", "id")
        .first()
    )
    if following is None:
        return None
    following.due_at = now
    following.save(update_fields=["due_at"])
    transaction.on_commit(partial(_schedule, [following.pk], now))
    return following


# Direct pages (`escalations.engine.paging`) are a person's deliberate choice: one made on an
# acknowledged incident ("get the database team in too") is delivered.
DIRECT_PAGE_KEY_PREFIX = "page:"


def _stale(notification: Notification) -> bool:
    """The incident no longer wants this notification (resolved; acknowledged unless paged)."""
    status = notification.incident.status
    if status == Status.ACKNOWLEDGED and notification.idempotency_key.startswith(
        DIRECT_PAGE_KEY_PREFIX
    ):
        return False
    return status in _CANCEL_ON


# --- the record (T2) --------------------------------------------------------------------------

_CANCELLED_NOTE = " (it was on its way when the pending notifications were cancelled)"
_LATE_NOTE = " (recorded late: the notification had been claimed again by then)"
_ROW_STATE_SQL = (
    f"SELECT status, attempts, lease_until FROM {Notification._meta.db_table}"  # noqa: S608
    " WHERE id = %s FOR UPDATE"
)


def _unknown_note(claim: _Claim, outcome: Receipt | DeliveryError) -> str:
    """Said on the timeline when an expired lease was taken over: the person may have had the
    earlier attempt's message."""
    if not claim.recovered:
        return ""
    earlier = claim.notification.attempts - 1
    if isinstance(outcome, Receipt):
        return (
            f" (again: attempt {earlier} stopped mid-send and its outcome is unknown,"
            " so this may be a second message)"
        )
    return f" (attempt {earlier} stopped mid-send and its outcome is unknown)"


def _row_state(notification: Notification) -> tuple[str, int, datetime | None] | None:
    """The row's status, attempts and lease, locked; None when it is gone."""
    with connection.cursor() as cursor:
        cursor.execute(_ROW_STATE_SQL, [notification.pk])
        row = cursor.fetchone()
    return None if row is None else (str(row[0]), int(row[1]), row[2])


def _recorded_or_late(notification: Notification) -> tuple[str | None, bool]:
    """When the outcome could not be written: the row's status, and whether this attempt's
    line is still to be logged (True: the row was claimed again after this attempt's lease;
    False: the row is gone, or this attempt's record committed although its answer was
    lost, the run now repeated)."""
    state = _row_state(notification)
    if state is None:
        return None, False
    status, attempts, lease_until = state
    return status, not (attempts == notification.attempts and lease_until is None)


def _record_sent(
    notification: Notification, receipt: Receipt, now: datetime, note: str
) -> str | None:
    """T2 of a sent notification (see `_record`)."""
    _sent_fields(notification, receipt, now)
    status: str | None = notification.status
    if _outcome_save(notification, status_was=NotificationStatus.PENDING):
        pass
    elif _outcome_save(notification, status_was=NotificationStatus.CANCELLED):
        note += _CANCELLED_NOTE
    else:
        status, to_log = _recorded_or_late(notification)
        if not to_log:
            return status
        note += _LATE_NOTE
    _sent(notification, receipt, now, note)
    return status


def _record_failed(claim: _Claim, error: DeliveryError, now: datetime, note: str) -> str | None:
    """T2 of a notification the provider refused (see `_record`)."""
    notification = claim.notification
    message = _failed_fields(notification, error, now)
    if _outcome_save(notification, status_was=NotificationStatus.PENDING):
        _failed(notification, message, now, note)
        return notification.status
    notification.status, notification.due_at = NotificationStatus.CANCELLED, claim.due_at
    data = {"notification": notification.pk, "attempt": notification.attempts}
    if _outcome_save(notification, status_was=NotificationStatus.CANCELLED):
        message = (
            f"{_label(notification)}: not sent ({error.message}); not retried: the pending"
            " notifications were cancelled meanwhile"
        )
        _log(notification.incident, f"{message}{note}"[:MAX_ERROR], **data)
        return notification.status
    status, to_log = _recorded_or_late(notification)
    if to_log:
        _log(notification.incident, f"{message}{note}{_LATE_NOTE}"[:MAX_ERROR], **data)
    return status


@transaction.atomic
def _record(claim: _Claim, outcome: Receipt | DeliveryError, now: datetime) -> str | None:
    """T2: the attempt's outcome on the row (lease cleared) and on the timeline; the row's
    status. Safe to run again (a lost connection, a lock race): it starts from the claim.

    The incident first, `FOR KEY SHARE` (docs/architecture.md, "Locking order"), then the
    row, only while it is still this attempt's (`_OUTCOME_SQL`). A row cancelled during the
    send (an acknowledge) still says what happened: a sent one becomes sent (the message went
    out; the rate limits count it), a failed one is not retried. A row claimed again after
    this attempt's lease expired keeps the new attempt; the timeline gets this one's line.
    """
    notification = claim.notification
    notification.status, notification.due_at = NotificationStatus.PENDING, claim.due_at
    with connection.cursor() as cursor:
        cursor.execute(_INCIDENT_SHARE_SQL, [notification.incident_id])
    note = _unknown_note(claim, outcome)
    if isinstance(outcome, Receipt):
        return _record_sent(notification, outcome, now, note)
    return _record_failed(claim, outcome, now, note)


_DISCONNECTED_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})  # shut down, crashed, starting


def _connection_lost(error: BaseException) -> bool:
    """The database went away (restarted, connection dropped or refused): the transaction
    is gone and a new connection may work. Not a lock race (`run_retrying_conflicts`), not a
    timeout, not a bug."""
    if isinstance(error, InterfaceError):
        return True
    if not isinstance(error, OperationalError):
        return False
    state = getattr(error.__cause__, "sqlstate", None)
    return state is None or state.startswith("08") or state in _DISCONNECTED_SQLSTATES


def _waiting_to_record(notification_id: int) -> Callable[[RetryCallState], None]:
    """Before each new try of T2: drop the broken connection; a warning each minute (ids and
    the error's type only: never the message, never an address or a number)."""
    warned_at: list[float] = []

    def before_sleep(state: RetryCallState) -> None:
        with suppress(DatabaseError):
            connection.close()
        waited = state.seconds_since_start or 0.0
        if warned_at and waited - warned_at[-1] < RECORD_WARN_EVERY:
            return
        warned_at.append(waited)
        error = state.outcome.exception() if state.outcome is not None else None
        logger.warning(
            "notification %s: its provider answered %.0f s ago but the database is unreachable"
            " (%s); recording it again for up to %d s",
            notification_id,
            waited,
            type(error).__name__,
            RECORD_PATIENCE.total_seconds(),
        )

    return before_sleep


def _patiently(fn: Callable[..., R], notification_id: int, *args: Any) -> R:
    """`fn(*args)` (a T2) until it commits: again after a lock race (`run_retrying_conflicts`),
    and after a lost connection, on a new one, 0.2 s growing to 2 s apart, for up to
    RECORD_PATIENCE. This process knows the outcome; a re-send after the lease would only
    guess it."""
    if connection.in_atomic_block:  # the caller's transaction: the error is the caller's
        return fn(*args)
    retrying = Retrying(
        retry=retry_if_exception(_connection_lost),
        wait=RECORD_WAIT,
        stop=stop_after_delay(RECORD_PATIENCE.total_seconds()),
        before_sleep=_waiting_to_record(notification_id),
        reraise=True,
    )
    result: R = retrying(run_retrying_conflicts, fn, *args)
    return result


def _record_patiently(claim: _Claim, outcome: Receipt | DeliveryError, now: datetime) -> str | None:
    """T2 of one attempt until it commits (`_patiently`)."""
    return _patiently(_record, claim.notification.pk, claim, outcome, now)


def notification_deliver(*, notification_id: int) -> str | None:
    """Send one due, pending notification once; its new status, or None when nothing to do.

    Claim (T1, committed), send (no transaction, no lock), record (T2): see the module's
    docstring. A duplicated task, the ETA task racing the sweeper, an early redelivery or a
    row under a live lease is a no-op. A non-permanent provider error schedules a retry with
    exponential backoff; after MAX_ATTEMPTS, or on a permanent error, the row is failed.
    Lock races are retried around T1 and T2 separately, never around the send.
    """
    claim = run_retrying_conflicts(_lease, notification_id)
    if claim is None:
        return None
    if claim.notification.status != NotificationStatus.PENDING:
        return claim.notification.status  # stale: cancelled
    outcome = _send(claim.notification)
    return _record_patiently(claim, outcome, timezone.now())


# --- many rows due together: one claim and one record for a chunk --------------------------
# The rows a batch of events wrote, due at once, are claimed in one T1 and recorded in one T2
# per chunk instead of one T1 and one T2 each: the same claim -> send -> record, with the
# same conditions, in set-based statements. A chunk is small enough that its sends fit well
# inside LEASE; a send that starts past half the lease is not made: its row's claim is given
# back in the T2 (the attempt never happened) and it is claimed again in the next chunk.
# Whatever the set-based T2 does not record (a failed send, a row cancelled or claimed
# again meanwhile, a recovered lease) is recorded one row at a time, in the same T2.
DELIVERY_CHUNK = 25

_LEASE_MANY_SQL = (
    f"UPDATE {Notification._meta.db_table} SET attempts = attempts + 1,"  # noqa: S608
    " lease_until = %s WHERE id = ANY(%s)"
)
# A claim given back: the attempt was not made (no send), its lease and count undone.
_UNCLAIM_SQL = (
    f"UPDATE {Notification._meta.db_table} AS n SET attempts = n.attempts - 1,"  # noqa: S608
    " lease_until = NULL FROM unnest(%s::bigint[], %s::int[]) AS m(id, attempts)"
    " WHERE n.id = m.id AND n.attempts = m.attempts AND n.lease_until IS NOT NULL"
)
# `_OUTCOME_SQL` of many sent rows (status_was pending), each only while it is this attempt's.
_SENT_MANY_SQL = (
    f"UPDATE {Notification._meta.db_table} AS n SET status = %(sent)s,"  # noqa: S608
    " sent_at = m.sent_at, last_error = '', provider_id = m.provider_id,"
    " delivery_status = CASE WHEN n.delivery_status = '' THEN m.delivery_status"
    " ELSE n.delivery_status END, lease_until = NULL"
    " FROM unnest(%(ids)s::bigint[], %(attempts)s::int[], %(sent_at)s::timestamptz[],"
    " %(provider_ids)s::text[], %(delivery)s::text[])"
    " AS m(id, attempts, sent_at, provider_id, delivery_status)"
    " WHERE n.id = m.id AND n.attempts = m.attempts AND n.status = %(pending)s"
    " AND n.lease_until IS NOT NULL RETURNING n.id"
)
_RESPONDERS_NOTIFIED_SQL = (
    f"UPDATE {IncidentResponder._meta.db_table} AS r SET last_notified = m.at"  # noqa: S608
    " FROM unnest(%s::bigint[], %s::bigint[], %s::timestamptz[]) AS m(incident, person, at)"
    " WHERE r.incident_id = m.incident AND r.user_id = m.person"
)


@transaction.atomic
def _lease_many(notification_ids: list[int]) -> dict[int, _Claim]:
    """T1 of many rows (`_lease`, set-based): the claims made, by row id."""
    now = timezone.now()
    params: dict[str, Any] = {"ids": notification_ids, "now": now, "grace": RECOVERY_GRACE}
    with connection.cursor() as cursor:
        cursor.execute(_INCIDENTS_OF_DUE_SQL, params)
        if not cursor.fetchall():
            return {}
        cursor.execute(_CLAIM_MANY_SQL, params)
        rows = cursor.fetchall()
    claims: dict[int, _Claim] = {}
    leased: list[int] = []
    for row in rows:
        notification = _claimed(row)
        claims[notification.pk] = _Claim(
            notification, notification.due_at, notification.lease_until is not None
        )
        if _stale(notification):
            notification.status = NotificationStatus.CANCELLED
            notification.save(update_fields=["status"])
            continue
        notification.attempts += 1
        notification.lease_until = now + LEASE
        leased.append(notification.pk)
    if leased:
        with connection.cursor() as cursor:
            cursor.execute(_LEASE_MANY_SQL, [now + LEASE, leased])
    return claims


_Outcome = tuple[_Claim, Receipt | DeliveryError, datetime]


def _record_many(outcomes: list[_Outcome], unsent: list[_Claim]) -> dict[int, str | None]:
    """T2 of many attempts (`_record`, set-based for the sent ones), and the claims of the
    rows not sent given back; each recorded row's status."""
    statuses: dict[int, str | None] = {}
    with transaction.atomic(), hooks.batch():  # the timeline's lines in one statement
        incidents = sorted({claim.notification.incident_id for claim, _, _ in outcomes})
        with connection.cursor() as cursor:
            cursor.execute(_INCIDENTS_SHARE_SQL, [incidents])
            if unsent:
                given_back = [claim.notification for claim in unsent]
                cursor.execute(
                    _UNCLAIM_SQL, [[n.pk for n in given_back], [n.attempts for n in given_back]]
                )
        sent = [
            (claim, outcome, now)
            for claim, outcome, now in outcomes
            if isinstance(outcome, Receipt) and not claim.recovered
        ]
        for claim, receipt, now in sent:
            claim.notification.due_at = claim.due_at
            _sent_fields(claim.notification, receipt, now)
        recorded = _sent_many(sent)
        for claim, receipt, _ in sent:
            if claim.notification.pk in recorded:
                _sent_line(claim.notification, receipt)
                statuses[claim.notification.pk] = claim.notification.status
        for claim, outcome, now in outcomes:
            if claim.notification.pk not in statuses:
                statuses[claim.notification.pk] = _record(claim, outcome, now)
    return statuses


def _sent_many(sent: list[tuple[_Claim, Receipt, datetime]]) -> set[int]:
    """Write the sent rows that are still their attempt's, and their responders'
    `last_notified`; the ids written."""
    if not sent:
        return set()
    rows = [claim.notification for claim, _, _ in sent]
    with connection.cursor() as cursor:
        cursor.execute(
            _SENT_MANY_SQL,
            {
                "sent": NotificationStatus.SENT,
                "pending": NotificationStatus.PENDING,
                "ids": [row.pk for row in rows],
                "attempts": [row.attempts for row in rows],
                "sent_at": [row.sent_at for row in rows],
                "provider_ids": [row.provider_id for row in rows],
                "delivery": [row.delivery_status for row in rows],
            },
        )
        recorded = {int(found[0]) for found in cursor.fetchall()}
        notified = [row for row in rows if row.pk in recorded]
        if notified:
            cursor.execute(
                _RESPONDERS_NOTIFIED_SQL,
                [
                    [row.incident_id for row in notified],
                    [row.user_id for row in notified],
                    [row.sent_at for row in notified],
                ],
            )
    return recorded


def notifications_deliver(*, notification_ids: list[int]) -> list[str | None]:
    """`notification_deliver` for each of several rows due together, in order: each sent
    once, claimed and recorded a chunk at a time (`DELIVERY_CHUNK`)."""
    if len(notification_ids) == 1:
        return [notification_deliver(notification_id=notification_ids[0])]
    statuses: dict[int, str | None] = {}
    waiting = list(dict.fromkeys(notification_ids))
    while waiting:
        chunk, waiting = waiting[:DELIVERY_CHUNK], waiting[DELIVERY_CHUNK:]
        claims = run_retrying_conflicts(_lease_many, chunk)
        leased_at = time.monotonic()
        outcomes: list[_Outcome] = []
        unsent: list[_Claim] = []
        for pk in chunk:
            claim = claims.get(pk)
            if claim is None or claim.notification.status != NotificationStatus.PENDING:
                statuses[pk] = None if claim is None else claim.notification.status
            elif outcomes and time.monotonic() - leased_at > LEASE.total_seconds() / 2:
                unsent.append(claim)  # too late in its lease to send: claimed again next
            else:
                outcomes.append((claim, _send(claim.notification), timezone.now()))
        if outcomes or unsent:
            statuses.update(_patiently(_record_many, chunk[0], outcomes, unsent))
        waiting = [claim.notification.pk for claim in unsent] + waiting
    return [statuses.get(pk) for pk in notification_ids]


def notifications_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Ids of claimable notifications due for longer than SWEEP_GRACE (for the sweeper): not
    under a live lease; under an expired one once the server has been up RECOVERY_GRACE."""
    now = now or timezone.now()
    recoverable = RawSQL(
        "pg_postmaster_start_time() < now() - %s", [RECOVERY_GRACE], output_field=BooleanField()
    )
    return list(
        Notification.objects.filter(
            Q(lease_until__isnull=True) | Q(recoverable, lease_until__lt=now),
            status=NotificationStatus.PENDING,
            due_at__lte=now - SWEEP_GRACE,
        )
        .order_by("due_at")
        .values_list("id", flat=True)[:limit]
    )


def notifications_to_sweep(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """`notifications_due` minus rows the sweeper queued in the last SWEEP_REQUEUE_SECONDS.

    The marker is a cache key per row (`add` is atomic); without Redis every due row is
    queued, as before (a duplicated task is a no-op).
    """
    due = notifications_due(now=now, limit=limit)
    try:
        return [
            pk
            for pk in due
            if cache.add(f"notifications:swept:{pk}", 1, timeout=SWEEP_REQUEUE_SECONDS)
        ]
    except Exception:  # noqa: BLE001 - the cache is an optimisation, never a reason to skip
        logger.warning("sweep markers unavailable; queuing every due notification")
        return due


# --- what the provider reports afterwards (status callbacks) ---------------------------------

# A state only moves forward: a late "sent" never hides "delivered", and the first final
# state stays (a voicemail's "not_reached" is not undone by the call's "completed").
_DELIVERY_RANK = {
    "queued": 0,
    "sent": 1,
    "ringing": 1,
    "answered": 2,
    "delivered": 3,
    "undelivered": 3,
    "failed": 3,
    "busy": 3,
    "no_answer": 3,
    "not_reached": 3,
    "completed": 3,
    "canceled": 3,
}
_DELIVERY_WORDS = {
    "sent": "sent to the carrier",
    "ringing": "ringing",
    "answered": "answered",
    "delivered": "delivered",
    "undelivered": "not delivered",
    "failed": "failed",
    "busy": "busy",
    "no_answer": "no answer",
    "not_reached": "taken by voicemail: not reached",
    "completed": "call ended",
    "canceled": "cancelled",
}
# Kept on the row, not said on the timeline: steps on the way that every message passes.
_QUIET_STATES = frozenset({"queued", "sent", "ringing"})


@transaction.atomic
def notification_delivery_update(
    *, notification_id: int, organization_id: int, state: str, detail: str = ""
) -> bool:
    """Record the provider's report on a sent notification and say it on the timeline.

    Idempotent and ordered: a repeated or older state changes nothing (False).
    """
    if state not in _DELIVERY_RANK:
        raise ValueError(f"unknown delivery state {state!r}")
    incident_id = (
        Notification.objects.filter(pk=notification_id, organization_id=organization_id)
        .values_list("incident_id", flat=True)
        .first()
    )
    if incident_id is None:
        return False
    with connection.cursor() as cursor:  # the incident first, as `notification_deliver`
        cursor.execute(_INCIDENT_SHARE_SQL, [incident_id])
    notification = (
        Notification.objects.select_for_update(of=("self",))
        .select_related("incident", "user")
        .filter(pk=notification_id, organization_id=organization_id)
        .first()
    )
    if notification is None:
        return False
    current = _DELIVERY_RANK.get(notification.delivery_status, -1)
    if _DELIVERY_RANK[state] <= current:
        return False
    notification.delivery_status = state
    notification.delivery_updated_at = timezone.now()
    notification.save(update_fields=["delivery_status", "delivery_updated_at"])
    if state not in _QUIET_STATES:
        text = f"{_label(notification)}: {_DELIVERY_WORDS[state]}"
        if detail:
            text += f" ({detail})"
        _log(notification.incident, text[:MAX_ERROR], notification=notification.pk, delivery=state)
    return True


# Run for every event, change or step; safe as generic plans (opsduty/rawsql.py).
rawsql.prepared(_ROWS_INSERT_SQL, _RESPONDERS_SQL, _CANCEL_SQL)


def person_data_remove(user: User) -> None:
    """A deleted person's notification rules and calendar feeds (opsduty/services.py
    `user_delete`); the notifications sent to them stay, naming "a deleted user"."""
    NotificationRule.objects.filter(user=user).delete()
    CalendarFeed.objects.filter(user=user).delete()
