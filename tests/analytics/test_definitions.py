"""Each metric's definition (docs/analytics.md), on incidents driven through the services, read
from the rollups the incidents hook keeps, and equal to a rebuild from scratch."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine

from analytics.models import HISTOGRAM_BOUNDS, IncidentRollup, IncidentSpanRollup
from analytics.selectors import (
    Filters,
    Metrics,
    Scope,
    breakdown,
    direct_metrics,
    incidents_over_time,
    overview,
    range_pieces,
    scope_for,
)
from analytics.services import SUMS as _SUMS
from analytics.services import analytics_rebuild, rollups_compact
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


def _rollup_rows(org: Organization) -> dict[str, list[tuple[Any, ...]]]:
    """Every non-empty row of both rollup tables (the upkeep leaves emptied rows behind)."""
    tables = {}
    for model in (IncidentRollup, IncidentSpanRollup):
        names = [field.name for field in model._meta.concrete_fields if field.name != "id"]
        rows = [
            tuple(round(v, 6) if isinstance(v, float) else v for v in row)
            for row in model.objects.filter(organization_id=org.pk, incidents__gt=0).values_list(
                *names
            )
        ]
        tables[model.__name__] = sorted(rows, key=repr)
    return tables


def _rebuilt_equals_upkeep(org: Organization) -> None:
    before = _metrics(org).as_dict()
    rollups_compact()  # the upkeep's appended rows folded, as the beat task does
    rows = _rollup_rows(org)
    analytics_rebuild(organizations=[org])
    assert _metrics(org).as_dict() == before
    assert _rollup_rows(org) == rows


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
    assert rollups_compact() == 3  # its day's row, and its week's and its month's
    assert IncidentRollup.objects.count() == 1
    assert _metrics(org_a).resolved == 2


def test_range_pieces_cover_each_day_of_the_range_once() -> None:
    start = date(2025, 12, 20)
    for offset in range(0, 70, 3):
        for length in (1, 6, 7, 13, 31, 45, 90, 200, 366):
            first = start + timedelta(days=offset)
            last = first + timedelta(days=length - 1)
            for signed in (True, False):
                pieces = range_pieces(first, last, signed=signed)
                days = list(pieces.days)
                for monday in pieces.weeks:
                    assert monday.weekday() == 0
                    days += [monday + timedelta(days=n) for n in range(7)]
                for month in pieces.months:
                    assert month.day == 1
                    day = month
                    while day.month == month.month:
                        days.append(day)
                        day += timedelta(days=1)
                for day in pieces.minus_days:
                    days.remove(day)
                assert signed or not pieces.minus_days
                assert sorted(days) == [first + timedelta(days=n) for n in range(length)]


def test_a_long_range_sums_whole_months_and_weeks_as_the_days_add_up(
    org_a: Organization, service: Service, member: User
) -> None:
    """Over four months the figures come mostly from the week and month rollups; they equal
    the incidents' own figures and the days' figures, and a rebuild gives the same rows."""
    other = factories.make_service(organization=org_a, name="Elsewhere")
    start = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)
    for n in range(16):
        at = start + timedelta(days=7 * n + n % 5, hours=n)
        incident = _open(service if n % 3 else other, at, urgency="low" if n % 4 == 0 else "high")
        if n % 2:
            _at(
                at + timedelta(minutes=n + 1),
                incident_services.incident_acknowledge,
                incident=incident,
                by=member,
            )
        if n % 5 != 4:
            _at(
                at + timedelta(hours=n + 1),
                incident_services.incident_resolve,
                incident=incident,
                by=None if n % 3 == 0 else member,
            )
    scope = Scope(org_a.pk, None)
    long = Filters(start=date(2026, 1, 10), end=date(2026, 5, 13))
    assert range_pieces(long.start, long.end).months  # the span rollups are read
    whole = overview(scope, long)
    assert whole.as_dict() == direct_metrics(org_a, long).as_dict()
    assert whole.incidents == 16
    by_day = [
        overview(scope, Filters(start=day, end=day))
        for day in (long.start + timedelta(days=n) for n in range((long.end - long.start).days + 1))
    ]
    assert sum(m.incidents for m in by_day) == 16
    assert sum(m.resolve_seconds_sum for m in by_day) == pytest.approx(whole.resolve_seconds_sum)
    assert [sum(t) for t in zip(*(m.ack_histogram for m in by_day), strict=True)] == (
        whole.ack_histogram
    )
    services = breakdown(scope, long, "service")
    assert {k: m.incidents for k, m in services.items()} == {service.pk: 10, other.pk: 6}
    low = overview(scope, Filters(start=long.start, end=long.end, urgency="low"))
    assert low.incidents == 4
    weekly = incidents_over_time(scope, long, weekly=True)
    daily = incidents_over_time(scope, long, weekly=False)
    assert sum(p.high + p.low for p in weekly) == sum(p.high + p.low for p in daily) == 16
    assert sum(p.low for p in weekly) == 4
    _rebuilt_equals_upkeep(org_a)


def test_a_label_filter_sums_the_facts_with_the_rollups_buckets(
    org_a: Organization, service: Service, member: User
) -> None:
    """With a label the figures come from the facts, in SQL: the same sums and the same
    histogram buckets as the rollups (a duration exactly on a bucket's bound included)."""
    bound = HISTOGRAM_BOUNDS[3]
    for n, ack in enumerate((bound, bound + 0.5, 1.0, float(HISTOGRAM_BOUNDS[-1]) + 5)):
        incident = _open(service, T0 + timedelta(minutes=n))
        incident_services.incident_add_label(incident=incident, by=member, name="db")
        _at(
            T0 + timedelta(minutes=n, seconds=ack),
            incident_services.incident_acknowledge,
            incident=incident,
            by=member,
        )
        if n % 2:
            _at(
                T0 + timedelta(minutes=n, hours=2),
                incident_services.incident_resolve,
                incident=incident,
                by=None,
            )
    _open(service, T0)  # not labelled
    scope = Scope(org_a.pk, None)
    labelled = overview(scope, Filters(start=DAY, end=DAY, label="db")).as_dict()
    everything = _metrics(org_a)
    assert labelled["incidents"] == 4 and everything.incidents == 5
    only_labelled = Metrics()
    only_labelled.add(
        {
            **{name: getattr(everything, name) for name in _SUMS},
            "incidents": 4,
            "ack_histogram": everything.ack_histogram,
            "resolve_histogram": everything.resolve_histogram,
        }
    )
    assert labelled == only_labelled.as_dict()
    by_facts = breakdown(scope, Filters(start=DAY, end=DAY, label="db"), "service")[service.pk]
    assert by_facts.ack_histogram == everything.ack_histogram
    assert by_facts.resolve_histogram == everything.resolve_histogram
    series = incidents_over_time(scope, Filters(start=DAY, end=DAY, label="db"), weekly=False)
    assert [(p.high, p.low) for p in series] == [(4, 0)]


def test_a_week_read_whole_less_its_days_outside_the_range(
    org_a: Organization, service: Service, member: User
) -> None:
    """Monday 2026-03-02 to Saturday 03-07 is read as that week less Sunday 03-08: the
    Sunday's incidents are taken away again, to the bucket."""
    week = Filters(start=date(2026, 3, 2), end=date(2026, 3, 7))
    assert range_pieces(week.start, week.end).minus_days == [date(2026, 3, 8)]
    for day, minutes in ((2, 3), (7, 30), (8, 3), (8, 45)):
        incident = _open(service, datetime(2026, 3, day, 12, 0, tzinfo=UTC))
        _at(
            datetime(2026, 3, day, 12, minutes, tzinfo=UTC),
            incident_services.incident_acknowledge,
            incident=incident,
            by=member,
        )
    metrics = overview(Scope(org_a.pk, None), week)
    assert metrics.as_dict() == direct_metrics(org_a, week).as_dict()
    assert (metrics.incidents, metrics.acknowledged, metrics.mtta) == (2, 2, (180 + 1800) / 2)
    assert sum(metrics.ack_histogram) == 2
    sunday = Filters(start=date(2026, 3, 8), end=date(2026, 3, 8))
    assert breakdown(Scope(org_a.pk, None), sunday, "team") == {
        service.team_id: overview(Scope(org_a.pk, None), sunday)
    }
    nothing = Filters(start=date(2026, 3, 3), end=date(2026, 3, 6))
    assert breakdown(Scope(org_a.pk, None), nothing, "service") == {}


def test_a_change_after_a_time_zone_change_moves_the_incident_to_its_new_day(
    org_a: Organization, service: Service, member: User
) -> None:
    """Created Tuesday 23:30 UTC (Wednesday in Oslo): after the organization moves to Oslo,
    the next change moves its fact from Tuesday to Wednesday, in one week and one month."""
    incident = _open(service, datetime(2026, 3, 3, 23, 30, tzinfo=UTC))
    org_a.time_zone = "Europe/Oslo"
    org_a.save(update_fields=["time_zone"])
    _at(
        datetime(2026, 3, 3, 23, 40, tzinfo=UTC),
        incident_services.incident_acknowledge,
        incident=incident,
        by=member,
    )
    scope = Scope(org_a.pk, None)
    assert overview(scope, Filters(start=date(2026, 3, 3), end=date(2026, 3, 3))).incidents == 0
    wednesday = overview(scope, Filters(start=date(2026, 3, 4), end=date(2026, 3, 4)))
    assert (wednesday.incidents, wednesday.acknowledged) == (1, 1)
    march = overview(scope, Filters(start=date(2026, 3, 1), end=date(2026, 3, 31)))
    assert (march.incidents, march.acknowledged, march.mtta) == (1, 1, 600.0)
    _rebuilt_equals_upkeep(org_a)
