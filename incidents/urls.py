"""Incident pages and the archive setting; included at the site root by opsduty/urls_ui.py.

The int kwarg is `incident_id` (the tenancy walk substitutes another organization's ids).
"""

from __future__ import annotations

from django.urls import path

from incidents.views import archive, detail, listing

urlpatterns = [
    path("i/<int:incident_id>", detail.incident_short_link, name="incident_short_link"),
    path("incidents/", listing.incident_list, name="incident_list"),
    path("incidents/rows/", listing.incident_rows, name="incident_rows"),
    path("incidents/bulk/", listing.incident_bulk, name="incident_bulk"),
    path("incidents/<int:incident_id>/", detail.incident_detail, name="incident_detail"),
    path(
        "incidents/<int:incident_id>/acknowledge/",
        detail.incident_acknowledge,
        name="incident_acknowledge",
    ),
    path(
        "incidents/<int:incident_id>/unacknowledge/",
        detail.incident_unacknowledge,
        name="incident_unacknowledge",
    ),
    path("incidents/<int:incident_id>/resolve/", detail.incident_resolve, name="incident_resolve"),
    path("incidents/<int:incident_id>/reopen/", detail.incident_reopen, name="incident_reopen"),
    path("incidents/<int:incident_id>/silence/", detail.incident_silence, name="incident_silence"),
    path("incidents/<int:incident_id>/attach/", detail.incident_attach, name="incident_attach"),
    path("incidents/<int:incident_id>/detach/", detail.incident_detach, name="incident_detach"),
    path("incidents/<int:incident_id>/notes/", detail.incident_add_note, name="incident_add_note"),
    path(
        "incidents/<int:incident_id>/urgency/",
        detail.incident_set_urgency,
        name="incident_set_urgency",
    ),
    path(
        "incidents/<int:incident_id>/labels/add/",
        detail.incident_add_label,
        name="incident_add_label",
    ),
    path(
        "incidents/<int:incident_id>/labels/remove/",
        detail.incident_remove_label,
        name="incident_remove_label",
    ),
    path("settings/archive/", archive.incident_archive, name="incident_archive"),
]
