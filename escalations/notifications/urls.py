"""Notification rule pages (kwarg `user_id`: the tenancy walk covers it)."""

from __future__ import annotations

from django.urls import path

from escalations.notifications import views

urlpatterns = [
    path("profile/notifications/", views.profile_notifications, name="profile_notifications"),
    path(
        "profile/notification-rules/",
        views.notification_rules_update,
        name="notification_rules_update",
    ),
    path(
        "users/<int:user_id>/notification-rules/",
        views.user_notification_rules,
        name="user_notification_rules",
    ),
]
