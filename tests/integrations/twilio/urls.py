"""The site's URLs plus the development phone's (until opsduty/urls_ui.py includes them)."""

from django.urls import include, path

from opsduty.urls import urlpatterns as site

urlpatterns = [*site, path("", include("integrations.twilio.devphone.urls"))]
