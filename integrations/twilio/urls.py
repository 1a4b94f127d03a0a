"""What Twilio calls, under /integrations/twilio/<key>/ (the key picks the account whose
token signs the request; every view checks the signature). Included by opsduty/urls.py."""

from __future__ import annotations

from django.urls import include, path

from integrations.twilio import views

urlpatterns = [
    path("", include("integrations.twilio.incoming.urls")),
    path("integrations/twilio/<str:key>/sms/", views.sms_inbound, name="twilio_sms_inbound"),
    path(
        "integrations/twilio/<str:key>/sms/status/<int:notification_id>/",
        views.sms_status,
        name="twilio_sms_status",
    ),
    path(
        "integrations/twilio/<str:key>/voice/notification/<int:notification_id>/",
        views.voice_notification,
        name="twilio_voice_notification",
    ),
    path(
        "integrations/twilio/<str:key>/voice/notification/<int:notification_id>/keys/",
        views.voice_notification_keys,
        name="twilio_voice_notification_keys",
    ),
    path(
        "integrations/twilio/<str:key>/voice/notification/<int:notification_id>/status/",
        views.call_status,
        name="twilio_call_status",
    ),
]
