"""seed_demo's 90 days of history: every analytics tab has figures, nobody is paged, once."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command

from analytics.selectors import Filters, Scope, breakdown, overview, responder_load, scope_for
from escalations.engine.models import EscalationRun, RunState
from escalations.notifications.models import Notification, NotificationStatus
from incidents.models import Incident, Status
from opsduty.models import Organization, User

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def _seed(*args: str) -> Organization:
    with time_machine.travel(NOW, tick=False):
        call_command("seed_demo", *args, stdout=io.StringIO())
    return Organization.objects.get(domain="demo")


def _owner_view(organization: Organization) -> tuple[Scope, Filters]:
    owner = User.objects.get(organization=organization, email="owner@demo.example")
    today = NOW.date()
    return scope_for(owner), Filters(start=today - timedelta(days=89), end=today)


def test_the_demo_has_90_days_of_incidents_for_every_analytics_tab() -> None:
    organization = _seed()
    incidents = Incident.objects.filter(organization=organization)
    assert 200 <= incidents.count() <= 600
    assert incidents.filter(created_at__lt=NOW - timedelta(days=60)).exists()
    assert not incidents.filter(created_at__lt=NOW - timedelta(days=91)).exists()
    scope, last_90_days = _owner_view(organization)
    metrics = overview(scope, last_90_days)
    assert metrics.incidents == incidents.count()
    assert metrics.acknowledged > metrics.incidents / 2
    assert metrics.escalated > 0 and metrics.auto_resolved > 0
    assert metrics.mtta and metrics.mttr
    for dimension in ("service", "policy", "team"):
        assert len(breakdown(scope, last_90_days, dimension)) == 2
    people = {load.user_id for load in responder_load(scope, last_90_days)}
    assert {u.email for u in User.objects.filter(pk__in=people)} >= {
        "alice@demo.example",
        "bob@demo.example",
    }


def test_the_history_pages_nobody_and_leaves_nothing_due() -> None:
    organization = _seed()
    incidents = Incident.objects.filter(organization=organization)
    assert not incidents.exclude(status__in=[Status.RESOLVED, Status.ACKNOWLEDGED]).exists()
    assert incidents.filter(status=Status.ACKNOWLEDGED).count() == 3
    notifications = Notification.objects.filter(organization=organization)
    assert notifications.exists()
    assert not notifications.exclude(status=NotificationStatus.SENT).exists()
    runs = EscalationRun.objects.filter(organization=organization)
    assert runs.count() == incidents.count()
    assert not runs.filter(state__in=[RunState.ACTIVE, RunState.ACK_WAIT]).exists()
    numbers = sorted(incidents.values_list("number", flat=True))
    assert numbers == list(range(1, len(numbers) + 1))


def test_the_history_is_written_once() -> None:
    organization = _seed()
    scope, last_90_days = _owner_view(organization)
    before = overview(scope, last_90_days).as_dict()
    count = Incident.objects.filter(organization=organization).count()
    _seed()
    assert Incident.objects.filter(organization=organization).count() == count
    assert overview(scope, last_90_days).as_dict() == before


def test_no_history_leaves_the_demo_without_incidents() -> None:
    organization = _seed("--no-history")
    assert not Incident.objects.filter(organization=organization).exists()
