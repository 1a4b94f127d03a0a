"""Schedule pages; included at the site root. Int kwargs: `schedule_id`, `layer_id`,
`override_id` (tenancy walk). Layers and overrides are addressed by their own id alone."""

from __future__ import annotations

from django.urls import path

from escalations.schedules import views

urlpatterns = [
    path("schedules/", views.schedule_list, name="schedules"),
    path("schedules/new/", views.schedule_create, name="schedule_create"),
    path("schedules/<int:schedule_id>/", views.schedule_detail, name="schedule_detail"),
    path("schedules/<int:schedule_id>/edit/", views.schedule_edit, name="schedule_edit"),
    path("schedules/<int:schedule_id>/delete/", views.schedule_delete, name="schedule_delete"),
    path("schedules/<int:schedule_id>/layers/new/", views.layer_create, name="layer_create"),
    path(
        "schedules/<int:schedule_id>/layers/preview/",
        views.layer_preview_new,
        name="layer_preview_new",
    ),
    path(
        "schedules/<int:schedule_id>/overrides/new/",
        views.override_create,
        name="override_create",
    ),
    path(
        "schedules/<int:schedule_id>/calendar-feed/rotate/",
        views.schedule_feed_rotate,
        name="schedule_feed_rotate",
    ),
    path("schedule-layers/<int:layer_id>/edit/", views.layer_edit, name="layer_edit"),
    path(
        "schedule-layers/<int:layer_id>/preview/",
        views.layer_preview_edit,
        name="layer_preview_edit",
    ),
    path("schedule-layers/<int:layer_id>/delete/", views.layer_delete, name="layer_delete"),
    path("schedule-layers/<int:layer_id>/move/", views.layer_move, name="layer_move"),
    path(
        "schedule-overrides/<int:override_id>/delete/",
        views.override_delete,
        name="override_delete",
    ),
    path("profile/calendars/", views.profile_calendars, name="profile_calendars"),
    path("profile/calendar-feed/rotate/", views.my_feed_rotate, name="my_feed_rotate"),
]
