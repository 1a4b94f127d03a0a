"""Reads of the public page: only what visitors may see (docs/status-pages.md, "The public
page"). Never drafts, updates not yet visible, unpublished postmortems, disabled pages.

Every read starts from a page (found by slug or by the custom domain's page id, enabled
only), and everything below it is read through that page: a notice id of another page, or
of another organization, is simply not found.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from statuspages.markdown import markdown_html
from statuspages.models import (
    CLOSED_STATUSES,
    PLANNED_STATUSES,
    STATUS_SEVERITY,
    Component,
    ComponentGroup,
    ComponentStatus,
    Notice,
    NoticeStatus,
    NoticeUpdate,
    Postmortem,
    StatusPage,
)
from statuspages.uptime import Day, Uptime, uptimes

HISTORY_PER_PAGE = 10
HISTORY_ON_FRONT = 5
HEADLINES = {
    ComponentStatus.OPERATIONAL: "All systems operational",
    ComponentStatus.UNDER_MAINTENANCE: "Maintenance in progress",
    ComponentStatus.DEGRADED_PERFORMANCE: "Degraded performance",
    ComponentStatus.PARTIAL_OUTAGE: "Partial outage",
    ComponentStatus.MAJOR_OUTAGE: "Major outage",
}


def public_page_get(*, slug: str | None = None, page_id: int | None = None) -> StatusPage | None:
    """The enabled page of this slug (or of this id: a custom domain's page); None if none."""
    pages = StatusPage.objects.filter(enabled=True)
    if slug is not None:
        return pages.filter(slug=slug).first()
    if page_id is not None:
        return pages.filter(pk=page_id).first()
    return None


def page_id_for_domain(domain: str) -> int | None:
    """The page served at this custom domain (lower case, no port), enabled or not."""
    return StatusPage.objects.filter(domain=domain).values_list("pk", flat=True).first()


# Class names of the bars' colors.
BAR_CLASSES = {
    ComponentStatus.OPERATIONAL: "ok",
    ComponentStatus.UNDER_MAINTENANCE: "um",
    ComponentStatus.DEGRADED_PERFORMANCE: "dp",
    ComponentStatus.PARTIAL_OUTAGE: "po",
    ComponentStatus.MAJOR_OUTAGE: "mo",
}


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def _day_text(day: Day) -> str:
    parts = [f"{day.day:%Y-%m-%d}: worst {ComponentStatus(day.worst).label.lower()}"]
    if day.downtime_seconds:
        parts.append(f"{_duration(day.downtime_seconds)} of downtime")
    if day.maintenance_seconds:
        parts.append(f"{_duration(day.maintenance_seconds)} of maintenance")
    return ", ".join(parts)


def _bars_svg(uptime: Uptime) -> SafeString:
    """The bars of the window's days as one SVG: a green bar under all of them, a path per
    status over the days it colors (a run of equal days is one rectangle), and the gaps
    between days drawn by one pattern (front.html). A day is one unit of the view box."""
    paths: dict[str, list[str]] = {}
    run_code, run_start, run_length = "", 0, 0

    def close() -> None:
        if run_length:
            paths.setdefault(run_code, []).append(f"M{run_start} 0h{run_length}v1h-{run_length}z")

    for index in sorted(uptime.touched):
        code = BAR_CLASSES[ComponentStatus(uptime.touched[index].worst)]
        if code == run_code and index == run_start + run_length:
            run_length += 1
            continue
        close()
        run_code, run_start, run_length = code, index, 1
    close()
    count = uptime.day_count
    drawn = "".join(f'<path class="{code}" d="{"".join(d)}"/>' for code, d in paths.items())
    return mark_safe(  # noqa: S308 - numbers and fixed class names only
        f'<svg class="bars" viewBox="0 0 {count} 1" preserveAspectRatio="none" '
        f'aria-hidden="true" focusable="false"><rect class="ok" width="{count}" height="1"/>'
        f'{drawn}<rect class="gaps" width="{count}" height="1"/></svg>'
    )


@dataclass
class ComponentView:
    component: Component
    status: str
    status_label: str
    uptime: Uptime | None = None

    @property
    def percent(self) -> float | None:
        return self.uptime.percent if self.uptime is not None else None

    @property
    def bad_days(self) -> list[str]:
        """The days with downtime or maintenance, oldest first (what the bars show, in words:
        the bars themselves are hidden from screen readers)."""
        if self.uptime is None:
            return []
        return [_day_text(self.uptime.touched[n]) for n in sorted(self.uptime.touched)]

    @property
    def bars_html(self) -> SafeString:
        """The bars and, below them, the list of their bad days; built here rather than by
        the template (a loop over some 500 days on a page of 50 components was a third of
        the page's render)."""
        if self.uptime is None:
            return mark_safe("")
        bad = self.bad_days
        if not bad:
            return _bars_svg(self.uptime)
        items = "".join(f"<li>{escape(text)}</li>" for text in bad)
        plural = "" if len(bad) == 1 else "s"
        return mark_safe(  # noqa: S308 - escaped text, numbers and fixed markup only
            f'{_bars_svg(self.uptime)}<details class="bad-days"><summary>{len(bad)} day{plural} '
            f"with downtime or maintenance</summary><ul>{items}</ul></details>"
        )


@dataclass
class GroupView:
    group: ComponentGroup
    components: list[ComponentView]


@dataclass
class UpdateView:
    update: NoticeUpdate
    status_label: str
    html: str
    at: datetime


@dataclass
class NoticeView:
    notice: Notice
    status_label: str
    impact_label: str
    component_names: list[str]
    updates: list[UpdateView]
    body_html: str
    postmortem: Postmortem | None = None
    postmortem_html: str = ""

    @property
    def last_at(self) -> datetime:
        times = [u.at for u in self.updates] + [self.notice.created_at]
        if self.postmortem is not None and self.postmortem.published_at is not None:
            times.append(self.postmortem.published_at)
        return max(times)


@dataclass
class FrontView:
    page: StatusPage
    status: str
    headline: str
    groups: list[GroupView]
    open_notices: list[NoticeView]
    maintenance: list[NoticeView]
    history: list[NoticeView]
    more_history: bool


def _visible_notices(page: StatusPage) -> QuerySet[Notice]:
    updates = NoticeUpdate.objects.filter(visible=True, published_at__isnull=False).order_by(
        "-published_at", "-id"
    )
    return (
        Notice.objects.filter(status_page=page, draft=False)
        .prefetch_related(Prefetch("updates", queryset=updates))
        .prefetch_related(Prefetch("components", queryset=Component.objects.only("id", "name")))
        .order_by("-created_at", "-id")
    )


def _update_view(update: NoticeUpdate) -> UpdateView:
    status = update.status or update.requested_status
    label = NoticeStatus(status).label if status else "Update"
    at = update.published_at or update.created_at
    return UpdateView(update=update, status_label=label, html=markdown_html(update.body), at=at)


def _notice_view(notice: Notice, postmortem: Postmortem | None = None) -> NoticeView:
    return NoticeView(
        notice=notice,
        status_label=notice.get_status_display(),
        impact_label=notice.get_impact_display(),
        component_names=[c.name for c in notice.components.all()],
        # Prefetched with the visible updates only (`_visible_notices`).
        updates=[_update_view(u) for u in notice.updates.all()],
        body_html=markdown_html(notice.body),
        postmortem=postmortem,
        postmortem_html=markdown_html(postmortem.body) if postmortem is not None else "",
    )


def _worst(statuses: list[str]) -> str:
    if not statuses:
        return ComponentStatus.OPERATIONAL
    return max(statuses, key=lambda s: STATUS_SEVERITY[ComponentStatus(s)])


def _groups(page: StatusPage, now: datetime) -> list[GroupView]:
    components = list(
        Component.objects.filter(status_page=page)
        .select_related("group")
        .order_by("group__order", "position", "id")
    )
    figures = uptimes([c.pk for c in components], now) if page.calculate_uptime else {}
    groups: dict[int, GroupView] = {}
    for component in components:
        view = ComponentView(
            component=component,
            status=component.shown_status,
            status_label=ComponentStatus(component.shown_status).label,
        )
        view.uptime = figures.get(component.pk)
        group = groups.setdefault(component.group_id, GroupView(component.group, []))
        group.components.append(view)
    return list(groups.values())


def front_view(page: StatusPage, now: datetime | None = None) -> FrontView:
    """Everything the page's front shows."""
    now = now or timezone.now()
    groups = _groups(page, now)
    status = _worst([c.status for g in groups for c in g.components])
    open_q = ~Q(status__in=CLOSED_STATUSES)
    current = [_notice_view(n) for n in _visible_notices(page).filter(open_q)]
    history = [
        _notice_view(n)
        for n in _visible_notices(page).filter(status__in=CLOSED_STATUSES)[: HISTORY_ON_FRONT + 1]
    ]
    return FrontView(
        page=page,
        status=status,
        headline=HEADLINES[ComponentStatus(status)],
        groups=groups,
        open_notices=[n for n in current if n.notice.status not in PLANNED_STATUSES],
        maintenance=sorted(
            (n for n in current if n.notice.status in PLANNED_STATUSES),
            key=lambda n: n.notice.scheduled_start or n.notice.created_at,
        ),
        history=history[:HISTORY_ON_FRONT],
        more_history=len(history) > HISTORY_ON_FRONT,
    )


@dataclass
class HistoryView:
    page: StatusPage
    notices: list[NoticeView]
    number: int
    pages: int


def history_view(page: StatusPage, number: int) -> HistoryView | None:
    """Closed notices, newest first, HISTORY_PER_PAGE a page; None past the last page."""
    closed = _visible_notices(page).filter(status__in=CLOSED_STATUSES)
    total = closed.count()
    pages = max(1, -(-total // HISTORY_PER_PAGE))
    if number < 1 or number > pages:
        return None
    start = (number - 1) * HISTORY_PER_PAGE
    notices = [_notice_view(n) for n in closed[start : start + HISTORY_PER_PAGE]]
    return HistoryView(page=page, notices=notices, number=number, pages=pages)


def notice_view(page: StatusPage, notice_id: int) -> NoticeView | None:
    """One notice of this page as visitors see it (with its published postmortem)."""
    notice = _visible_notices(page).filter(pk=notice_id).first()
    if notice is None:
        return None
    postmortem = Postmortem.objects.filter(notice=notice, published=True).first()
    return _notice_view(notice, postmortem)


def feed_notices(page: StatusPage, limit: int = 30) -> list[NoticeView]:
    """The newest notices for the feed, each with its published postmortem."""
    notices = list(_visible_notices(page)[:limit])
    postmortems = {
        p.notice_id: p
        for p in Postmortem.objects.filter(notice__in=[n.pk for n in notices], published=True)
    }
    return [_notice_view(n, postmortems.get(n.pk)) for n in notices]
