"""Reads of raw events: only owners see them.

Raw events are the biggest table in the product, so their list is keyset-paginated on the
id (newest first, the `rawevent_org_recent` index on (organization, -id)): no OFFSET and no
COUNT(*) over millions of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from opsduty.models import User
from opsduty.tenancy import get_for_org_or_404, scoped
from signals.models import RawEvent

PAGE_SIZE = 50


def _require_owner(user: User) -> None:
    if not user.is_owner:
        raise PermissionDenied("Only owners of this organization can see raw events.")


@dataclass(frozen=True)
class RawEventFilters:
    status: str | None = None
    webhook_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class RawEventPage:
    events: list[RawEvent]
    # Cursors for the neighbouring pages (None: there is none).
    newer_after: int | None
    older_before: int | None


def _filtered(user: User, filters: RawEventFilters) -> QuerySet[RawEvent]:
    events = scoped(RawEvent, user.organization)
    if filters.status:
        events = events.filter(status=filters.status)
    if filters.webhook_id is not None:
        events = events.filter(webhook_id=filters.webhook_id)
    if filters.since is not None:
        events = events.filter(received_at__gte=filters.since)
    if filters.until is not None:
        events = events.filter(received_at__lt=filters.until)
    return events


def raw_event_list(
    *,
    user: User,
    filters: RawEventFilters | None = None,
    before: int | None = None,
    after: int | None = None,
    page_size: int = PAGE_SIZE,
) -> RawEventPage:
    """One page of raw events (owners only), newest first: the newest, those older than
    `before`, or those just newer than `after`."""
    _require_owner(user)
    events = _filtered(user, filters or RawEventFilters())
    listed = events.select_related("webhook", "incident").defer("body", "headers", "result")
    if after is not None:
        rows = list(listed.filter(id__gt=after).order_by("id")[: page_size + 1])
        has_newer, rows = len(rows) > page_size, rows[:page_size][::-1]
        has_older = events.filter(id__lte=after).exists()
    else:
        if before is not None:
            listed = listed.filter(id__lt=before)
        rows = list(listed.order_by("-id")[: page_size + 1])
        has_older, rows = len(rows) > page_size, rows[:page_size]
        has_newer = before is not None and events.filter(id__gte=before).exists()
    return RawEventPage(
        events=rows,
        newer_after=rows[0].pk if rows and has_newer else None,
        older_before=rows[-1].pk if rows and has_older else None,
    )


def raw_event_get(*, user: User, raw_event_id: int) -> RawEvent:
    """One raw event (owners only), or 404 (also for other organizations' ids)."""
    _require_owner(user)
    return get_for_org_or_404(
        RawEvent.objects.select_related("webhook", "incident", "reference"),
        user.organization,
        pk=raw_event_id,
    )
