"""Writes of status pages: pages, component groups and components, notices and their
updates, planned maintenance, postmortems (docs/status-pages.md).

Permission: owners and members of the page's team manage a page (`can_manage_team`);
everyone else in the organization reads it (selectors.py). `by=None` means the system (the
tasks, seed_demo). A refused rule is a Django `ValidationError` (422 in the API), a refused
person a `PermissionDenied` (403).

Every change customers can see calls `events.page_touched`; a component's shown status is
only ever changed through `periods.components_show` (`_components_refresh` here decides what
each must show).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TypeVar

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.http import Http404
from django.utils import timezone

from incidents.models import Incident
from incidents.services import incident_add_note
from opsduty.models import Organization, Service, Team, User
from opsduty.queue import enqueue_or_sweep
from opsduty.services import can_manage_team
from statuspages.events import Announcement, Kind, announce, page_touched
from statuspages.models import (
    CLOSED_STATUSES,
    IMPACT_STATUS,
    PLANNED_STATUSES,
    STATUS_SEVERITY,
    AccessMode,
    Component,
    ComponentGroup,
    ComponentStatus,
    Impact,
    Notice,
    NoticeStatus,
    NoticeUpdate,
    Postmortem,
    StatusPage,
)
from statuspages.periods import component_period_open, components_show


class Movement:
    """`OrderedModelMovement` of §D.3."""

    TOP = "top"
    UP = "up"
    DOWN = "down"
    BOTTOM = "bottom"
    ALL = ("top", "up", "down", "bottom")


# Planned work that is under way: its synced components show `under_maintenance`.
MAINTENANCE_ACTIVE = frozenset({NoticeStatus.IN_PROGRESS, NoticeStatus.VERIFYING})
_Ordered = TypeVar("_Ordered", ComponentGroup, Component)
UPDATE_APPLY_TASK = "statuspages.update_apply"
NOTICE_ADVANCE_TASK = "statuspages.notice_advance"


def require_manage(by: User | None, page: StatusPage) -> None:
    """Owners and members of the page's team manage it; stakeholders and others only read."""
    if by is not None and not can_manage_team(by, page.team):
        raise PermissionDenied("Only owners and members of the page's team can change it.")


