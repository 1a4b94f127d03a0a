"""Subscribers of a status page (docs/status-pages.md, "Subscribers"): double opt-in by mail,
one-click unsubscribe, and the outbox of their mails (`SubscriberMail`, invariant 5).

A subscriber's token (the credential of the confirm and unsubscribe links) is an HMAC of the
row's page, address and creation time under the server's SECRET_KEY: the row stores only
its SHA-256 (`token_digest`, `opsduty.crypto.secret_digest`), yet every later mail can carry
the link again without keeping the token anywhere. Changing SECRET_KEY ends the old links.

An announcement (statuspages/events.py) writes one outbox row per confirmed subscriber who
follows the page or one of the notice's components, in the announcing transaction; the rows
are sent after the commit by `statuspages.subscriber_mails_deliver` and, if that task is
lost, by the sweeper. Each attempt is logged (`SubscriberMailAttempt`); failures are retried
with a backoff, MAX_ATTEMPTS in all.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.core.mail import get_connection
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from opsduty.crypto import secret_digest
from opsduty.queue import enqueue_or_sweep
from statuspages.events import Announcement, Kind
from statuspages.models import (
    Component,
    StatusPage,
    Subscriber,
    SubscriberMail,
    SubscriberMailAttempt,
    SubscriberMailKind,
    SubscriberMailStatus,
)
from statuspages.subscribers.mail import Unsendable, mail_message

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
LEASE = timedelta(seconds=60)
BACKOFF_BASE = timedelta(seconds=30)
# A second confirmation (or "already subscribed") mail to one address within this time is
# not sent: the form cannot be used to flood someone's inbox.
RESEND_AFTER = timedelta(minutes=10)
# The sweeper leaves a due row this long to its own task first.
SWEEP_GRACE = timedelta(seconds=5)
DELIVER_TASK = "statuspages.subscriber_mails_deliver"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def subscriber_token(subscriber: Subscriber) -> str:
    """The credential of the subscriber's links (never stored; see the module's docstring)."""
    micros = (subscriber.created_at - _EPOCH) // timedelta(microseconds=1)
    value = f"{subscriber.status_page_id}:{subscriber.email}:{micros}"
    return salted_hmac("statuspages.subscriber", value, algorithm="sha256").hexdigest()


def _subscriber_by_token(page: StatusPage, token: str) -> Subscriber | None:
    if not token or len(token) > 128:
        return None
    return Subscriber.objects.filter(status_page=page, token_digest=secret_digest(token)).first()


def _mail_queue(subscriber: Subscriber, kind: str, key: str, now: datetime) -> None:
    mail, created = SubscriberMail.objects.get_or_create(
        idempotency_key=key,
        defaults={
            "organization_id": subscriber.organization_id,
            "subscriber": subscriber,
            "kind": kind,
            "due_at": now,
        },
    )
    if created:
        _deliver_after_commit([mail.pk])


def _deliver_after_commit(mail_ids: list[int]) -> None:
    if mail_ids:
        transaction.on_commit(lambda: enqueue_or_sweep(DELIVER_TASK, (mail_ids,)))


@transaction.atomic
def subscribe(
    *, page: StatusPage, email: str, component_ids: Iterable[int] = (), now: datetime | None = None
) -> None:
    """Ask for a subscription: a new or unconfirmed address gets a confirmation mail (its
    chosen components replaced), a confirmed one a mail saying so (nothing changed: whoever
    posts the form does not own the address). The caller answers the same either way."""
    now = now or timezone.now()
    address = email.strip().lower()
    components = list(Component.objects.filter(status_page=page, pk__in=list(component_ids)))
    subscriber = (
        Subscriber.objects.select_for_update().filter(status_page=page, email=address).first()
    )
    if subscriber is None:
        subscriber = Subscriber(
            organization_id=page.organization_id, status_page=page, email=address, created_at=now
        )
        subscriber.token_digest = secret_digest(subscriber_token(subscriber))
        subscriber.save()
    recent = SubscriberMail.objects.filter(
        subscriber=subscriber,
        kind__in=[SubscriberMailKind.CONFIRM, SubscriberMailKind.ALREADY],
        created_at__gt=now - RESEND_AFTER,
    ).exists()
    if subscriber.confirmed_at is None:
        subscriber.components.set(components)
        kind = SubscriberMailKind.CONFIRM
    else:
        kind = SubscriberMailKind.ALREADY
    if not recent:
        _mail_queue(subscriber, kind, f"{kind}:{subscriber.pk}:{now.timestamp()}", now)


@transaction.atomic
def subscription_confirm(*, page: StatusPage, token: str, now: datetime | None = None) -> bool:
    """Confirm the subscriber of this token (again is fine); False for an unknown token."""
    subscriber = _subscriber_by_token(page, token)
    if subscriber is None:
        return False
    if subscriber.confirmed_at is None:
        subscriber.confirmed_at = now or timezone.now()
        subscriber.save(update_fields=["confirmed_at"])
    return True


@transaction.atomic
def unsubscribe(*, page: StatusPage, token: str) -> bool:
    """Forget the subscriber of this token (and its unsent mails); False if unknown."""
    subscriber = _subscriber_by_token(page, token)
    if subscriber is None:
        return False
    subscriber.delete()
    return True


def subscriber_get(*, page: StatusPage, token: str) -> Subscriber | None:
    """The subscriber of a link's token (to show the confirm and unsubscribe pages)."""
    return _subscriber_by_token(page, token)


