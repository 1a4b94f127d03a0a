"""The notification outbox (invariant 5, docs/architecture.md): rows written with the decision
to notify, delivered by a retried task, every attempt logged on the incident.

Delivery is exactly once per row under duplicated tasks: the task takes its incident `FOR
KEY SHARE` (the locking order, docs/architecture.md), claims the row with
`SELECT ... FOR UPDATE SKIP LOCKED` where it is pending and due, sends while holding the lock
and sets the outcome in the same transaction, so a second task finds it locked or no longer
pending. If the process dies between the provider's send and the commit, the row stays
pending and is sent again (by a redelivered task or the sweeper): we choose at-least-once
there, because a duplicate page is better than a missed one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

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


_INSERT_SQL = (
    f"INSERT INTO {Notification._meta.db_table}"  # noqa: S608 - our table name, values bound
    " (organization_id, incident_id, user_id, channel, rule_id, reason, due_at,"
    " idempotency_key, status, attempts, last_error, created_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'pending', 0, '', %s)"
    " ON CONFLICT (idempotency_key) DO NOTHING"
    f" RETURNING {', '.join(rawsql.columns(Notification))}"
)


def _insert(
    incident: Incident,
    user: User,
    rule: NotificationRule | None,
    reason: str,
    key: str,
    now: datetime,
    channel: str = "",
) -> Notification | None:
    """Insert one outbox row unless its key exists; the new row, or None on a duplicate.

    Without a rule (a step's channel override) the row goes out at once on `channel`.
    """
    due = now + timedelta(minutes=rule.delay_minutes if rule is not None else 0)
    params = (
        incident.organization_id,
        incident.pk,
        user.pk,
        rule.channel if rule is not None else channel,
        rule.pk if rule is not None else None,
    ) + (reason, due, key, now)
    return rawsql.fetch_one(Notification, _INSERT_SQL, params)


_RESPONDER_SQL = (
    f"INSERT INTO {IncidentResponder._meta.db_table}"  # noqa: S608 - our table name
    " (organization_id, incident_id, user_id, status, last_notified, status_updated_at)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (incident_id, user_id) DO UPDATE SET last_notified = EXCLUDED.last_notified"
)


def _responder_pending(incident: Incident, user: User, now: datetime) -> None:
    """Mark the user paged; an active responder stays active (only `last_notified` moves).

    One upsert on the `responder_once` constraint (no read, no savepoint).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            _RESPONDER_SQL,
            [incident.organization_id, incident.pk, user.pk, ResponderStatus.PENDING, now, now],
        )


@transaction.atomic(savepoint=False)  # no error is caught inside: no savepoint needed
def notify_user(
    *, incident: Incident, user: User, reason: str, key_prefix: str, channel: str = ""
) -> list[Notification]:
    """Write one outbox row per rule of the user's policy for the incident's urgency.

    With `channel` (an escalation step's override) one row on that channel, at once, instead.

    Runs in the caller's transaction; idempotent per `key_prefix` (a second call with the same
    prefix writes nothing and returns []). Stakeholders and inactive users are skipped.
    Delivery is scheduled after commit, at each row's due time.
    """
    if user.organization_id != incident.organization_id:
        raise ValueError("the user and the incident belong to different organizations")
    if user.is_stakeholder or not user.is_active:
        who = "Stakeholders are" if user.is_stakeholder else "Deactivated users are"
        _log(incident, f"{user.get_full_name()} not notified: {who} not notified", user=user.pk)
        return []
    now = timezone.now()  # one "now": rules with the same delay share a due time (one task)
    if channel:
        rules = []
        inserted = [_insert(incident, user, None, reason, f"{key_prefix}:{channel}", now, channel)]
    else:
        rules = notification_rule_list(user=user, urgency=incident.urgency)
        inserted = [
            _insert(incident, user, rule, reason, f"{key_prefix}:{rule.pk}", now) for rule in rules
        ]
    created = sorted(
        (row for row in inserted if row is not None), key=lambda row: (row.due_at, row.pk)
    )
    if not rules and not channel:
        _log(incident, f"{user.get_full_name()} has no {incident.urgency} urgency rules")
    if not created:
        return []
    _responder_pending(incident, user, timezone.now())
    # One task per due time (email and SMS "immediately" share one), not one per row.
    by_due: dict[datetime, list[int]] = {}
    for notification in created:
        by_due.setdefault(notification.due_at, []).append(notification.pk)
    for due, due_ids in by_due.items():
        transaction.on_commit(partial(_schedule, due_ids, due))
    return created


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
        for notification_id in notification_ids:
            try:
                run_retrying_conflicts(notification_deliver, notification_id=notification_id)
            except Exception:  # noqa: BLE001 - still pending: the sweeper sends it
                logger.exception("notification %s not delivered; the sweeper will", notification_id)
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


