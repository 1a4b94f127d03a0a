"""Reads of status pages: the pages, groups, components and notices a person may see (every
member of the organization reads its pages; services.py says who changes them), the notice
filters of §D.2, the postmortem draft (S16) and the uptime (S17)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from escalations.notifications.models import Notification
from incidents.models import Incident, IncidentLogEntry, IncidentResponder, LogAction
from opsduty.models import Organization, Service, User
from opsduty.selectors import team_manageable_list
from opsduty.services import can_manage_team
from opsduty.tenancy import get_for_org_or_404, scoped
from statuspages.models import (
    CLOSED_STATUSES,
    DOWNTIME_STATUSES,
    PLANNED_STATUSES,
    STATUS_SEVERITY,
    Component,
    ComponentGroup,
    ComponentPeriod,
    ComponentStatus,
    Notice,
    NoticeUpdate,
    Postmortem,
    StatusPage,
    Subscriber,
)
from statuspages.uptime import Uptime, uptimes


def status_page_list(*, user: User) -> QuerySet[StatusPage]:
    """The organization's status pages, oldest first (everyone in it reads them)."""
    return scoped(StatusPage, user.organization).select_related("team").order_by("id")


def status_page_get(*, user: User, page_id: int) -> StatusPage:
    """One page of the user's organization, or 404 (also for other organizations' ids)."""
    return get_for_org_or_404(status_page_list(user=user), user.organization, pk=page_id)


def status_page_manageable(*, user: User) -> QuerySet[StatusPage]:
    """Pages the user may change (owners: all; members: their teams'; stakeholders: none)."""
    return status_page_list(user=user).filter(team__in=team_manageable_list(user=user))


def can_manage_page(user: User, page: StatusPage) -> bool:
    """Whether the user may change the page (the rule of `services.require_manage`)."""
    return can_manage_team(user, page.team)


def component_group_list(*, page: StatusPage) -> QuerySet[ComponentGroup]:
    """The page's groups as the page shows them (ascending order), component ids with them."""
    ordered = Component.objects.order_by("position", "pk").only("pk", "group_id")
    return (
        ComponentGroup.objects.filter(status_page=page)
        .prefetch_related(Prefetch("components", queryset=ordered))
        .order_by("order", "pk")
    )


def component_group_get(*, user: User, group_id: int) -> ComponentGroup:
    """One group of the user's organization (with its page), or 404."""
    groups = ComponentGroup.objects.select_related("status_page", "status_page__team")
    return get_for_org_or_404(groups, user.organization, pk=group_id)


def component_list(*, page: StatusPage) -> QuerySet[Component]:
    """The page's components as the page shows them: by group order, then position."""
    return (
        Component.objects.filter(status_page=page)
        .select_related("group")
        .prefetch_related(Prefetch("services", queryset=_service_ids()))
        .order_by("group__order", "position", "pk")
    )


def _service_ids() -> QuerySet[Service]:
    return Service.objects.only("pk").order_by("pk")


def component_get(*, user: User, component_id: int) -> Component:
    """One component of the user's organization (with its group and page), or 404."""
    components = Component.objects.select_related("group", "status_page", "status_page__team")
    return get_for_org_or_404(components, user.organization, pk=component_id)


@dataclass
class NoticeFilters:
    """§D.2: any of `status`, planned or unplanned, declared in [created_after,
    created_before), affecting `component_id`."""

    status: list[str] | None = None
    type: str | None = None  # "planned" | "unplanned"
    created_after: datetime | None = None
    created_before: datetime | None = None
    component_id: int | None = None


def notice_list(*, page: StatusPage, filters: NoticeFilters | None = None) -> QuerySet[Notice]:
    """The page's notices, drafts included, newest first, filtered."""
    filters = filters or NoticeFilters()
    conditions = Q(status_page=page)
    if filters.status:
        conditions &= Q(status__in=filters.status)
    if filters.type == "planned":
        conditions &= Q(status__in=PLANNED_STATUSES)
    elif filters.type == "unplanned":
        conditions &= ~Q(status__in=PLANNED_STATUSES)
    if filters.created_after is not None:
        conditions &= Q(created_at__gte=filters.created_after)
    if filters.created_before is not None:
        conditions &= Q(created_at__lt=filters.created_before)
    if filters.component_id is not None:
        conditions &= Q(
            pk__in=Notice.components.through.objects.filter(
                component_id=filters.component_id
            ).values("notice_id")
        )
    ordered = Component.objects.only("pk").order_by("pk")
    return (
        Notice.objects.filter(conditions)
        .prefetch_related(Prefetch("components", queryset=ordered))
        .order_by("-created_at", "-id")
    )


