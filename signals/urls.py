"""Signal endpoints at the site root (the same paths opsduty/wsgi.py routes to WSGI directly)."""

from __future__ import annotations

from django.urls import path

from signals import views

urlpatterns = [
    path(
        "integrations/webhooks/enque/event/<str:webhook_key>/<str:routing_key>",
        views.webhook_receive,
    ),
    path(
        "integrations/webhooks/enque/event/<str:webhook_key>/<str:routing_key>/",
        views.webhook_receive,
        name="webhook_receive",
    ),
]