# The rows locked in id order (docs/architecture.md, "Locking order"), the incident's lock
# being held already by the status change that cancels them.
_CANCEL_SQL = (
    f"UPDATE {Notification._meta.db_table} SET status = %(cancelled)s"  # noqa: S608 - our table
    f" WHERE id IN (SELECT id FROM {Notification._meta.db_table}"
    " WHERE incident_id = %(incident)s AND status = %(pending)s ORDER BY id FOR UPDATE)"
)


@transaction.atomic
def notifications_cancel_for(incident: Incident) -> int:
    """Cancel the incident's pending notifications; logs and returns how many.

    Precondition: the caller holds the incident's row lock (a status change).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            _CANCEL_SQL,
            {
                "cancelled": NotificationStatus.CANCELLED,
                "incident": incident.pk,
                "pending": NotificationStatus.PENDING,
            },
        )
        count = int(cursor.rowcount)
    if count:
        plural = "notification" if count == 1 else "notifications"
        _log(incident, f"{count} pending {plural} cancelled (incident {incident.status})")
    return count


def on_incident_status_changed(change: StatusChange) -> None:
    """The incidents hook: acknowledged or resolved stops pending notifications."""
    if change.new_status in _CANCEL_ON:
        notifications_cancel_for(change.incident)


# --- delivery -----------------------------------------------------------------------------


def _label(notification: Notification) -> str:
    return f"{Channel(notification.channel).label} to {notification.user.get_full_name()}"


_CLAIM_MODELS: list[tuple[type[Model], str]] = [
    (Notification, "n"),
    (Incident, "i"),
    (Service, "s"),
    (User, "u"),
]
# What `select_related("incident", "incident__service", "user")` would read, as plain SQL
# (opsduty.rawsql): building that ORM query cost about a third of a delivery's CPU. None of
# these models has a field that needs a converter from the database (no JSON).
_CLAIM_SQL = (
    "SELECT "  # noqa: S608 - our tables
    + ", ".join(rawsql.select_list(model, alias) for model, alias in _CLAIM_MODELS)
    + f" FROM {Notification._meta.db_table} n"
    f" JOIN {Incident._meta.db_table} i ON i.id = n.incident_id"
    f" JOIN {Service._meta.db_table} s ON s.id = i.service_id"
    f" JOIN {User._meta.db_table} u ON u.id = n.user_id"
    " WHERE n.id = %s AND n.status = 'pending' AND n.due_at <= %s"
    " FOR UPDATE OF n SKIP LOCKED"
)


# Before the row, its incident (docs/architecture.md, "Locking order"), while the row is
# pending and due: `FOR KEY SHARE`, the lock the foreign-key check of the delivery's log line
# takes at COMMIT anyway, taken first instead of last, so a delivery never waits for an
# incident while it holds a notification row (a resolve holds the incident and waits for the
# rows it cancels). It conflicts with no responder's change (`FOR NO KEY UPDATE`): a send in
# flight holds up nobody but a resolve or acknowledge cancelling that very row, as before.
_INCIDENT_OF_DUE_SQL = (
    f"SELECT i.id FROM {Incident._meta.db_table} i"  # noqa: S608 - our tables
    f" JOIN {Notification._meta.db_table} n ON n.incident_id = i.id"
    " WHERE n.id = %s AND n.status = 'pending' AND n.due_at <= %s"
    " FOR KEY SHARE OF i"
)
_INCIDENT_SHARE_SQL = f"SELECT id FROM {Incident._meta.db_table} WHERE id = %s FOR KEY SHARE"  # noqa: S608


def _incident_of_due_locked(notification_id: int, now: datetime) -> bool:
    """Lock the incident of a pending, due notification; False when the row is neither."""
    with connection.cursor() as cursor:
        cursor.execute(_INCIDENT_OF_DUE_SQL, [notification_id, now])
        return cursor.fetchone() is not None


def _claim(notification_id: int, now: datetime) -> Notification | None:
    """The row if pending, due and not held by another worker (the caller holds a transaction),
    with its incident, the incident's service and its user."""
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [notification_id, now])
        row = cursor.fetchone()
    if row is None:
        return None
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


