"""Status pages of API v1, client 0.1.0 (spec §D, S1-S17), under /api/v1/statuspages/.

Everyone in the organization reads its pages; owners and members of a page's team change it
(others: 403, as the incident actions answer). Objects of another organization, and unknown
ids, answer 404. Creating operations answer 200 (S3, S10, S13), the group delete 204 (S5).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.db import models
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from incidents.selectors import incident_get
from opsduty.api.base import (
    OrgScopedAPIView,
    OrgScopedListAPIView,
    current_user,
    query_datetime,
)
from opsduty.api.errors import UnprocessableEntity
from opsduty.api.fields import StrictCharField, not_blank, query_text
from opsduty.api.pagination import RelayCursorPagination, page_of_list
from opsduty.retry import run_retrying_conflicts
from statuspages import selectors, services
from statuspages.models import (
    NAME_MAX,
    TITLE_MAX,
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
from statuspages.services import Movement

ID_MAX = 2**63 - 1
BODY_MAX = 100_000
TAGS = ["statuspages"]

# Responses


class StatusPageSchema(serializers.ModelSerializer[StatusPage]):
    """`StatusPageSchema`."""

    access_mode = serializers.ChoiceField(choices=AccessMode.choices)

    class Meta:
        model = StatusPage
        fields = [
            "id",
            "name",
            "description",
            "domain",
            "enabled",
            "calculate_uptime",
            "access_mode",
            "created_at",
        ]


class ComponentGroupSchema(serializers.ModelSerializer[ComponentGroup]):
    """`ComponentGroupSchema`: `component_ids` in display order."""

    component_ids = serializers.SerializerMethodField()

    class Meta:
        model = ComponentGroup
        fields = ["id", "name", "description", "order", "component_ids"]

    def get_component_ids(self, group: ComponentGroup) -> list[int]:
        return [c.pk for c in group.components.all()]


class ComponentSchema(serializers.ModelSerializer[Component]):
    """`ComponentSchema`: `status` is what the page shows now."""

    status = serializers.ChoiceField(choices=ComponentStatus.choices, source="shown_status")
    component_group_id = serializers.IntegerField(source="group_id")
    service_ids = serializers.SerializerMethodField()

    class Meta:
        model = Component
        fields = ["id", "name", "description", "status", "component_group_id", "service_ids"]

    def get_service_ids(self, component: Component) -> list[int]:
        return [s.pk for s in component.services.all()]


class IncidentSchema(serializers.ModelSerializer[Notice]):
    """`IncidentSchema` (a status-page incident)."""

    status_page = serializers.IntegerField(source="status_page_id")
    status = serializers.ChoiceField(choices=NoticeStatus.choices)
    impact = serializers.ChoiceField(choices=Impact.choices)
    component_ids = serializers.SerializerMethodField()
    incident_group = serializers.IntegerField(source="incident_id", allow_null=True)
    duration_seconds = serializers.IntegerField(allow_null=True)

    class Meta:
        model = Notice
        fields = [
            "id",
            "status_page",
            "title",
            "body",
            "status",
            "impact",
            "component_ids",
            "sync_component_status",
            "draft",
            "incident_group",
            "duration_seconds",
            "created_at",
            "monitoring_at",
            "resolved_at",
            "scheduled_start",
            "scheduled_end",
        ]

    def get_component_ids(self, notice: Notice) -> list[int]:
        return sorted(c.pk for c in notice.components.all())


class IncidentUpdateSchema(serializers.ModelSerializer[NoticeUpdate]):
    """`IncidentUpdateSchema`: `status` is the notice's status right after the update."""

    status = serializers.SerializerMethodField()

    class Meta:
        model = NoticeUpdate
        fields = ["id", "body", "status", "visible", "published_at", "display_at", "created_at"]

    @extend_schema_field(serializers.ChoiceField(choices=NoticeStatus.choices, allow_null=True))
    def get_status(self, update: NoticeUpdate) -> str | None:
        return update.status or None


