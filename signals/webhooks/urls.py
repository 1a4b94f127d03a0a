"""Webhook pages; included at the site root by opsduty/urls_ui.py. The int kwarg is
`webhook_id` (the tenancy walk substitutes another organization's ids by name).
"""

from __future__ import annotations

from django.urls import path

from signals.webhooks import views as ui_views

urlpatterns = [
    path("webhooks/", ui_views.webhook_list, name="webhooks"),
    path("webhooks/new/", ui_views.webhook_create, name="webhook_create"),
    path("webhooks/<int:webhook_id>/", ui_views.webhook_detail, name="webhook_detail"),
    path("webhooks/<int:webhook_id>/edit/", ui_views.webhook_edit, name="webhook_edit"),
    path(
        "webhooks/<int:webhook_id>/enabled/",
        ui_views.webhook_set_enabled,
        name="webhook_set_enabled",
    ),
    path("webhooks/<int:webhook_id>/delete/", ui_views.webhook_delete, name="webhook_delete"),
]
