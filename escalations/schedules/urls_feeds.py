"""Webcal feeds at /calendar/<token>.ics: no session, the unguessable token is the credential."""

from __future__ import annotations

from django.urls import path

from escalations.schedules import feeds

urlpatterns = [
    path("calendar/<str:token>.ics", feeds.calendar_feed, name="calendar_feed"),
]
