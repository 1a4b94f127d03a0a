"""The profile's Phone section; included by opsduty/urls_ui.py (no id kwargs)."""

from __future__ import annotations

from django.urls import path

from integrations.twilio.verification import views

urlpatterns = [
    path("profile/phone/", views.profile_phone, name="profile_phone"),
    path("profile/phone/code/", views.phone_code_send, name="profile_phone_code_send"),
    path("profile/phone/verify/", views.phone_code_check, name="profile_phone_verify"),
]
