"""Each metric's definition (docs/analytics.md), on incidents driven through the services, read
from the rollups the incidents hook keeps, and equal to a rebuild from scratch."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine

from analytics.selectors import Filters, Scope, overview, scope_for
from analytics.services import analytics_rebuild
from escalations.catalog import services as catalog
from incidents import services as incident_services
from incidents.models import Incident
from opsduty.models import Organization, Service, User
from tests import factories

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
DAY = date(2026, 3, 2)


@pytest.fixture
def service(org_a: Organization, member: User) -> Service:
    team = factories.make_team(organization=org_a, name="Payments")
    factories.add_member(team, member)
    return catalog.service_create(team=team, by=None, name="Checkout")


def _metrics(org: Organization, **filters: Any) -> Any:
    return overview(Scope(org.pk, None), Filters(start=DAY, end=DAY, **filters))


def _open(service: Service, at: datetime, **event: Any) -> Incident:
    with time_machine.travel(at, tick=False):
        return factories.make_incident(service=service, **event)


def _at(at: datetime, action: Any, **kwargs: Any) -> None:
    with time_machine.travel(at, tick=False):
        action(**kwargs)


def _rebuilt_equals_upkeep(org: Organization) -> None:
    before = _metrics(org).as_dict()
    analytics_rebuild(organizations=[org])
    assert _metrics(org).as_dict() == before


def test_mtta_counts_the_first_acknowledgement_by_a_person(
    org_a: Organization, service: Service, member: User
) -> None:
    incident = _open(service, T0)
    _at(
        T0 + timedelta(minutes=4),
        incident_services.incident_acknowledge,
        incident=incident,
        by=member,
    )
    _at(
        T0 + timedelta(minutes=5),
        incident_services.incident_unacknowledge,
        incident=incident,
        by=member,
    )
    _at(
        T0 + timedelta(minutes=9),
        incident_services.incident_acknowledge,
        incident=incident,
        by=member,
    )
    metrics = _metrics(org_a)
    assert (metrics.incidents, metrics.acknowledged) == (1, 1)
    assert metrics.mtta == 240.0  # the first acknowledgement, not the later one
    assert metrics.ack_within_5m == 1
    _rebuilt_equals_upkeep(org_a)


def test_an_acknowledge_signal_is_not_a_persons_acknowledgement(
    org_a: Organization, service: Service
) -> None:
    incident = _open(service, T0)
    _at(
        T0 + timedelta(minutes=1),
        incident_services.incident_acknowledge,
        incident=incident,
        by=None,
    )
    metrics = _metrics(org_a)
    assert (metrics.acknowledged, metrics.not_acknowledged, metrics.mtta) == (0, 1, None)
    _rebuilt_equals_upkeep(org_a)


def test_mttr_excludes_open_and_reopened_incidents_and_counts_the_last_resolve(
    org_a: Organization, service: Service, member: User
) -> None:
    first = _open(service, T0)
    second = _open(service, T0)
    _open(service, T0)  # stays open
    _at(T0 + timedelta(minutes=10), incident_services.incident_resolve, incident=first, by=member)
    _at(T0 + timedelta(minutes=20), incident_services.incident_resolve, incident=second, by=member)
    _at(
        T0 + timedelta(minutes=30), incident_services.incident_unresolve, incident=second, by=member
    )
    metrics = _metrics(org_a)
    assert (metrics.resolved, metrics.open, metrics.mttr) == (1, 2, 600.0)
    _at(T0 + timedelta(minutes=60), incident_services.incident_resolve, incident=second, by=member)
    metrics = _metrics(org_a)
    assert (metrics.resolved, metrics.mttr) == (2, (600.0 + 3600.0) / 2)
    assert metrics.resolved_without_ack == 2
    _rebuilt_equals_upkeep(org_a)


def test_auto_resolved_and_resolved_without_ack_are_counted_apart(
    org_a: Organization, service: Service, member: User
) -> None:
    by_system = _open(service, T0)
    by_person = _open(service, T0)
    acked = _open(service, T0)
    _at(T0 + timedelta(minutes=1), incident_services.incident_resolve, incident=by_system, by=None)
    _at(
        T0 + timedelta(minutes=1), incident_services.incident_resolve, incident=by_person, by=member
    )
    _at(
        T0 + timedelta(minutes=1), incident_services.incident_acknowledge, incident=acked, by=member
    )
    _at(T0 + timedelta(minutes=2), incident_services.incident_resolve, incident=acked, by=None)
    metrics = _metrics(org_a)
    assert (metrics.auto_resolved, metrics.resolved_without_ack, metrics.acknowledged) == (1, 1, 1)
    assert metrics.ack_rate == pytest.approx(100 / 3)
    _rebuilt_equals_upkeep(org_a)


def test_days_are_the_organizations_and_urgency_moves_an_incident(
    org_a: Organization, service: Service, member: User
) -> None:
    org_a.time_zone = "Pacific/Auckland"  # UTC+13 in March: 2026-03-01 11:00 UTC is the 2nd
    org_a.save(update_fields=["time_zone"])
    incident = _open(service, datetime(2026, 3, 1, 11, 0, tzinfo=UTC))
    assert _metrics(org_a).incidents == 1
    assert _metrics(org_a, urgency="high").incidents == 1
    _at(T0, incident_services.incident_set_urgency, incident=incident, by=member, urgency="low")
    assert _metrics(org_a, urgency="high").incidents == 0
    assert _metrics(org_a, urgency="low").incidents == 1
    _rebuilt_equals_upkeep(org_a)


def test_members_see_their_teams_and_owners_and_stakeholders_everything(
    org_a: Organization, service: Service, member: User, owner: User, stakeholder: User
) -> None:
    other = factories.make_service(organization=org_a, name="Elsewhere")
    _open(service, T0)
    _open(other, T0)
    filters = Filters(start=DAY, end=DAY)
    assert overview(scope_for(member), filters).incidents == 1
    assert overview(scope_for(owner), filters).incidents == 2
    assert overview(scope_for(stakeholder), filters).incidents == 2


def test_another_organization_is_never_counted(
    org_a: Organization, org_b: Organization, service: Service
) -> None:
    _open(factories.make_service(organization=org_b), T0)
    assert _metrics(org_a).incidents == 0
    assert _metrics(org_b).incidents == 1


def test_days_follow_the_daylight_saving_change_and_empty_days_are_zero(
    org_a: Organization, service: Service
) -> None:
    from analytics.selectors import incidents_over_time

    org_a.time_zone = "Europe/Oslo"  # summer time from 2026-03-29 02:00 (UTC+1 -> UTC+2)
    org_a.save(update_fields=["time_zone"])
    _open(service, datetime(2026, 3, 28, 23, 30, tzinfo=UTC))  # 00:30 on the 29th, UTC+1
    _open(service, datetime(2026, 3, 29, 22, 30, tzinfo=UTC), urgency="low")  # 00:30, 30th
    _open(service, datetime(2026, 3, 29, 21, 30, tzinfo=UTC))  # 23:30 on the 29th, UTC+2
    scope = Scope(org_a.pk, None)
    daily = incidents_over_time(
        scope, Filters(start=date(2026, 3, 27), end=date(2026, 3, 31)), weekly=False
    )
    assert [(p.start.day, p.high, p.low) for p in daily] == [
        (27, 0, 0),
        (28, 0, 0),
        (29, 2, 0),
        (30, 0, 1),
        (31, 0, 0),
    ]
    weekly = incidents_over_time(
        scope, Filters(start=date(2026, 3, 23), end=date(2026, 4, 5)), weekly=True
    )
    # ISO weeks from Monday: the 29th (a Sunday) and the 30th (a Monday) fall apart.
    assert [(p.start, p.high, p.low) for p in weekly] == [
        (date(2026, 3, 23), 2, 0),
        (date(2026, 3, 30), 0, 1),
    ]


def test_compaction_folds_the_new_rows_and_changes_no_figure(
    org_a: Organization, service: Service, member: User
) -> None:
    from analytics.models import IncidentRollup
    from analytics.services import rollups_compact

    incidents = [_open(service, T0 + timedelta(minutes=n)) for n in range(3)]
    _at(
        T0 + timedelta(minutes=9),
        incident_services.incident_acknowledge,
        incident=incidents[0],
        by=member,
    )
    _at(
        T0 + timedelta(minutes=9),
        incident_services.incident_resolve,
        incident=incidents[1],
        by=member,
    )
    before = _metrics(org_a).as_dict()
    assert IncidentRollup.objects.filter(compacted=False).count() > 1
    assert rollups_compact() > 1
    assert IncidentRollup.objects.filter(compacted=False).count() == 0
    assert IncidentRollup.objects.count() == 1  # one key: one row
    assert _metrics(org_a).as_dict() == before
    # New changes land as new rows again, and fold into the same row.
    _at(
        T0 + timedelta(minutes=20),
        incident_services.incident_resolve,
        incident=incidents[2],
        by=member,
    )
    assert rollups_compact() == 1
    assert IncidentRollup.objects.count() == 1
    assert _metrics(org_a).resolved == 2
