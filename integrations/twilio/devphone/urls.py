"""The development phone's URLs (included at the site root, next to /dev/inbox/)."""

from __future__ import annotations

from django.urls import path

from integrations.twilio.devphone import views

urlpatterns = [
    path("dev/phone/", views.dev_phone, name="dev_phone"),
    path("dev/phone/sms/", views.dev_phone_sms, name="dev_phone_sms"),
    path("dev/phone/calls/", views.dev_phone_call, name="dev_phone_call"),
    path(
        "dev/phone/calls/<str:call_sid>/", views.dev_phone_call_action, name="dev_phone_call_action"
    ),
]
