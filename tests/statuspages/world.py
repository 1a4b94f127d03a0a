"""Status pages built through the models, and component statuses through the one writer
(statuspages/periods.py), as the services do (the services are on another branch)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from opsduty.models import Organization
from statuspages import periods
from statuspages.events import page_touched
from statuspages.models import (
    Component,
    ComponentGroup,
    Notice,
    NoticeStatus,
    NoticeUpdate,
    Postmortem,
    StatusPage,
)
from tests import factories

_numbers = itertools.count(1)


def make_page(*, organization: Organization, **kwargs: Any) -> StatusPage:
    n = next(_numbers)
    kwargs.setdefault("name", f"Status {n}")
    kwargs.setdefault("slug", f"status-{n}")
    team = factories.make_team(organization=organization)
    return StatusPage.objects.create(organization=organization, team=team, **kwargs)


def make_group(page: StatusPage, name: str, order: int, **kwargs: Any) -> ComponentGroup:
    return ComponentGroup.objects.create(
        organization_id=page.organization_id, status_page=page, name=name, order=order, **kwargs
    )


def make_component(
    group: ComponentGroup, name: str, position: int, *, created_at: datetime | None = None
) -> Component:
    at = created_at or timezone.now() - timedelta(days=100)
    component = Component.objects.create(
        organization_id=group.organization_id,
        group=group,
        status_page=group.status_page,
        name=name,
        position=position,
        created_at=at,
    )
    periods.component_period_open(component, at)
    return component


def show(component: Component, status: str, at: datetime | None = None) -> None:
    """The component shows `status` from `at` (now), and the page's cache key moves on."""
    with transaction.atomic():  # as a service calls it: rows locked in its transaction
        periods.components_show({component.pk: status}, at or timezone.now())
        page_touched(component.status_page_id)


def make_notice(
    page: StatusPage,
    title: str,
    *,
    components: list[Component] = (),  # type: ignore[assignment]
    body: str = "",
    **kwargs: Any,
) -> Notice:
    notice = Notice.objects.create(
        organization_id=page.organization_id, status_page=page, title=title, body=body, **kwargs
    )
    notice.components.set(components)
    page_touched(page.pk)
    return notice


def post_update(
    notice: Notice,
    body: str,
    *,
    status: str = "",
    visible: bool = True,
    at: datetime | None = None,
) -> NoticeUpdate:
    at = at or timezone.now()
    update = NoticeUpdate.objects.create(
        organization_id=notice.organization_id,
        notice=notice,
        body=body,
        requested_status=status,
        status=(status or notice.status) if visible else "",
        visible=visible,
        display_at=None if visible else at + timedelta(hours=1),
        published_at=at if visible else None,
        created_at=at,
    )
    if visible and status:
        Notice.objects.filter(pk=notice.pk).update(status=status)
        notice.status = status
        if status == NoticeStatus.RESOLVED:
            Notice.objects.filter(pk=notice.pk).update(resolved_at=at)
    page_touched(notice.status_page_id)
    return update


def write_postmortem(notice: Notice, body: str, *, published: bool) -> Postmortem:
    postmortem = Postmortem.objects.create(
        organization_id=notice.organization_id,
        notice=notice,
        body=body,
        published=published,
        published_at=timezone.now() if published else None,
    )
    page_touched(notice.status_page_id)
    return postmortem
