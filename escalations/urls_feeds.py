"""PLACEHOLDER owned by the calendar feed work (escalations/feeds.py): it will replace this
file. Until then `calendar_feed` exists so the schedule and profile pages can link to it;
the placeholder answers 404 for every token."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path


def calendar_feed_placeholder(request: HttpRequest, token: str) -> HttpResponse:
    """Not served yet (the feed module replaces this view)."""
    raise Http404("Calendar feeds are not available yet.")


urlpatterns = [
    path("calendar/<str:token>.ics", calendar_feed_placeholder, name="calendar_feed"),
]
