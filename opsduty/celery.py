"""The Celery app (`celery -A opsduty worker`); tasks live in each app's tasks.py."""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsduty.settings")

app = Celery("opsduty")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Queues (STYLE.md): ingest, escalation, notify, default. Tasks name their queue.
app.conf.task_routes = {
    "signals.*": {"queue": "ingest"},
    "processing.*": {"queue": "ingest"},
    "escalations.*": {"queue": "escalation"},
    "incidents.*": {"queue": "escalation"},
    "notifications.*": {"queue": "notify"},
    "heartbeats.misses_detect": {"queue": "escalation"},
    "heartbeats.checkins_prune": {"queue": "default"},
}

app.conf.beat_schedule = {
    "incidents-silence-sweep": {"task": "incidents.silence_sweep", "schedule": 5.0},
    "signals-raw-event-sweep": {"task": "signals.raw_event_sweep", "schedule": 5.0},
    "escalations-maintenance-sweep": {"task": "escalations.maintenance_sweep", "schedule": 5.0},
    "notifications-sweep": {"task": "notifications.sweep", "schedule": 5.0},
    "escalations-run-sweep": {"task": "escalations.run_sweep", "schedule": 2.0},
    # A miss is reported within about a second of its deadline (docs/heartbeats.md).
    "heartbeats-misses-detect": {"task": "heartbeats.misses_detect", "schedule": 1.0},
    "heartbeats-checkins-prune": {"task": "heartbeats.checkins_prune", "schedule": 300.0},
    "sessions-clear-expired": {
        "task": "opsduty.tasks.sessions_clear_expired",
        "schedule": crontab(minute=17, hour=3),
    },
}
