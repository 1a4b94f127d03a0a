"""Paging from the incident page; included at the site root. The int kwarg is `incident_id`
(the tenancy walk substitutes another organization's ids by name)."""

from __future__ import annotations

from django.urls import path

from escalations.engine import views

urlpatterns = [
    path("incidents/<int:incident_id>/page/", views.incident_page, name="incident_page"),
    path(
        "incidents/<int:incident_id>/escalate/", views.incident_escalate, name="incident_escalate"
    ),
    path(
        "incidents/<int:incident_id>/reassign/",
        views.incident_reassign,
        name="incident_reassign",
    ),
]
