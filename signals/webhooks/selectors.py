"""Reads of webhooks: everyone sees them (raw events: signals/receiver/selectors.py)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from opsduty.models import Organization, Service, User
from opsduty.selectors import can_see_routing_key, service_visible_list
from opsduty.tenancy import get_for_org_or_404, scoped
from signals.models import RawEvent, Webhook

RECENT = timedelta(hours=24)


def webhook_list(*, organization: Organization) -> QuerySet[Webhook]:
    """The organization's webhooks, oldest first, with `recent_events` (last 24 h)."""
    since = timezone.now() - RECENT
    # Counted per webhook over the index (webhook, received_at), not by joining every raw
    # event the organization ever received and grouping.
    recent = (
        RawEvent.objects.filter(webhook=OuterRef("pk"), received_at__gte=since)
        .order_by()
        .values("webhook")
        .annotate(count=Count("*"))
        .values("count")
    )
    return (
        scoped(Webhook, organization)
        .select_related("receive_channel")
        .annotate(recent_events=Coalesce(Subquery(recent), 0))
        .order_by("name", "id")
    )


def webhook_get(*, user: User, webhook_id: int) -> Webhook:
    """One webhook of the user's organization, or 404 (also for other organizations' ids)."""
    return get_for_org_or_404(Webhook, user.organization, pk=webhook_id)


def webhook_target_services(*, user: User) -> QuerySet[Service]:
    """Services whose routing key the user may see (so may send events to): none for
    stakeholders, their teams' for members, all for owners."""
    if not can_see_routing_key(user):
        return Service.objects.none()
    return service_visible_list(user=user).select_related("team").order_by("name", "id")
