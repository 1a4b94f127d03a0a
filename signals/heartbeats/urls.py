"""Heartbeat pages; included at the site root. Int kwargs: `heartbeat_id`,
`heartbeat_state_id` (tenancy walk). An environment is addressed by its own id alone.

The public check-in URL (`/heartbeats/checkin/<key>/[<environment>/]`) is not a page and is
not here; its `checkin/` segment never matches the int patterns below."""

from __future__ import annotations

from django.urls import path

from signals.heartbeats import views

urlpatterns = [
    path("heartbeats/", views.heartbeat_list, name="heartbeats"),
    path("heartbeats/new/", views.heartbeat_create, name="heartbeat_create"),
    path("heartbeats/<int:heartbeat_id>/", views.heartbeat_detail, name="heartbeat_detail"),
    path("heartbeats/<int:heartbeat_id>/edit/", views.heartbeat_edit, name="heartbeat_edit"),
    path("heartbeats/<int:heartbeat_id>/delete/", views.heartbeat_delete, name="heartbeat_delete"),
    path(
        "heartbeats/<int:heartbeat_id>/environments/",
        views.heartbeat_environments,
        name="heartbeat_environments",
    ),
    path(
        "heartbeat-environments/<int:heartbeat_state_id>/delete/",
        views.heartbeat_state_delete,
        name="heartbeat_state_delete",
    ),
    path(
        "heartbeat-environments/<int:heartbeat_state_id>/copy-settings/",
        views.heartbeat_state_copy,
        name="heartbeat_state_copy",
    ),
]
