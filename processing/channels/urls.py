"""Receive-channel pages; included at the site root. The int kwarg is `channel_id`
(the tenancy walk substitutes another organization's ids by name)."""

from __future__ import annotations

from django.urls import path

from processing.channels import views

urlpatterns = [
    path("receive-channels/", views.channel_list, name="receive_channels"),
    path("receive-channels/new/", views.channel_create, name="receive_channel_create"),
    path("receive-channels/debug/", views.builtin_debug_view, name="receive_channel_builtin_debug"),
    path(
        "receive-channels/<int:channel_id>/edit/",
        views.channel_edit,
        name="receive_channel_edit",
    ),
    path(
        "receive-channels/<int:channel_id>/delete/",
        views.channel_delete,
        name="receive_channel_delete",
    ),
    path(
        "receive-channels/<int:channel_id>/debug/",
        views.channel_debug_view,
        name="receive_channel_debug",
    ),
]
