"""The Diagnostics page (owners); included at the site root, no id kwargs."""

from __future__ import annotations

from django.urls import path

from escalations.diagnostics import views

urlpatterns = [
    path("settings/diagnostics/", views.diagnostics, name="diagnostics"),
]
