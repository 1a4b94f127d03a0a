"""Service pages; included at the site root. The int kwarg is `service_id` (tenancy walk)."""

from __future__ import annotations

from django.urls import path

from escalations.catalog import views

urlpatterns = [
    path("services/", views.service_list, name="services"),
    path("services/new/", views.service_create, name="service_create"),
    path("services/<int:service_id>/", views.service_detail, name="service_detail"),
    path("services/<int:service_id>/edit/", views.service_edit, name="service_edit"),
    path("services/<int:service_id>/delete/", views.service_delete, name="service_delete"),
    path(
        "services/<int:service_id>/routing-key/",
        views.service_regenerate_key,
        name="service_regenerate_key",
    ),
    path(
        "services/<int:service_id>/maintenance/",
        views.service_maintenance_start,
        name="service_maintenance_start",
    ),
    path(
        "services/<int:service_id>/maintenance/stop/",
        views.service_maintenance_stop,
        name="service_maintenance_stop",
    ),
    path(
        "services/<int:service_id>/incidents/new/",
        views.service_trigger_incident,
        name="service_trigger_incident",
    ),
]
