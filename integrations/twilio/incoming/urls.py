"""Incoming-call routing under /integrations/twilio/<key>/voice/ (the number's voice URL is
`twilio_voice_inbound`, its status callback `twilio_incoming_status`). Included by
integrations/twilio/urls.py."""

from __future__ import annotations

from django.urls import path

from integrations.twilio.incoming import views

_VOICE = "integrations/twilio/<str:key>/voice"
_CALL = f"{_VOICE}/incoming/<int:call_id>"

urlpatterns = [
    path(f"{_VOICE}/", views.voice_inbound, name="twilio_voice_inbound"),
    path(f"{_VOICE}/menu/", views.voice_menu, name="twilio_incoming_menu"),
    path(f"{_VOICE}/status/", views.status, name="twilio_incoming_status"),
    path(f"{_CALL}/dial/<int:position>/", views.dial_result, name="twilio_incoming_dial"),
    path(f"{_CALL}/screen/<int:position>/", views.screen, name="twilio_incoming_screen"),
    path(
        f"{_CALL}/screen/<int:position>/keys/",
        views.screen_keys,
        name="twilio_incoming_screen_keys",
    ),
    path(f"{_CALL}/voicemail/", views.voicemail, name="twilio_incoming_voicemail"),
]
