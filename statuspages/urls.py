"""The team's status-page screens, included at the site root (opsduty/urls_ui.py). Int
kwargs (the tenancy walk substitutes another organization's ids by name): `status_page_id`,
`component_group_id`, `component_id`, `notice_id` (a status-page incident), `incident_id`
(an operational incident)."""

from __future__ import annotations

from django.urls import path

from statuspages.views import incident, notices, pages, structure

urlpatterns = [
    path("status-pages/", pages.status_page_list, name="status_pages"),
    path("status-pages/new/", pages.status_page_create, name="status_page_create"),
    path("status-pages/<int:status_page_id>/", pages.status_page_detail, name="status_page_detail"),
    path(
        "status-pages/<int:status_page_id>/edit/", pages.status_page_edit, name="status_page_edit"
    ),
    path(
        "status-pages/<int:status_page_id>/secret/rotate/",
        pages.status_page_secret_rotate,
        name="status_page_secret_rotate",
    ),
    path(
        "status-pages/<int:status_page_id>/groups/new/",
        structure.component_group_create,
        name="component_group_create",
    ),
    path(
        "status-pages/groups/<int:component_group_id>/edit/",
        structure.component_group_edit,
        name="component_group_edit",
    ),
    path(
        "status-pages/groups/<int:component_group_id>/delete/",
        structure.component_group_delete,
        name="component_group_delete",
    ),
    path(
        "status-pages/groups/<int:component_group_id>/move/",
        structure.component_group_move,
        name="component_group_move",
    ),
    path(
        "status-pages/groups/<int:component_group_id>/components/new/",
        structure.component_create,
        name="component_create",
    ),
    path(
        "status-pages/components/<int:component_id>/edit/",
        structure.component_edit,
        name="component_edit",
    ),
    path(
        "status-pages/components/<int:component_id>/delete/",
        structure.component_delete,
        name="component_delete",
    ),
    path(
        "status-pages/components/<int:component_id>/move/",
        structure.component_move,
        name="component_move",
    ),
    path(
        "status-pages/components/<int:component_id>/status/",
        pages.component_status_set,
        name="component_status_set",
    ),
    path(
        "status-pages/<int:status_page_id>/notices/new/",
        notices.notice_declare,
        name="notice_declare",
    ),
    path(
        "status-pages/<int:status_page_id>/maintenance/new/",
        notices.maintenance_schedule,
        name="maintenance_schedule",
    ),
    path("status-pages/notices/<int:notice_id>/", notices.notice_detail, name="notice_detail"),
    path(
        "status-pages/notices/<int:notice_id>/publish/",
        notices.notice_publish,
        name="notice_publish",
    ),
    path(
        "status-pages/notices/<int:notice_id>/updates/new/",
        notices.notice_update_post,
        name="notice_update_post",
    ),
    path(
        "status-pages/notices/<int:notice_id>/resolve/",
        notices.notice_resolve,
        name="notice_resolve",
    ),
    path(
        "status-pages/notices/<int:notice_id>/postmortem/",
        notices.postmortem_edit,
        name="postmortem_edit",
    ),
    path(
        "status-pages/notices/<int:notice_id>/postmortem/preview/",
        notices.postmortem_preview,
        name="postmortem_preview",
    ),
    path(
        "status-pages/tell-customers/<int:incident_id>/",
        incident.tell_customers,
        name="tell_customers",
    ),
]