_KINDS = {
    Kind.NOTICE_PUBLISHED: SubscriberMailKind.NOTICE_PUBLISHED,
    Kind.UPDATE_VISIBLE: SubscriberMailKind.UPDATE_VISIBLE,
    Kind.MAINTENANCE_STARTED: SubscriberMailKind.MAINTENANCE_STARTED,
    Kind.POSTMORTEM_PUBLISHED: SubscriberMailKind.POSTMORTEM_PUBLISHED,
}


def announcement_mail(announcement: Announcement) -> None:
    """The announcer (registered in `StatusPagesConfig.ready`): one outbox row per confirmed
    subscriber who follows the notice's page or one of its components, written in the
    caller's transaction; a repeated announcement writes nothing twice."""
    notice = announcement.notice
    if notice.draft:
        return
    kind = _KINDS[announcement.kind]
    followed = list(notice.components.values_list("pk", flat=True))
    subscribers = (
        Subscriber.objects.filter(status_page_id=notice.status_page_id, confirmed_at__isnull=False)
        .filter(Q(components__isnull=True) | Q(components__in=followed))
        .values_list("pk", flat=True)
        .distinct()
    )
    about = announcement.update.pk if announcement.update is not None else 0
    now = timezone.now()
    rows = [
        SubscriberMail(
            organization_id=notice.organization_id,
            subscriber_id=subscriber_id,
            kind=kind,
            notice=notice,
            update=announcement.update,
            idempotency_key=f"{kind}:{notice.pk}:{about}:{subscriber_id}",
            due_at=now,
        )
        for subscriber_id in subscribers
    ]
    if not rows:
        return
    SubscriberMail.objects.bulk_create(rows, ignore_conflicts=True)
    ids = list(
        SubscriberMail.objects.filter(
            idempotency_key__in=[r.idempotency_key for r in rows],
            status=SubscriberMailStatus.PENDING,
            attempts=0,
        ).values_list("pk", flat=True)
    )
    _deliver_after_commit(ids)


def _claim(mail_id: int, now: datetime) -> SubscriberMail | None:
    """T1: take a due pending row for one attempt (attempts + 1, a lease) or None."""
    with transaction.atomic():
        mail = (
            SubscriberMail.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk=mail_id, status=SubscriberMailStatus.PENDING, due_at__lte=now)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .select_related("subscriber__status_page", "notice", "update")
            .first()
        )
        if mail is None:
            return None
        mail.attempts += 1
        mail.lease_until = now + LEASE
        mail.save(update_fields=["attempts", "lease_until"])
    return mail


def _record(mail: SubscriberMail, outcome: str, detail: str, now: datetime) -> None:
    """T2: the attempt's outcome on the row (if it is still this attempt's) and in the log."""
    fields: dict[str, object] = {
        "lease_until": None,
        "last_error": detail if outcome != "sent" else "",
    }
    if outcome == "sent":
        fields.update(status=SubscriberMailStatus.SENT, sent_at=now)
    elif outcome == "cancelled":
        fields.update(status=SubscriberMailStatus.CANCELLED)
    elif mail.attempts >= MAX_ATTEMPTS:
        outcome = "failed"
        fields.update(status=SubscriberMailStatus.FAILED)
    else:
        outcome = "retry"
        fields.update(due_at=now + BACKOFF_BASE * (1 << (mail.attempts - 1)))
    with transaction.atomic():
        updated = SubscriberMail.objects.filter(
            pk=mail.pk, attempts=mail.attempts, status=SubscriberMailStatus.PENDING
        ).update(**fields)
        SubscriberMailAttempt.objects.create(
            organization_id=mail.organization_id, mail=mail, at=now, outcome=outcome, detail=detail
        )
        if updated and outcome == "retry":
            due = fields["due_at"]
            assert isinstance(due, datetime)
            transaction.on_commit(lambda: enqueue_or_sweep(DELIVER_TASK, ([mail.pk],), eta=due))


def mail_deliver(*, mail_id: int, now: datetime | None = None) -> str | None:
    """Send one due outbox row; the outcome logged ("sent", "retry", "failed", "cancelled"),
    None when the row was not claimable (sent, not due, held by another sender)."""
    now = now or timezone.now()
    mail = _claim(mail_id, now)
    if mail is None:
        return None
    try:
        message = mail_message(mail, subscriber_token(mail.subscriber))
    except Unsendable as reason:
        _record(mail, "cancelled", str(reason), now)
        return "cancelled"
    try:
        with get_connection() as connection:
            connection.send_messages([message])
    except Exception as error:  # noqa: BLE001 - SMTP, socket and backend errors alike
        logger.warning("subscriber mail %s not sent (%s)", mail.pk, type(error).__name__)
        _record(mail, "error", f"{type(error).__name__}: {error}"[:500], timezone.now())
        return "retry" if mail.attempts < MAX_ATTEMPTS else "failed"
    _record(mail, "sent", "", timezone.now())
    return "sent"


def mails_to_sweep(now: datetime | None = None, limit: int = 500) -> list[int]:
    """Pending rows due (and not held) whose task seems lost."""
    now = now or timezone.now()
    return list(
        SubscriberMail.objects.filter(
            status=SubscriberMailStatus.PENDING, due_at__lte=now - SWEEP_GRACE
        )
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .order_by("due_at")
        .values_list("pk", flat=True)[:limit]
    )
