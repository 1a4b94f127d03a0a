"""The raw event browser; included at the site root by opsduty/urls_ui.py. The int kwarg is
`raw_event_id` (the tenancy walk substitutes another organization's ids by name).
"""

from __future__ import annotations

from django.urls import path

from processing.pipeline import views as ui_views

urlpatterns = [
    path("raw-events/", ui_views.raw_event_list, name="raw_events"),
    path("raw-events/<int:raw_event_id>/", ui_views.raw_event_detail, name="raw_event_detail"),
    path(
        "raw-events/<int:raw_event_id>/replay/",
        ui_views.raw_event_replay_view,
        name="raw_event_replay",
    ),
    path(
        "raw-events/<int:raw_event_id>/try/",
        ui_views.raw_event_try_view,
        name="raw_event_try",
    ),
]