class IncidentPostmortemSchema(serializers.ModelSerializer[Postmortem]):
    """`IncidentPostmortemSchema`."""

    class Meta:
        model = Postmortem
        fields = ["id", "body", "published", "published_at", "created_at"]


class IncidentPostmortemDraftSchema(serializers.Serializer[Any]):
    """`IncidentPostmortemDraftSchema`: generated Markdown."""

    body = serializers.CharField()


class ComponentUptimeSchema(serializers.Serializer[Any]):
    """`ComponentUptimeSchema`: a percentage of the last 90 days."""

    component_id = serializers.IntegerField()
    name = serializers.CharField()
    uptime = serializers.FloatField()


class StatusPageUptimeSchema(serializers.Serializer[Any]):
    """`StatusPageUptimeSchema`."""

    published = serializers.BooleanField()
    components = ComponentUptimeSchema(many=True)


class ComponentPageInfoSchema(serializers.Serializer[Any]):
    """`PageInfo` (§3.5) of the components' list."""

    has_next_page = serializers.BooleanField()
    has_previous_page = serializers.BooleanField()
    start_cursor = serializers.CharField(allow_null=True, required=False)
    end_cursor = serializers.CharField(allow_null=True, required=False)


class PagedComponentListSchema(serializers.Serializer[Any]):
    """`PagedComponentSchema`: S7 is paged in memory (by group order, then position)."""

    items = ComponentSchema(many=True)
    page_info = ComponentPageInfoSchema()


# The parameters of every paged list (opsduty/api/pagination.py), for S7's own pager.
PAGE_PARAMETERS = [
    OpenApiParameter(
        parameter["name"],
        parameter["schema"],  # as the pager documents it (sizes: minimum 0)
        description=parameter["description"],
        deprecated=parameter.get("deprecated", False),
    )
    for parameter in RelayCursorPagination().get_schema_operation_parameters(None)  # type: ignore[arg-type]
]


# Requests


def _name(limit: int) -> StrictCharField:
    return StrictCharField(max_length=limit, validators=[not_blank("This field may not be blank.")])


class ComponentGroupInputSchema(serializers.Serializer[Any]):
    """`ComponentGroupInputSchema`: an absent description means ""."""

    name = _name(NAME_MAX)
    description = StrictCharField(required=False, default="", allow_blank=True, max_length=2000)


class MoveComponentGroupSchema(serializers.Serializer[Any]):
    """`MoveComponentGroupSchema`."""

    movement = serializers.ChoiceField(choices=list(Movement.ALL))


class SetComponentStatusSchema(serializers.Serializer[Any]):
    """`SetComponentStatusSchema`."""

    status = serializers.ChoiceField(choices=ComponentStatus.choices)


class DeclareIncidentSchema(serializers.Serializer[Any]):
    """`DeclareIncidentSchema`, with the defaults of an absent key."""

    title = _name(TITLE_MAX)
    status = serializers.ChoiceField(
        choices=NoticeStatus.choices, default=NoticeStatus.INVESTIGATING
    )
    impact = serializers.ChoiceField(choices=Impact.choices, default=Impact.MINOR)
    body = StrictCharField(required=False, default="", allow_blank=True, max_length=BODY_MAX)
    component_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=ID_MAX),
        required=False,
        max_length=1000,
    )
    incident_group_id = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=ID_MAX
    )
    derive_affected_components = serializers.BooleanField(default=False)
    sync_component_status = serializers.BooleanField(default=False)
    published = serializers.BooleanField(default=True)


class PostIncidentUpdateSchema(serializers.Serializer[Any]):
    """`PostIncidentUpdateSchema`: absent or null status and display_at: unchanged, now."""

    body = StrictCharField(allow_blank=True, max_length=BODY_MAX)
    status = serializers.ChoiceField(choices=NoticeStatus.choices, required=False, allow_null=True)
    display_at = serializers.DateTimeField(required=False, allow_null=True)


class SetIncidentPostmortemSchema(serializers.Serializer[Any]):
    """`SetIncidentPostmortemSchema`."""

    body = StrictCharField(allow_blank=True, max_length=200_000)
    published = serializers.BooleanField(default=False)


