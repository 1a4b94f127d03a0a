"""Signal endpoints at the site root: the webhook receiver (the same paths opsduty/wsgi.py
routes to WSGI directly) and the public heartbeat check-in."""

from __future__ import annotations

from django.urls import path, re_path

from signals.heartbeats import checkin as heartbeat_checkin
from signals.receiver import views

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
    # The library sends the forms with the trailing slash; the others are served as well
    # (never redirected). An environment may contain `/` (sent as %2F or raw).
    path(
        "heartbeats/checkin/<str:key>/",
        heartbeat_checkin.heartbeat_checkin,
        name="heartbeat_checkin",
    ),
    path("heartbeats/checkin/<str:key>", heartbeat_checkin.heartbeat_checkin),
    path(
        "heartbeats/checkin/<str:key>/<path:environment>/",
        heartbeat_checkin.heartbeat_checkin,
        name="heartbeat_checkin_environment",
    ),
    path("heartbeats/checkin/<str:key>/<path:environment>", heartbeat_checkin.heartbeat_checkin),
    re_path(r"^heartbeats/checkin/", heartbeat_checkin.heartbeat_checkin_unmatched),
]