def _backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min after attempts 1..4."""
    return BACKOFF_BASE * (1 << (attempts - 1))


_RESPONDER_NOTIFIED_SQL = (
    f"UPDATE {IncidentResponder._meta.db_table} SET last_notified = %s"  # noqa: S608
    " WHERE incident_id = %s AND user_id = %s"
)
_OUTCOME_SQL = (
    f"UPDATE {Notification._meta.db_table} SET status = %s, attempts = %s, due_at = %s,"  # noqa: S608
    " last_error = %s, sent_at = %s, provider_id = %s, delivery_status = %s WHERE id = %s"
)


def _outcome_save(notification: Notification) -> None:
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
            ],
        )


def _sent(notification: Notification, receipt: Receipt, now: datetime) -> None:
    notification.status = NotificationStatus.SENT
    notification.sent_at = now
    notification.last_error = ""
    notification.provider_id = receipt.provider_id[:64]
    notification.delivery_status = receipt.delivery_status[:16]
    with connection.cursor() as cursor:
        cursor.execute(
            _RESPONDER_NOTIFIED_SQL, [now, notification.incident_id, notification.user_id]
        )
    _log(
        notification.incident,
        f"{_label(notification)}: {receipt.answer}",
        notification=notification.pk,
        attempt=notification.attempts,
        provider_id=receipt.provider_id,
        # What the analytics' responder load counts (analytics/services.py).
        sent_to=notification.user_id,
        channel=notification.channel,
    )


def _failed(notification: Notification, error: DeliveryError, now: datetime) -> None:
    notification.last_error = error.message[:MAX_ERROR]
    data: dict[str, Any] = {"notification": notification.pk, "attempt": notification.attempts}
    if isinstance(error, Throttled):
        notification.status = NotificationStatus.THROTTLED
        message = f"{_label(notification)} not sent: {error.message}"
        following = _next_rule_now(notification, now)
        if following is not None:
            message += f"; {Channel(following.channel).label} goes now instead"
    elif isinstance(error, ChannelNotConfigured):
        notification.status = NotificationStatus.NOT_CONFIGURED
        channel = Channel(notification.channel).label
        name = notification.user.get_full_name()
        message = f"{channel} not sent: {error.message} (to {name})"
    elif error.permanent or notification.attempts >= MAX_ATTEMPTS:
        notification.status = NotificationStatus.FAILED
        message = f"{_label(notification)}: failed ({error.message})"
        if not error.permanent:
            message += f", gave up after {notification.attempts} attempts"
    else:
        wait = _backoff(notification.attempts)
        if error.retry_after is not None:
            wait = timedelta(seconds=error.retry_after)
        notification.due_at = now + wait
        message = (
            f"{_label(notification)}: failed ({error.message}), "
            f"retry {notification.attempts + 1} of {MAX_ATTEMPTS} at "
            f"{notification.due_at:%H:%M:%S} UTC"
        )
        data["retry_at"] = notification.due_at.isoformat()
        transaction.on_commit(partial(_schedule, [notification.pk], notification.due_at))
    _log(notification.incident, message[:MAX_ERROR], **data)


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


def notification_deliver(*, notification_id: int) -> str | None:
    """Send one due, pending notification once; its new status, or None when nothing to do.

    A duplicated task, the ETA task racing the sweeper, or an early redelivery is a no-op
    (row lock + pending/due check). A non-permanent provider error schedules a retry with
    exponential backoff; after MAX_ATTEMPTS, or on a permanent error, the row is failed.
    """
    with transaction.atomic():
        now = timezone.now()
        if not _incident_of_due_locked(notification_id, now):
            return None
        notification = _claim(notification_id, now)
        if notification is None:
            return None
        if _stale(notification):
            # Defensive: the hook cancels these, but a row written afterwards must not page.
            notification.status = NotificationStatus.CANCELLED
            notification.save(update_fields=["status"])
            return notification.status
        notification.attempts += 1
        try:
            receipt = provider_for(notification.channel).send(notification)
        except DeliveryError as error:
            _failed(notification, error, now)
        else:
            _sent(notification, receipt, now)
        _outcome_save(notification)
        return notification.status


def notifications_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Ids of pending notifications due for longer than SWEEP_GRACE (for the sweeper)."""
    now = now or timezone.now()
    return list(
        Notification.objects.filter(
            status=NotificationStatus.PENDING, due_at__lte=now - SWEEP_GRACE
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