def _validated(serializer_class: type[serializers.Serializer[Any]], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise UnprocessableEntity.from_detail(serializer.errors)
    validated: dict[str, Any] = serializer.validated_data
    return validated


F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=models.Model)


def _schema(operation: str, summary: str, description: str, **extra: Any) -> Callable[[F], F]:
    decorator: Callable[[F], F] = extend_schema(
        operation_id=f"opsduty_api_v1_statuspages_{operation}",
        summary=summary,
        description=description,
        tags=TAGS,
        **extra,
    )
    return decorator


def _page(request: Request, status_page_id: int) -> StatusPage:
    return selectors.status_page_get(user=current_user(request), page_id=status_page_id)


def _fresh(rows: models.QuerySet[M], pk: int) -> M:
    """The row as the lists answer it; 404 when it was deleted meanwhile."""
    row = rows.filter(pk=pk).first()
    if row is None:
        raise Http404("Not found.")
    return row


def _group_body(group: ComponentGroup) -> Any:
    return ComponentGroupSchema(
        _fresh(selectors.component_group_list(page=group.status_page), group.pk)
    ).data


def _notice_body(notice: Notice) -> Any:
    return IncidentSchema(_fresh(selectors.notice_list(page=notice.status_page), notice.pk)).data


# S1


class StatusPageListView(OrgScopedListAPIView[StatusPage]):
    """S1: the organization's status pages, oldest first (paged)."""

    model = StatusPage
    serializer_class = StatusPageSchema
    ordering = "id"

    def get_base_queryset(self) -> models.QuerySet[StatusPage]:
        return selectors.status_page_list(user=current_user(self.request))

    @_schema(
        "list_status_pages",
        "List status pages",
        "The organization's status pages, by ascending id.",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


# S2, S3


class ComponentGroupListView(OrgScopedListAPIView[ComponentGroup]):
    """S2 GET (paged, as the page shows them) and S3 POST (a new group at the bottom)."""

    model = ComponentGroup
    serializer_class = ComponentGroupSchema
    ordering = ("order", "id")

    def get_base_queryset(self) -> models.QuerySet[ComponentGroup]:
        return selectors.component_group_list(
            page=_page(self.request, self.kwargs["status_page_id"])
        )

    @_schema(
        "list_status_page_component_groups",
        "List component groups",
        "The page's component groups in the order the page shows them (ascending `order`).",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @_schema(
        "create_status_page_component_group",
        "Create a component group",
        "Add a group at the bottom of the page (`order` = highest + 1, 0 for the first). "
        "It starts without components; customers see a group once it has some.",
        request=ComponentGroupInputSchema,
        responses={200: ComponentGroupSchema},
    )
    def post(self, request: Request, status_page_id: int) -> Response:
        page = _page(request, status_page_id)
        data = _validated(ComponentGroupInputSchema, request.data)
        group = run_retrying_conflicts(
            services.component_group_create, page=page, by=current_user(request), **data
        )
        return Response(_group_body(group))


# S4, S5, S6


def _group(request: Request, component_group_id: int) -> ComponentGroup:
    return selectors.component_group_get(user=current_user(request), group_id=component_group_id)


class ComponentGroupDetailView(OrgScopedAPIView):
    """S4 PUT (name, description) and S5 DELETE (the group and its components)."""

    @_schema(
        "update_status_page_component_group",
        "Update a component group",
        'Rename the group or change its description (an absent description means ""). '
        "Its order and components stay.",
        request=ComponentGroupInputSchema,
        responses={200: ComponentGroupSchema},
    )
    def put(self, request: Request, component_group_id: int) -> Response:
        group = _group(request, component_group_id)
        data = _validated(ComponentGroupInputSchema, request.data)
        group = services.component_group_update(group=group, by=current_user(request), **data)
        return Response(_group_body(group))

    @_schema(
        "delete_status_page_component_group",
        "Delete a component group",
        "Delete the group and every component in it: customers stop seeing them at once, and "
        "incidents no longer list them as affected. The groups below move up.",
        request=None,
        responses={204: None},
    )
    def delete(self, request: Request, component_group_id: int) -> Response:
        group = _group(request, component_group_id)
        run_retrying_conflicts(
            services.component_group_delete, group=group, by=current_user(request)
        )
        return Response(status=204)


class ComponentGroupMoveView(OrgScopedAPIView):
    """S6: move a group (up, down, top, bottom); orders stay 0..n-1."""

    @_schema(
        "move_status_page_component_group",
        "Move a component group",
        "`up` / `down` swap the group with its neighbour, `top` / `bottom` move it to the "
        "ends; moving past an end changes nothing. Orders stay unique and contiguous.",
        request=MoveComponentGroupSchema,
        responses={200: ComponentGroupSchema},
    )
    def post(self, request: Request, component_group_id: int) -> Response:
        group = _group(request, component_group_id)
        data = _validated(MoveComponentGroupSchema, request.data)
        group = run_retrying_conflicts(
            services.component_group_move, group=group, by=current_user(request), **data
        )
        return Response(_group_body(group))


# S7, S8


def _component_key(component: Component) -> tuple[int, int, int]:
    return (component.group.order, component.position, component.pk)


class ComponentListView(OrgScopedAPIView):
    """S7: the page's components by group order, then position (paged)."""

    @_schema(
        "list_status_page_components",
        "List components",
        "The page's components in the order the page shows them: by group `order`, then "
        "position in the group. These ids are the ones incidents list in `component_ids`.",
        parameters=PAGE_PARAMETERS,
        responses={200: PagedComponentListSchema},
    )
    def get(self, request: Request, status_page_id: int) -> Response:
        page = _page(request, status_page_id)
        components = list(selectors.component_list(page=page))
        items, page_info = page_of_list(request, components, _component_key)
        return Response({"items": ComponentSchema(items, many=True).data, "page_info": page_info})


class ComponentStatusView(OrgScopedAPIView):
    """S8: what the component does without an incident."""

    @_schema(
        "set_status_page_component_status",
        "Set a component's status",
        "Store what the component does now without an incident; customers see it at once. "
        "While an open published incident with `sync_component_status` covers the "
        "component, that incident's status is shown (and returned) until it closes.",
        request=SetComponentStatusSchema,
        responses={200: ComponentSchema},
    )
    def post(self, request: Request, component_id: int) -> Response:
        user = current_user(request)
        component = selectors.component_get(user=user, component_id=component_id)
        data = _validated(SetComponentStatusSchema, request.data)
        run_retrying_conflicts(
            services.component_status_set, component=component, by=user, status=data["status"]
        )
        fresh = _fresh(selectors.component_list(page=component.status_page), component.pk)
        return Response(ComponentSchema(fresh).data)


# S9, S10


def _status_filter(request: Request) -> list[str] | None:
    values = [v.strip() for v in request.query_params.getlist("status") if v.strip()]
    for value in values:
        if value not in NoticeStatus.values:
            raise UnprocessableEntity.for_field(("query", "status"), f"Unknown status {value!r}.")
    return values or None


def _notice_filters(request: Request) -> selectors.NoticeFilters:
    kind = query_text(request, "type") or None
    if kind not in (None, "planned", "unplanned"):
        raise UnprocessableEntity.for_field(("query", "type"), "Must be planned or unplanned.")
    component = query_text(request, "component_id")
    if component and not (component.isdigit() and int(component) <= ID_MAX):
        raise UnprocessableEntity.for_field(("query", "component_id"), "Must be an integer.")
    return selectors.NoticeFilters(
        status=_status_filter(request),
        type=kind,
        created_after=query_datetime(request, "created_after"),
        created_before=query_datetime(request, "created_before"),
        component_id=int(component) if component else None,
    )


class IncidentListView(OrgScopedListAPIView[Notice]):
    """S9 GET (newest first, drafts included, filtered, paged) and S10 POST (declare)."""

    model = Notice
    serializer_class = IncidentSchema
    ordering = ("-created_at", "-id")

    def get_base_queryset(self) -> models.QuerySet[Notice]:
        page = _page(self.request, self.kwargs["status_page_id"])
        return selectors.notice_list(page=page, filters=_notice_filters(self.request))

    @_schema(
        "list_status_page_incidents",
        "List status-page incidents",
        "The page's incidents newest first, drafts included. `status` may repeat (any of "
        "them); `type=planned` is planned work (scheduled, in progress, verifying, "
        "completed), `unplanned` the rest; `created_after` is inclusive, `created_before` "
        "exclusive (a date-time without an offset is UTC); `component_id` keeps the "
        "incidents that affect that component.",
        parameters=[
            OpenApiParameter(
                "status",
                OpenApiTypes.STR,
                many=True,
                explode=True,
                enum=NoticeStatus.values,
            ),
            OpenApiParameter("type", OpenApiTypes.STR, enum=["planned", "unplanned"]),
            OpenApiParameter("created_after", OpenApiTypes.DATETIME),
            OpenApiParameter("created_before", OpenApiTypes.DATETIME),
            OpenApiParameter("component_id", OpenApiTypes.INT),
        ],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @_schema(
        "declare_status_page_incident",
        "Declare a status-page incident",
        "Customers see it as soon as the call returns, unless `published` is false (a "
        "draft only the team sees, components left alone until it is published). "
        "`incident_group_id` links an operational incident (a note is added to its "
        "timeline); `derive_affected_components` takes the page's components that stand "
        "for that incident's service (ignored with `component_ids`). With "
        "`sync_component_status` the affected components show the impact while the "
        "incident is open. The opening body and status are its first update.",
        request=DeclareIncidentSchema,
        responses={200: IncidentSchema},
    )
    def post(self, request: Request, status_page_id: int) -> Response:
        user = current_user(request)
        page = _page(request, status_page_id)
        data = _validated(DeclareIncidentSchema, request.data)
        incident_id = data.pop("incident_group_id", None)
        incident = None
        if incident_id is not None:
            try:
                incident = incident_get(user=user, incident_id=incident_id)
            except Http404:
                raise UnprocessableEntity.for_field(
                    ("body", "incident_group_id"), "Unknown incident."
                ) from None
        if (
            data.get("derive_affected_components")
            and incident is None
            and "component_ids" not in data
        ):
            raise UnprocessableEntity.for_field(
                ("body", "derive_affected_components"), "Needs incident_group_id."
            )
        notice = run_retrying_conflicts(
            services.notice_declare, page=page, by=user, incident=incident, **data
        )
        return Response(_notice_body(notice))


# S11, S12, S13


def _notice(request: Request, incident_id: int) -> Notice:
    return selectors.notice_get(user=current_user(request), notice_id=incident_id)


class IncidentPublishView(OrgScopedAPIView):
    """S11: put a draft on the page, dated from now."""

    @_schema(
        "publish_status_page_incident",
        "Publish a draft incident",
        "Put a draft on the page. It is dated from now (`created_at`), not from when the "
        "draft was written; its components start following it. An incident already "
        "published is returned unchanged.",
        request=None,
        responses={200: IncidentSchema},
    )
    def post(self, request: Request, incident_id: int) -> Response:
        notice = _notice(request, incident_id)
        notice = run_retrying_conflicts(
            services.notice_publish, notice=notice, by=current_user(request)
        )
        return Response(_notice_body(notice))


class IncidentUpdateListView(OrgScopedListAPIView[NoticeUpdate]):
    """S12 GET (newest first, waiting ones included) and S13 POST (post an update)."""

    model = NoticeUpdate
    serializer_class = IncidentUpdateSchema
    ordering = ("-created_at", "-id")

    def get_base_queryset(self) -> models.QuerySet[NoticeUpdate]:
        return selectors.notice_update_list(
            notice=_notice(self.request, self.kwargs["incident_id"])
        )

    @_schema(
        "list_status_page_incident_updates",
        "List an incident's updates",
        "The incident's updates newest first, scheduled ones not yet shown included "
        "(`visible: false`).",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @_schema(
        "post_status_page_incident_update",
        "Post an incident update",
        "Post an update to a published incident, moving it to `status` if given "
        "(`resolved` closes it, `monitoring` stamps `monitoring_at`). It shows at once, "
        "unless a future `display_at` schedules it: then it waits (`visible: false`, "
        "`published_at: null`) and its status change applies at that time. A draft "
        "answers 422.",
        request=PostIncidentUpdateSchema,
        responses={200: IncidentUpdateSchema},
    )
    def post(self, request: Request, incident_id: int) -> Response:
        notice = _notice(request, incident_id)
        data = _validated(PostIncidentUpdateSchema, request.data)
        update = run_retrying_conflicts(
            services.notice_update_post,
            notice=notice,
            by=current_user(request),
            body=data["body"],
            status=data.get("status"),
            display_at=data.get("display_at"),
        )
        return Response(IncidentUpdateSchema(update).data)


# S14, S15, S16


class IncidentPostmortemView(OrgScopedAPIView):
    """S14 GET (published or not; 422 while none) and S15 PUT (create or replace)."""

    @_schema(
        "read_status_page_incident_postmortem",
        "Read an incident's postmortem",
        "The postmortem, published or not. None written yet: 422.",
        responses={200: IncidentPostmortemSchema},
    )
    def get(self, request: Request, incident_id: int) -> Response:
        postmortem = selectors.postmortem_get(notice=_notice(request, incident_id))
        if postmortem is None:
            raise UnprocessableEntity.for_field(("path", "incident_id"), "No postmortem yet.")
        return Response(IncidentPostmortemSchema(postmortem).data)

    @_schema(
        "write_status_page_incident_postmortem",
        "Write an incident's postmortem",
        "Create the postmortem or replace it. `published: true` puts it on the public "
        "incident page and in the feed (and, the first time, on the linked operational "
        "incident's timeline) and stamps `published_at`; `published: false` takes it down "
        "again and clears `published_at`.",
        request=SetIncidentPostmortemSchema,
        responses={200: IncidentPostmortemSchema},
    )
    def put(self, request: Request, incident_id: int) -> Response:
        notice = _notice(request, incident_id)
        data = _validated(SetIncidentPostmortemSchema, request.data)
        postmortem = run_retrying_conflicts(
            services.postmortem_write, notice=notice, by=current_user(request), **data
        )
        return Response(IncidentPostmortemSchema(postmortem).data)


class IncidentPostmortemDraftView(OrgScopedAPIView):
    """S16: starting Markdown built from the incident; nothing is saved."""

    @_schema(
        "read_status_page_incident_postmortem_draft",
        "Draft an incident's postmortem",
        "Starting Markdown from what is known: when the incident started and ended, how "
        "long it lasted, the components it affected and how long each was down, who was "
        "paged (for an incident declared from an operational one) and every update "
        "customers were shown. Nothing is saved.",
        responses={200: IncidentPostmortemDraftSchema},
    )
    def get(self, request: Request, incident_id: int) -> Response:
        notice = _notice(request, incident_id)
        return Response({"body": selectors.postmortem_draft(notice=notice)})


# S17


class StatusPageUptimeView(OrgScopedAPIView):
    """S17: each component's 90-day uptime."""

    @_schema(
        "get_status_page_uptime",
        "Get a status page's uptime",
        "Each component's uptime over the last 90 days, as the public page shows it: "
        "100 × (time not down ÷ 90 days). Down is degraded performance, partial outage or "
        "major outage; maintenance and the time before the component existed are not. "
        "`published` mirrors the page's `calculate_uptime`.",
        responses={200: StatusPageUptimeSchema},
    )
    def get(self, request: Request, status_page_id: int) -> Response:
        page = _page(request, status_page_id)
        return Response(
            {
                "published": page.calculate_uptime,
                "components": [
                    {"component_id": c.pk, "name": c.name, "uptime": figure.percent}
                    for c, figure in selectors.page_uptime(page=page)
                ],
            }
        )
