"""For random incident histories and random ranges and filters, what the rollups answer (kept
by the upkeep, change by change) equals the direct query over the incidents, and equals a
rebuild from scratch."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.selectors import Filters, Scope, direct_metrics, overview
from analytics.services import analytics_rebuild
from incidents import services as incident_services
from incidents.models import Incident
from opsduty.models import Organization, Service, User
from tests import factories

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)  # Europe/Oslo changes to summer time on the 29th
DAYS = 14

ACTIONS = ("ack", "ack_signal", "unack", "resolve", "resolve_system", "reopen", "low", "high")

incident_histories = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=DAYS * 24 * 60),  # minute it opens
        st.integers(min_value=0, max_value=1),  # which service
        st.lists(
            st.tuples(st.sampled_from(ACTIONS), st.integers(min_value=1, max_value=600)),
            max_size=5,
        ),
    ),
    min_size=1,
    max_size=8,
)
ranges = st.tuples(
    st.integers(min_value=-1, max_value=DAYS + 1), st.integers(min_value=0, max_value=DAYS + 2)
)


def _act(incident: Incident, action: str, by: User) -> None:
    incident.refresh_from_db()
    calls: dict[str, Any] = {
        "ack": lambda: incident_services.incident_acknowledge(incident=incident, by=by),
        "ack_signal": lambda: incident_services.incident_acknowledge(incident=incident, by=None),
        "unack": lambda: incident_services.incident_unacknowledge(incident=incident, by=by),
        "resolve": lambda: incident_services.incident_resolve(incident=incident, by=by),
        "resolve_system": lambda: incident_services.incident_resolve(incident=incident, by=None),
        "reopen": lambda: incident_services.incident_unresolve(incident=incident, by=by),
        "low": lambda: incident_services.incident_set_urgency(
            incident=incident, by=by, urgency="low"
        ),
        "high": lambda: incident_services.incident_set_urgency(
            incident=incident, by=by, urgency="high"
        ),
    }
    try:
        calls[action]()
    except Exception as error:  # noqa: BLE001 - a refused transition is part of the history
        if error.__class__.__name__ not in ("ValidationError", "PermissionDenied"):
            raise


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(histories=incident_histories, span=ranges, urgency=st.sampled_from([None, "high", "low"]))
def test_rollups_equal_the_direct_query(
    org_a: Organization,
    owner: User,
    histories: list[tuple[int, int, list[tuple[str, int]]]],
    span: tuple[int, int],
    urgency: str | None,
) -> None:
    Incident.objects.filter(organization=org_a).delete()
    analytics_rebuild(organizations=[org_a])  # an empty start for this example
    org_a.time_zone = "Europe/Oslo"
    org_a.save(update_fields=["time_zone"])
    services: list[Service] = list(Service.objects.filter(organization=org_a).order_by("pk"))
    while len(services) < 2:
        services.append(factories.make_service(organization=org_a))
    for opened, which, actions in histories:
        at = START + timedelta(minutes=opened)
        with time_machine.travel(at, tick=False):
            incident = factories.make_incident(service=services[which])
        for action, after in actions:
            at += timedelta(minutes=after)
            with time_machine.travel(at, tick=False):
                _act(incident, action, owner)
    first = date(2026, 3, 20) + timedelta(days=min(span))
    last = date(2026, 3, 20) + timedelta(days=max(span))
    for filters in (
        Filters(start=first, end=last, urgency=urgency),
        Filters(start=first, end=last, service_id=services[0].pk),
    ):
        from_rollups = overview(Scope(org_a.pk, None), filters).as_dict()
        assert from_rollups == direct_metrics(org_a, filters).as_dict()
    kept = overview(Scope(org_a.pk, None), Filters(start=first, end=last)).as_dict()
    analytics_rebuild(organizations=[org_a])
    assert overview(Scope(org_a.pk, None), Filters(start=first, end=last)).as_dict() == kept