def _text(value: str, field: str, limit: int, *, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValidationError({field: "This field may not be blank."})
    if len(value) > limit:
        raise ValidationError({field: f"Ensure this field has no more than {limit} characters."})
    return value


def _choice(value: str, field: str, choices: Iterable[str]) -> str:
    if value not in set(choices):
        raise ValidationError({field: f"{value!r} is not a valid choice."})
    return value


def _lock_page(page: StatusPage) -> StatusPage:
    return StatusPage.objects.select_for_update().get(pk=page.pk)


def _lock_group(group_id: int) -> ComponentGroup:
    """The group row, locked (one writer of its positions), or 404 when it is gone."""
    group = ComponentGroup.objects.select_for_update().filter(pk=group_id).first()
    if group is None:
        raise Http404("Not found.")  # deleted by someone else meanwhile
    return group


# Pages


@transaction.atomic
def status_page_create(
    *,
    organization: Organization,
    team: Team,
    by: User | None,
    name: str,
    slug: str,
    domain: str = "",
    description: str = "",
    access_mode: str = AccessMode.PUBLIC,
    calculate_uptime: bool = True,
    enabled: bool = True,
) -> StatusPage:
    """Create a page owned by `team` (its members and the owners manage it)."""
    if team.organization_id != organization.id:
        raise ValidationError({"team": "Unknown team."})
    page = StatusPage(organization=organization, team=team)
    if by is not None and not can_manage_team(by, team):
        raise PermissionDenied("Only owners and members of the team can make its status page.")
    _page_fill(page, name, slug, domain, description, access_mode, calculate_uptime, enabled)
    page.save()
    return page


@transaction.atomic
def status_page_update(
    *,
    page: StatusPage,
    by: User | None,
    name: str,
    slug: str,
    domain: str = "",
    description: str = "",
    access_mode: str = AccessMode.PUBLIC,
    calculate_uptime: bool = True,
    enabled: bool = True,
    team: Team | None = None,
) -> StatusPage:
    """Change a page's settings (and, for who manages both teams, its owning team)."""
    require_manage(by, page)
    page = _lock_page(page)
    if team is not None and team.pk != page.team_id:
        if team.organization_id != page.organization_id:
            raise ValidationError({"team": "Unknown team."})
        if by is not None and not can_manage_team(by, team):
            raise PermissionDenied("You cannot give the page to a team you do not manage.")
        page.team = team
    _page_fill(page, name, slug, domain, description, access_mode, calculate_uptime, enabled)
    page.save()
    page_touched(page.pk)
    page.refresh_from_db(fields=["version"])
    return page


@transaction.atomic
def status_page_secret_rotate(*, page: StatusPage, by: User | None) -> str:
    """A new HMAC key for the visitors' signed tokens of a `custom_backend` page, stored
    encrypted; the caller shows it once (it is never readable again, nor logged)."""
    require_manage(by, page)
    page = _lock_page(page)
    if page.access_mode != AccessMode.CUSTOM_BACKEND:
        raise ValidationError(
            {"access_mode": "Only a page signed in through your own login has a secret."}
        )
    secret = secrets.token_urlsafe(32)
    page.access_secret = secret
    page.save(update_fields=["access_secret"])
    page_touched(page.pk)  # tokens signed with the old key stop working now
    return secret


def _page_fill(
    page: StatusPage,
    name: str,
    slug: str,
    domain: str,
    description: str,
    access_mode: str,
    calculate_uptime: bool,
    enabled: bool,
) -> None:
    page.name = _text(name, "name", 200)
    page.slug = _text(slug, "slug", 64).lower()
    page.domain = _text(domain, "domain", 253, required=False).lower()
    page.description = description or ""
    page.access_mode = _choice(access_mode, "access_mode", AccessMode.values)
    page.calculate_uptime, page.enabled = calculate_uptime, enabled
    page.full_clean(exclude=["organization", "team", "access_secret", "version"])


# Component groups


@transaction.atomic
def component_group_create(
    *, page: StatusPage, by: User | None, name: str, description: str = ""
) -> ComponentGroup:
    """Add a group at the bottom of the page (order = highest + 1, 0 for the first)."""
    require_manage(by, page)
    page = _lock_page(page)  # one writer of the page's orders at a time
    top = ComponentGroup.objects.filter(status_page=page).aggregate(top=Max("order"))["top"]
    group = ComponentGroup.objects.create(
        organization_id=page.organization_id,
        status_page=page,
        name=_text(name, "name", 200),
        description=description or "",
        order=0 if top is None else top + 1,
    )
    page_touched(page.pk)
    return group


@transaction.atomic
def component_group_update(
    *, group: ComponentGroup, by: User | None, name: str, description: str = ""
) -> ComponentGroup:
    """Rename a group or change its description; its order and components stay."""
    require_manage(by, group.status_page)
    group.name = _text(name, "name", 200)
    group.description = description or ""
    if not ComponentGroup.objects.filter(pk=group.pk).update(
        name=group.name, description=group.description
    ):
        raise Http404("Not found.")  # deleted by someone else meanwhile
    page_touched(group.status_page_id)
    return group


@transaction.atomic
def component_group_delete(*, group: ComponentGroup, by: User | None) -> None:
    """Delete a group and its components: notices stop listing them (their links go with
    them), and the groups below move up (orders stay 0..n-1)."""
    page = group.status_page
    require_manage(by, page)
    _lock_page(page)
    if not ComponentGroup.objects.filter(pk=group.pk).exists():
        raise Http404("Not found.")  # deleted by someone else meanwhile
    ids = list(Component.objects.filter(group=group).values_list("pk", flat=True))
    Notice.components.through.objects.filter(component_id__in=ids).delete()
    group.delete()
    _renumber(list(ComponentGroup.objects.filter(status_page=page).order_by("order", "pk")))
    page_touched(page.pk)


def _moved(items: list[_Ordered], index: int, movement: str) -> list[_Ordered]:
    _choice(movement, "movement", Movement.ALL)
    item = items.pop(index)
    target = {
        Movement.TOP: 0,
        Movement.BOTTOM: len(items),
        Movement.UP: max(0, index - 1),
        Movement.DOWN: min(len(items), index + 1),
    }[movement]
    items.insert(target, item)
    return items


def _index(items: Sequence[ComponentGroup] | Sequence[Component], pk: int) -> int:
    for number, item in enumerate(items):
        if item.pk == pk:
            return number
    raise Http404("Not found.")  # deleted by someone else meanwhile


def _renumber(items: Sequence[ComponentGroup] | Sequence[Component]) -> None:
    """Number `items` 0..n-1 in their order (the unique constraints are deferred)."""
    for number, item in enumerate(items):
        field = "order" if isinstance(item, ComponentGroup) else "position"
        if getattr(item, field) != number:
            setattr(item, field, number)
            item.save(update_fields=[field])


@transaction.atomic
def component_group_move(
    *, group: ComponentGroup, by: User | None, movement: str
) -> ComponentGroup:
    """Move a group up/down (swap with its neighbour) or to the top/bottom; past an end it
    stays where it is."""
    page = group.status_page
    require_manage(by, page)
    _lock_page(page)
    groups = list(ComponentGroup.objects.filter(status_page=page).order_by("order", "pk"))
    index = _index(groups, group.pk)
    _renumber(_moved(groups, index, movement))
    page_touched(page.pk)
    group.refresh_from_db()
    return group


# Components


def _services(organization_id: int, services: Iterable[Service | int]) -> list[Service]:
    ids = {s if isinstance(s, int) else s.pk for s in services}
    found = list(Service.objects.filter(organization_id=organization_id, pk__in=ids))
    if len(found) != len(ids):
        raise ValidationError({"service_ids": "Unknown service."})
    return found


@transaction.atomic
def component_create(
    *,
    group: ComponentGroup,
    by: User | None,
    name: str,
    description: str = "",
    services: Iterable[Service | int] = (),
) -> Component:
    """Add a component at the end of its group, showing `operational` from now (its first
    period)."""
    require_manage(by, group.status_page)
    group = _lock_group(group.pk)
    linked = _services(group.organization_id, services)
    top = Component.objects.filter(group=group).aggregate(top=Max("position"))["top"]
    component = Component.objects.create(
        organization_id=group.organization_id,
        group=group,
        status_page_id=group.status_page_id,
        name=_text(name, "name", 200),
        description=description or "",
        position=0 if top is None else top + 1,
    )
    component.services.set(linked)
    component_period_open(component, timezone.now())
    page_touched(group.status_page_id)
    return component


@transaction.atomic
def component_update(
    *,
    component: Component,
    by: User | None,
    name: str,
    description: str = "",
    services: Iterable[Service | int] | None = None,
) -> Component:
    """Rename a component, change its description and (when given) the services it stands
    for (services of the same organization)."""
    require_manage(by, component.status_page)
    component.name = _text(name, "name", 200)
    component.description = description or ""
    component.save(update_fields=["name", "description"])
    if services is not None:
        component.services.set(_services(component.organization_id, services))
    page_touched(component.status_page_id)
    return component


@transaction.atomic
def component_delete(*, component: Component, by: User | None) -> None:
    """Delete a component (notices stop listing it); the ones below it move up."""
    require_manage(by, component.status_page)
    group = _lock_group(component.group_id)
    if not Component.objects.filter(pk=component.pk).exists():
        raise Http404("Not found.")
    component.delete()
    _renumber(list(Component.objects.filter(group=group).order_by("position", "pk")))
    page_touched(group.status_page_id)


@transaction.atomic
def component_move(*, component: Component, by: User | None, movement: str) -> Component:
    """Move a component within its group (top, up, down, bottom)."""
    require_manage(by, component.status_page)
    group = _lock_group(component.group_id)
    components = list(Component.objects.filter(group=group).order_by("position", "pk"))
    index = _index(components, component.pk)
    _renumber(_moved(components, index, movement))
    page_touched(group.status_page_id)
    component.refresh_from_db()
    return component


@transaction.atomic
def component_status_set(*, component: Component, by: User | None, status: str) -> Component:
    """S8: store what the component does without a notice; it shows unless an open synced
    notice covers it (that notice's status wins until it closes)."""
    require_manage(by, component.status_page)
    _choice(status, "status", ComponentStatus.values)
    if not Component.objects.filter(pk=component.pk).update(manual_status=status):
        raise Http404("Not found.")  # deleted by someone else meanwhile
    _components_refresh([component.pk], timezone.now())
    page_touched(component.status_page_id)
    return Component.objects.get(pk=component.pk)


def notice_component_status(notice: Notice) -> str | None:
    """What `notice` makes its synced components show now, or None (not synced, a draft,
    closed, or planned work not under way)."""
    if not notice.sync_component_status or notice.draft or notice.status in CLOSED_STATUSES:
        return None
    if notice.status in PLANNED_STATUSES:
        return ComponentStatus.UNDER_MAINTENANCE if notice.status in MAINTENANCE_ACTIVE else None
    return IMPACT_STATUS[Impact(notice.impact)]


def _components_refresh(component_ids: Iterable[int], at: datetime) -> list[int]:
    """Make each component show the worst status of the open, published, synced notices
    covering it, else its manual status (through `components_show`, the one writer)."""
    ids = sorted(set(component_ids))
    if not ids:
        return []
    manual = dict(Component.objects.filter(pk__in=ids).values_list("pk", "manual_status"))
    driven: dict[int, str] = {}
    covering = Notice.objects.filter(
        components__in=ids, sync_component_status=True, draft=False
    ).exclude(status__in=CLOSED_STATUSES)
    for notice in covering.prefetch_related("components").distinct():
        status = notice_component_status(notice)
        if status is None:
            continue
        for component in notice.components.all():
            current = driven.get(component.pk)
            if (
                current is None
                or STATUS_SEVERITY[ComponentStatus(status)]
                > STATUS_SEVERITY[ComponentStatus(current)]
            ):
                driven[component.pk] = status
    wanted = {pk: driven.get(pk, manual[pk]) for pk in manual}
    return components_show(wanted, at)


# Notices


def _lock_notice(notice: Notice) -> Notice:
    return Notice.objects.select_for_update().select_related("status_page").get(pk=notice.pk)


def _page_component_ids(page: StatusPage, component_ids: Iterable[int]) -> list[int]:
    ids = sorted(set(component_ids))
    found = set(Component.objects.filter(status_page=page, pk__in=ids).values_list("pk", flat=True))
    if found != set(ids):
        raise ValidationError({"component_ids": "Components must be on this status page."})
    return ids


@transaction.atomic
def notice_declare(
    *,
    page: StatusPage,
    by: User | None,
    title: str,
    status: str = NoticeStatus.INVESTIGATING,
    impact: str = Impact.MINOR,
    body: str = "",
    component_ids: Sequence[int] | None = None,
    incident: Incident | None = None,
    derive_affected_components: bool = False,
    sync_component_status: bool = False,
    published: bool = True,
    scheduled_start: datetime | None = None,
    scheduled_end: datetime | None = None,
) -> Notice:
    """S10: declare a notice (or planned maintenance: a planned status with its window); a
    draft (`published=False`) shows nothing and leaves the components alone until
    `notice_publish`. The opening body and status are its first update."""
    require_manage(by, page)
    _choice(status, "status", NoticeStatus.values)
    _choice(impact, "impact", Impact.values)
    if incident is not None and incident.organization_id != page.organization_id:
        raise ValidationError({"incident_group_id": "Unknown incident."})
    if component_ids is not None:
        ids = _page_component_ids(page, component_ids)
    elif derive_affected_components:
        if incident is None:
            raise ValidationError(
                {"derive_affected_components": "Needs incident_group_id (the linked incident)."}
            )
        ids = list(
            Component.objects.filter(status_page=page, services=incident.service_id)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    else:
        ids = []
    if scheduled_start and scheduled_end and scheduled_end <= scheduled_start:
        raise ValidationError({"scheduled_end": "The end must be after the start."})
    now = timezone.now()
    notice = Notice.objects.create(
        organization_id=page.organization_id,
        status_page=page,
        title=_text(title, "title", 255),
        body=body or "",
        status=status,
        impact=impact,
        sync_component_status=sync_component_status,
        draft=not published,
        incident=incident,
        created_at=now,
        scheduled_start=scheduled_start,
        scheduled_end=scheduled_end,
    )
    notice.components.set(ids)
    opening = NoticeUpdate.objects.create(
        organization_id=notice.organization_id,
        notice=notice,
        body=notice.body,
        requested_status=status,
        status=status,
        visible=published,
        published_at=now if published else None,
        created_at=now,
    )
    if published:
        _notice_went_public(notice, opening, by, now)
    return notice


def _notice_went_public(
    notice: Notice, opening: NoticeUpdate, by: User | None, now: datetime
) -> None:
    """A notice was published (declared so, or S11): status timestamps, planned work that
    is already due, components, the linked incident's timeline, the page, subscribers."""
    _status_stamps(notice, now)
    notice.save()
    announce(Announcement(Kind.NOTICE_PUBLISHED, notice, opening))
    _maintenance_advance(notice, by, now)
    _components_refresh(notice.components.values_list("pk", flat=True), now)
    _due_schedule(notice)
    if notice.incident_id is not None:
        incident = Incident.objects.get(pk=notice.incident_id)
        incident_add_note(
            incident=incident,
            by=by,
            text=f"Customers were told on the status page {notice.status_page.name}: "
            f"{notice.title} ({notice.get_status_display()}).",
        )
    page_touched(notice.status_page_id)


def _status_stamps(notice: Notice, now: datetime) -> None:
    if notice.status == NoticeStatus.MONITORING and notice.monitoring_at is None:
        notice.monitoring_at = now
    if notice.status in CLOSED_STATUSES:
        notice.resolved_at = notice.resolved_at or now
    else:
        notice.resolved_at = None
    notice.due_at = _next_due(notice)


def _next_due(notice: Notice) -> datetime | None:
    """When planned work must move by itself next (start, then end); None otherwise."""
    if notice.draft:
        return None
    if notice.status == NoticeStatus.SCHEDULED:
        return notice.scheduled_start
    if notice.status in MAINTENANCE_ACTIVE:
        return notice.scheduled_end
    return None


def _due_schedule(notice: Notice) -> None:
    due, notice_id = notice.due_at, notice.pk
    if due is not None:
        transaction.on_commit(lambda: enqueue_or_sweep(NOTICE_ADVANCE_TASK, (notice_id,), eta=due))


@transaction.atomic
def notice_publish(*, notice: Notice, by: User | None) -> Notice:
    """S11: put a draft on the page, dated from now; a published notice is unchanged."""
    require_manage(by, notice.status_page)
    notice = _lock_notice(notice)
    if not notice.draft:
        return notice
    now = timezone.now()
    notice.draft, notice.created_at = False, now
    waiting = NoticeUpdate.objects.filter(notice=notice, visible=False, display_at__isnull=True)
    waiting.update(visible=True, published_at=now, created_at=now)
    opening = NoticeUpdate.objects.filter(notice=notice).order_by("created_at", "pk").first()
    assert opening is not None
    _notice_went_public(notice, opening, by, now)
    return notice


def _status_apply(notice: Notice, status: str, now: datetime) -> None:
    """Move the locked notice to `status` (timestamps, due time, components)."""
    if status and status != notice.status:
        notice.status = status
        _status_stamps(notice, now)
        notice.save()
        _components_refresh(notice.components.values_list("pk", flat=True), now)
        _due_schedule(notice)


@transaction.atomic
def notice_update_post(
    *,
    notice: Notice,
    by: User | None,
    body: str,
    status: str | None = None,
    display_at: datetime | None = None,
) -> NoticeUpdate:
    """S13: post an update to a published notice, moving it to `status`; a future
    `display_at` waits (not visible, the status unchanged) until that time."""
    require_manage(by, notice.status_page)
    if status is not None:
        _choice(status, "status", NoticeStatus.values)
    notice = _lock_notice(notice)
    if notice.draft:
        raise ValidationError("Publish the incident before posting updates to it.")
    now = timezone.now()
    waits = display_at is not None and display_at > now
    update = NoticeUpdate.objects.create(
        organization_id=notice.organization_id,
        notice=notice,
        body=_text(body, "body", 100_000, required=False),
        requested_status=status or "",
        # The notice's status right after posting (a waiting update's changes nothing yet).
        status=notice.status,
        visible=not waits,
        display_at=display_at,
        published_at=None if waits else now,
        created_at=now,
    )
    if waits:
        update_id = update.pk
        transaction.on_commit(
            lambda: enqueue_or_sweep(UPDATE_APPLY_TASK, (update_id,), eta=display_at)
        )
        return update
    _update_published(notice, update, now)
    return update


def _update_published(notice: Notice, update: NoticeUpdate, now: datetime) -> None:
    _status_apply(notice, update.requested_status, now)
    update.status = notice.status
    update.save(update_fields=["status"])
    page_touched(notice.status_page_id)
    announce(Announcement(Kind.UPDATE_VISIBLE, notice, update))


@transaction.atomic
def notice_update_apply(*, update_id: int, now: datetime | None = None) -> bool:
    """Show a waiting update whose time has come and apply its status (system). Exactly
    once: the ETA task and the sweeper may both call it; SKIP LOCKED plus the state check
    make the second call a no-op."""
    now = now or timezone.now()
    update = (
        NoticeUpdate.objects.select_for_update(skip_locked=True)
        .filter(pk=update_id, visible=False, display_at__lte=now, notice__draft=False)
        .first()
    )
    if update is None:
        return False
    notice = _lock_notice(update.notice)
    update.visible, update.published_at = True, now
    update.save(update_fields=["visible", "published_at"])
    _update_published(notice, update, now)
    return True


def notice_updates_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Ids of waiting updates whose `display_at` has passed (for the sweeper)."""
    now = now or timezone.now()
    return list(
        NoticeUpdate.objects.filter(visible=False, display_at__lte=now, notice__draft=False)
        .order_by("display_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


# Planned maintenance


def _maintenance_advance(notice: Notice, by: User | None, now: datetime) -> bool:
    """Move locked planned work that is due: scheduled -> in progress at its start, in
    progress -> completed at its end (each a visible update). Answers whether it moved."""
    moved = False
    steps = (
        (NoticeStatus.SCHEDULED, notice.scheduled_start, NoticeStatus.IN_PROGRESS),
        (NoticeStatus.IN_PROGRESS, notice.scheduled_end, NoticeStatus.COMPLETED),
    )
    for current, at, target in steps:
        if notice.draft or notice.status != current or at is None or at > now:
            continue
        text = (
            "The scheduled maintenance has started."
            if target == NoticeStatus.IN_PROGRESS
            else "The scheduled maintenance is completed."
        )
        update = NoticeUpdate.objects.create(
            organization_id=notice.organization_id,
            notice=notice,
            body=text,
            requested_status=target,
            status=target,
            visible=True,
            published_at=now,
            created_at=now,
        )
        notice.status = target
        _status_stamps(notice, now)
        notice.save()
        kind = (
            Kind.MAINTENANCE_STARTED if target == NoticeStatus.IN_PROGRESS else Kind.UPDATE_VISIBLE
        )
        announce(Announcement(kind, notice, update))
        moved = True
    if moved:
        page_touched(notice.status_page_id)
    return moved


@transaction.atomic
def notice_advance(*, notice_id: int, now: datetime | None = None) -> bool:
    """Planned work whose time has come moves by itself (system): exactly once, as
    `notice_update_apply`."""
    now = now or timezone.now()
    notice = (
        Notice.objects.select_for_update(skip_locked=True)
        .select_related("status_page")
        .filter(pk=notice_id, due_at__lte=now, draft=False)
        .first()
    )
    if notice is None:
        return False
    moved = _maintenance_advance(notice, None, now)
    notice.due_at = _next_due(notice)
    notice.save(update_fields=["due_at"])
    _components_refresh(notice.components.values_list("pk", flat=True), now)
    _due_schedule(notice)
    return moved


def notices_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Ids of notices whose planned work must move (for the sweeper)."""
    now = now or timezone.now()
    return list(
        Notice.objects.filter(due_at__lte=now, draft=False)
        .order_by("due_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


# Postmortems


@transaction.atomic
def postmortem_write(
    *, notice: Notice, by: User | None, body: str, published: bool = False
) -> Postmortem:
    """S15: create or replace the postmortem; publishing stamps `published_at` (the first
    time: a note on the linked incident, subscribers told), unpublishing clears it."""
    require_manage(by, notice.status_page)
    notice = _lock_notice(notice)
    now = timezone.now()
    postmortem = Postmortem.objects.filter(notice=notice).first()
    was_published = postmortem is not None and postmortem.published
    if postmortem is None:
        postmortem = Postmortem(
            organization_id=notice.organization_id, notice=notice, created_at=now
        )
    postmortem.body = _text(body, "body", 200_000, required=False)
    postmortem.published, postmortem.updated_at = published, now
    if published and not was_published:
        postmortem.published_at = now
    elif not published:
        postmortem.published_at = None
    first_time = published and not postmortem.announced
    postmortem.announced = postmortem.announced or published
    postmortem.save()
    if first_time:
        if notice.incident_id is not None:
            incident_add_note(
                incident=Incident.objects.get(pk=notice.incident_id),
                by=by,
                text=f"The postmortem of {notice.title} was published on the status page "
                f"{notice.status_page.name}.",
            )
        announce(Announcement(Kind.POSTMORTEM_PUBLISHED, notice, postmortem=postmortem))
    if published or was_published:
        # Unpublished or rewritten, what visitors read is taken back at once.
        page_touched(notice.status_page_id, retracts=was_published)
    return postmortem
