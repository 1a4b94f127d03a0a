"""seed_demo builds DEMO.md's heartbeat, once."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from signals.models import Heartbeat, HeartbeatState

pytestmark = pytest.mark.django_db


def test_the_demo_heartbeat_has_its_two_environments_and_reruns_change_nothing() -> None:
    call_command("seed_demo", stdout=None)
    heartbeat = Heartbeat.objects.get(name="nightly-backup")
    assert heartbeat.service.routing_key == "demo-api"
    states = {s.environment: s for s in HeartbeatState.objects.filter(heartbeat=heartbeat)}
    prod, staging = states["prod"], states["staging"]
    assert (prod.type, prod.cron_expression, prod.cron_timezone, prod.timeout_seconds) == (
        "cron",
        "0 2 * * *",
        "Europe/Oslo",
        1800,
    )
    assert (staging.type, staging.interval_seconds, staging.timeout_seconds) == (
        "interval",
        3600,
        300,
    )
    before = list(HeartbeatState.objects.values_list("pk", "next_deadline"))
    call_command("seed_demo", stdout=None)
    assert Heartbeat.objects.count() == 1
    assert list(HeartbeatState.objects.values_list("pk", "next_deadline")) == before