def notice_get(*, user: User, notice_id: int) -> Notice:
    """One notice of the user's organization (with its page), or 404."""
    notices = Notice.objects.select_related("status_page", "status_page__team")
    return get_for_org_or_404(notices, user.organization, pk=notice_id)


def notice_update_list(*, notice: Notice) -> QuerySet[NoticeUpdate]:
    """The notice's updates newest first, waiting (not yet visible) ones included."""
    return NoticeUpdate.objects.filter(notice=notice).order_by("-created_at", "-id")


def postmortem_get(*, notice: Notice) -> Postmortem | None:
    """The notice's postmortem, published or not; None when none was written."""
    return Postmortem.objects.filter(notice=notice).first()


def page_uptime(*, page: StatusPage, now: datetime | None = None) -> list[tuple[Component, Uptime]]:
    """Each component's 90-day uptime (statuspages/uptime.py), in the page's order."""
    components = list(component_list(page=page))
    figures = uptimes([c.pk for c in components], now or timezone.now())
    return [(c, figures[c.pk]) for c in components]


# The postmortem draft (S16)

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~&])")


def markdown_escape(text: str) -> str:
    """`text` as literal Markdown text (names, titles): no links, HTML or headings."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join((text or "").split()))


def _quote(text: str) -> str:
    """A body (Markdown already) as a block quote: it cannot end the list around it."""
    lines = (text or "").strip().splitlines() or [""]
    return "\n".join(f"> {line}" if line else ">" for line in lines)


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "not yet"


def duration_text(seconds: float) -> str:
    """A duration for people: `1 h 5 min 3 s`, `42 s`."""
    seconds = int(round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")]
    shown = [f"{value} {unit}" for value, unit in parts if value]
    return " ".join(shown) or "0 s"


def _overlap(start: datetime, end: datetime, low: datetime, high: datetime) -> float:
    return max(0.0, (min(end, high) - max(start, low)).total_seconds())


def component_downtimes(
    components: Iterable[Component], start: datetime, end: datetime
) -> dict[int, dict[str, float]]:
    """Seconds each component showed each non-operational status within [start, end)."""
    result: dict[int, dict[str, float]] = {c.pk: {} for c in components}
    periods = ComponentPeriod.objects.filter(
        component_id__in=list(result), started_at__lt=end
    ).exclude(Q(ended_at__lte=start) | Q(status=ComponentStatus.OPERATIONAL))
    for component_id, status, started_at, ended_at in periods.values_list(
        "component_id", "status", "started_at", "ended_at"
    ):
        seconds = _overlap(started_at, ended_at or end, start, end)
        if seconds:
            bucket = result[component_id]
            bucket[status] = bucket.get(status, 0.0) + seconds
    return result


def postmortem_draft(*, notice: Notice, now: datetime | None = None) -> str:
    """S16: starting Markdown from what is known (times, components and their downtime, who
    was paged, every update customers saw); nothing is saved. Names and titles are escaped,
    bodies quoted, so the Markdown renders as the text it holds (statuspages/markdown.py
    sanitizes it again when shown)."""
    now = now or timezone.now()
    end = notice.resolved_at or now
    lines = [f"# Postmortem: {markdown_escape(notice.title)}", "", "## Summary", ""]
    lines += [
        f"- Started: {_when(notice.created_at)}",
        f"- Ended: {_when(notice.resolved_at)}",
        f"- Duration: {duration_text((end - notice.created_at).total_seconds())}"
        + ("" if notice.resolved_at else " so far"),
        f"- Impact: {notice.get_impact_display()}",
        f"- Status: {notice.get_status_display()}",
        "",
    ]
    lines += _components_section(notice, end)
    if notice.incident_id is not None:
        lines += _response_section(notice.incident_id, now)
    lines += _timeline_section(notice)
    lines += ["## Root cause", "", "_To be written._", "", "## What we will change", ""]
    lines += ["_To be written._", ""]
    return "\n".join(lines)


def _components_section(notice: Notice, end: datetime) -> list[str]:
    components = list(notice.components.order_by("group__order", "position", "pk"))
    lines = ["## What was affected", ""]
    if not components:
        return [*lines, "No components were listed as affected.", ""]
    downtimes = component_downtimes(components, notice.created_at, end)
    lines += ["| Component | Down | Shown as |", "| --- | --- | --- |"]
    for component in components:
        shown = downtimes[component.pk]
        down = sum(s for status, s in shown.items() if status in DOWNTIME_STATUSES)
        detail = ", ".join(
            f"{ComponentStatus(status).label.lower()} {duration_text(seconds)}"
            for status, seconds in sorted(shown.items())
        )
        lines.append(
            f"| {markdown_escape(component.name)} | {duration_text(down)} | "
            f"{detail or 'operational'} |"
        )
    return [*lines, ""]


def _response_section(incident_id: int, now: datetime) -> list[str]:
    incident = Incident.objects.filter(pk=incident_id).select_related("service").first()
    if incident is None:
        return []
    lines = ["## Response", ""]
    lines.append(
        f"Operational incident \\#{incident.number} on {markdown_escape(incident.service.name)}: "
        f"{markdown_escape(incident.summary)}"
    )
    lines += ["", f"- Triggered: {_when(incident.created_at)}"]
    notifications = (
        Notification.objects.filter(incident=incident)
        .select_related("user")
        .order_by("due_at", "pk")
    )
    paged: dict[int, tuple[User, datetime, list[str]]] = {}
    for notification in notifications:
        at = notification.sent_at or notification.due_at
        entry = paged.setdefault(notification.user_id, (notification.user, at, []))
        if notification.channel not in entry[2]:
            entry[2].append(notification.channel)
    responders = IncidentResponder.objects.filter(incident=incident).select_related("user")
    for responder in responders:
        if responder.user_id not in paged and responder.last_notified is not None:
            paged[responder.user_id] = (responder.user, responder.last_notified, [])
    for user, at, channels in sorted(paged.values(), key=lambda p: p[1]):
        by = f" ({', '.join(channels)})" if channels else ""
        lines.append(f"- Paged {markdown_escape(user.get_full_name())} at {_when(at)}{by}")
    acked = (
        IncidentLogEntry.objects.filter(incident=incident, action=LogAction.ACKNOWLEDGED)
        .select_related("actor")
        .order_by("pk")
        .first()
    )
    if incident.acknowledged_at is not None:
        who = f" by {markdown_escape(acked.actor.get_full_name())}" if acked and acked.actor else ""
        took = duration_text((incident.acknowledged_at - incident.created_at).total_seconds())
        lines.append(
            f"- Acknowledged{who}: {_when(incident.acknowledged_at)} (time to acknowledge: {took})"
        )
    else:
        lines.append("- Acknowledged: not acknowledged")
    if incident.resolved_at is not None:
        took = duration_text((incident.resolved_at - incident.created_at).total_seconds())
        lines.append(f"- Resolved: {_when(incident.resolved_at)} (time to resolve: {took})")
    else:
        lines.append(f"- Resolved: not yet ({_when(now)})")
    return [*lines, ""]


def _timeline_section(notice: Notice) -> list[str]:
    updates = NoticeUpdate.objects.filter(notice=notice, visible=True).order_by(
        "published_at", "created_at", "pk"
    )
    lines = ["## Timeline", ""]
    for update in updates:
        label = f" {update.get_status_display()}" if update.status else ""
        lines.append(f"- {_when(update.published_at or update.created_at)}:{label}")
        if update.body.strip():
            lines += ["", _quote(update.body), ""]
    if len(lines) == 2:
        lines.append("No updates were shown to customers.")
    return [*lines, ""]


# The team's pages (statuspages/views/)


def page_headlines(*, page_ids: Iterable[int]) -> dict[int, str]:
    """The worst status the components of each page show (`operational` without any)."""
    worst: dict[int, str] = {pk: ComponentStatus.OPERATIONAL for pk in page_ids}
    shown = (
        Component.objects.filter(status_page_id__in=list(worst))
        .values_list("status_page_id", "shown_status")
        .distinct()
    )
    for page_id, status in shown:
        severity = STATUS_SEVERITY
        if severity[ComponentStatus(status)] > severity[ComponentStatus(worst[page_id])]:
            worst[page_id] = status
    return worst


def page_open_notice_counts(*, page_ids: Iterable[int]) -> dict[int, int]:
    """How many open, published notices each page has."""
    rows = (
        Notice.objects.filter(status_page_id__in=list(page_ids), draft=False)
        .exclude(status__in=CLOSED_STATUSES)
        .values("status_page_id")
        .annotate(n=Count("pk"))
        .values_list("status_page_id", "n")
    )
    return dict(rows)


def component_group_tree(*, page: StatusPage) -> QuerySet[ComponentGroup]:
    """The page's groups in order, each with its components in order and their services."""
    components = Component.objects.order_by("position", "pk").prefetch_related(
        Prefetch("services", queryset=Service.objects.order_by("name", "pk"))
    )
    return (
        ComponentGroup.objects.filter(status_page=page)
        .prefetch_related(Prefetch("components", queryset=components))
        .order_by("order", "pk")
    )


def subscriber_addresses(organization: Organization) -> list[str]:
    """Every address following one of the organization's status pages, confirmed or not."""
    return list(Subscriber.objects.for_org(organization).values_list("email", flat=True))
