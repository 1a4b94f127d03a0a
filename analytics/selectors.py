"""Reads of the analytics: the metrics of a date range (days in the organization's time zone)
for the overview and per service, escalation policy or team, incidents over time, and the
responder load. Everything is summed from the rollups; a label filter (labels are not a
rollup dimension) sums the facts of the labelled incidents instead, with the same rules.

Who sees what: owners and stakeholders the whole organization, members their teams' data
(`Scope.team_ids`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, cast

from django.contrib.postgres.fields import ArrayField
from django.db import connection, transaction
from django.db.models import (
    Aggregate,
    Count,
    F,
    FloatField,
    Func,
    IntegerField,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.expressions import CombinedExpression

from analytics.models import (
    BUCKETS,
    HISTOGRAM_BOUNDS,
    IncidentFact,
    IncidentRollup,
    IncidentSpanRollup,
    PendingChange,
    Period,
    ResponderRollup,
    Span,
)
from analytics.services import ACK_FAST_SECONDS, SUMS, bucket_of
from escalations.models import EscalationPolicy
from incidents.models import Incident
from opsduty.models import Label, Organization, Role, Service, Team, TeamMembership, User

__all__ = [
    "DAILY_MAX_DAYS",
    "DIMENSIONS",
    "METRIC_ATTRIBUTES",
    "Filters",
    "Metrics",
    "Pieces",
    "ResponderLoad",
    "Scope",
    "SeriesPoint",
    "breakdown",
    "direct_metrics",
    "histograms_read",
    "incidents_over_time",
    "names_of",
    "overview",
    "percentile",
    "range_pieces",
    "recounting",
    "responder_load",
    "scope_for",
    "weekly_buckets",
]

DIMENSIONS = {"service": "service_id", "policy": "policy_id", "team": "team_id"}
MAX_RANGE_DAYS = 366
# Incidents over time: day buckets up to this many days, ISO weeks beyond (pages and API).
DAILY_MAX_DAYS = 31


def weekly_buckets(filters: Filters) -> bool:
    """Whether the range is shown in weeks (longer than DAILY_MAX_DAYS days)."""
    return (filters.end - filters.start).days + 1 > DAILY_MAX_DAYS


@dataclass(frozen=True)
class Filters:
    start: date  # first day, inclusive
    end: date  # last day, inclusive
    team_id: int | None = None
    service_id: int | None = None
    urgency: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class Scope:
    """What the viewer may see: every team (None) or these teams' data."""

    organization_id: int
    team_ids: tuple[int, ...] | None


def recounting(organization: Organization) -> bool:
    """Whether a rebuild of the organization's analytics is asked for and not done yet (e.g.
    after a time zone change: the figures still count days in the old zone)."""
    return PendingChange.objects.filter(organization=organization, rebuild=True).exists()


def scope_for(user: User) -> Scope:
    """Owners and stakeholders see the organization, members their teams."""
    if user.role in (Role.OWNER, Role.STAKEHOLDER):
        return Scope(user.organization_id, None)
    teams = TeamMembership.objects.filter(user=user).values_list("team_id", flat=True)
    return Scope(user.organization_id, tuple(sorted(teams)))


def percentile(histogram: Sequence[int], fraction: float) -> float | None:
    """The `fraction` percentile of a histogram, interpolated inside its bucket (seconds)."""
    total = sum(histogram)
    if total == 0:
        return None
    rank = fraction * total
    seen = 0
    for index, count in enumerate(histogram):
        if count and seen + count >= rank:
            low = HISTOGRAM_BOUNDS[index - 1] if index > 0 else 0
            high = HISTOGRAM_BOUNDS[index] if index < len(HISTOGRAM_BOUNDS) else low * 2
            return low + (high - low) * max(0.0, rank - seen) / count
        seen += count
    return float(HISTOGRAM_BOUNDS[-1])


@dataclass
class Metrics:
    """The figures of a set of incidents, with their definitions in docs/analytics.md."""

    incidents: int = 0
    acknowledged: int = 0
    ack_seconds_sum: float = 0.0
    ack_within_5m: int = 0
    resolved: int = 0
    resolve_seconds_sum: float = 0.0
    auto_resolved: int = 0
    resolved_without_ack: int = 0
    escalated: int = 0
    reassigned: int = 0
    ack_histogram: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    resolve_histogram: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    # False when read without the histograms (`breakdown(histograms=False)`): the
    # percentiles are then unknown (reading one raises) until `histograms_read` adds them.
    histograms: bool = True

    def add(self, row: dict[str, Any], *, sign: int = 1) -> None:
        """Add (or with `sign` -1, take away) a row of sums and histograms (if it has them)."""
        for name in SUMS:
            setattr(self, name, getattr(self, name) + sign * (row[name] or 0))
        if "ack_histogram" not in row:
            return
        for name in ("ack_histogram", "resolve_histogram"):
            mine, values = getattr(self, name), row[name] or ()
            if len(values) == len(mine):  # whole histograms: one pass (2,000 rows a tab)
                setattr(self, name, [a + sign * b for a, b in zip(mine, values, strict=True)])
                continue
            for index, value in enumerate(values):
                mine[index] += sign * value

    @property
    def not_acknowledged(self) -> int:
        return self.incidents - self.acknowledged

    @property
    def open(self) -> int:
        return self.incidents - self.resolved

    @property
    def mtta(self) -> float | None:
        return self.ack_seconds_sum / self.acknowledged if self.acknowledged else None

    @property
    def mttr(self) -> float | None:
        return self.resolve_seconds_sum / self.resolved if self.resolved else None

    def _histogram(self, name: str) -> list[int]:
        if not self.histograms:
            raise LookupError("read without its histograms: see histograms_read()")
        histogram: list[int] = getattr(self, name)
        return histogram

    @property
    def mtta_p50(self) -> float | None:
        return percentile(self._histogram("ack_histogram"), 0.5)

    @property
    def mtta_p95(self) -> float | None:
        return percentile(self._histogram("ack_histogram"), 0.95)

    @property
    def mttr_p50(self) -> float | None:
        return percentile(self._histogram("resolve_histogram"), 0.5)

    @property
    def mttr_p95(self) -> float | None:
        return percentile(self._histogram("resolve_histogram"), 0.95)

    @property
    def ack_rate(self) -> float | None:
        """Acknowledged by a person, of all incidents (%)."""
        return 100.0 * self.acknowledged / self.incidents if self.incidents else None

    @property
    def ack_within_5m_rate(self) -> float | None:
        """Acknowledged by a person within 5 minutes, of all incidents (%)."""
        return 100.0 * self.ack_within_5m / self.incidents if self.incidents else None

    def value(self, key: str) -> Any:
        """One figure of `as_dict()` by its key."""
        return getattr(self, METRIC_ATTRIBUTES[key])

    def as_dict(self) -> dict[str, Any]:
        return {key: getattr(self, name) for key, name in METRIC_ATTRIBUTES.items()}


# The figures of `Metrics.as_dict()` (the API's and the CSV's keys) and their attributes.
METRIC_ATTRIBUTES = {
    "incidents": "incidents",
    "acknowledged": "acknowledged",
    "not_acknowledged": "not_acknowledged",
    "ack_rate": "ack_rate",
    "ack_within_5m_rate": "ack_within_5m_rate",
    "mtta_seconds": "mtta",
    "mtta_p50_seconds": "mtta_p50",
    "mtta_p95_seconds": "mtta_p95",
    "resolved": "resolved",
    "open": "open",
    "mttr_seconds": "mttr",
    "mttr_p50_seconds": "mttr_p50",
    "mttr_p95_seconds": "mttr_p95",
    "auto_resolved": "auto_resolved",
    "resolved_without_ack": "resolved_without_ack",
    "escalated": "escalated",
    "reassigned": "reassigned",
}


def _where(scope: Scope, filters: Filters) -> tuple[str, list[Any]]:
    """The scope and the filters but the range, as SQL on a rollup table."""
    clauses = ["organization_id = %s"]
    params: list[Any] = [scope.organization_id]
    if scope.team_ids is not None:
        clauses.append("team_id = ANY(%s)")
        params.append(list(scope.team_ids))
    if filters.team_id is not None:
        clauses.append("team_id = %s")
        params.append(filters.team_id)
    if filters.service_id is not None:
        clauses.append("service_id = %s")
        params.append(filters.service_id)
    if filters.urgency:
        clauses.append("urgency = %s")
        params.append(filters.urgency)
    return " AND ".join(clauses), params


@dataclass(frozen=True)
class Pieces:
    """A range as whole months, whole weeks (from Monday) and single days, by first day;
    less `minus_days` (days of a week at an end of the range that lie outside it)."""

    months: list[date]
    weeks: list[date]
    days: list[date]
    minus_days: list[date] = field(default_factory=list)


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _dates(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def range_pieces(start: date, end: date, *, months: bool = True, signed: bool = True) -> Pieces:
    """[start, end] cut into few rollup rows: whole months (if `months`), then whole weeks
    inside what is left at each end, then days. With `signed`, a week only partly inside
    is read whole less its days outside when that reads fewer rows (6 days inside: 1 week
    less 1 day instead of 6 days), as at the end of most ranges ending today."""
    whole: list[date] = []
    month = start if start.day == 1 else _next_month(start)
    while months and _next_month(month) - timedelta(days=1) <= end:
        whole.append(month)
        month = _next_month(month)
    ends = [(start, whole[0] - timedelta(days=1)), (month, end)] if whole else [(start, end)]
    pieces = Pieces(whole, [], [])
    for low, high in ends:
        day = low
        while day <= high:
            monday = day - timedelta(days=day.weekday())
            sunday = monday + timedelta(days=6)
            last = min(sunday, high)
            inside = (last - day).days + 1
            if inside == 7 or (signed and 7 - inside + 1 < inside):
                pieces.weeks.append(monday)
                pieces.minus_days.extend(_dates(monday, day - timedelta(days=1)))
                pieces.minus_days.extend(_dates(last + timedelta(days=1), sunday))
            else:
                pieces.days.extend(_dates(day, last))
            day = last + timedelta(days=1)
    return pieces


def _runs(firsts: list[date], step: int) -> list[tuple[date, date]]:
    """Sorted first days as runs of consecutive pieces `step` days apart: (first, last)."""
    runs: list[tuple[date, date]] = []
    for day in sorted(firsts):
        if runs and (day - runs[-1][1]).days == step:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _pieces_sql(
    pieces: Pieces, columns: str, where: str, params: list[Any]
) -> tuple[str, list[Any]]:
    """One SELECT of `columns` per kind of piece (daily rows, week rows, month rows), joined
    with UNION ALL; `where` (with `params`) applies to each. Consecutive pieces are one
    `day BETWEEN` (an index range; `day = ANY` of 90 days was tried per row)."""
    parts: list[str] = []
    values: list[Any] = []
    for table, span, firsts, step in (
        (_DAILY, None, pieces.days, 1),
        (_SPANS, Span.WEEK, pieces.weeks, 7),
        (_SPANS, Span.MONTH, pieces.months, 0),
    ):
        if not firsts:
            continue
        runs = _runs(firsts, step) if step else [(min(firsts), max(firsts))]
        days = " OR ".join(["day BETWEEN %s AND %s"] * len(runs))
        spanned = f" AND span = '{span.value}'" if span else ""
        parts.append(
            f"SELECT {columns} FROM {table} WHERE {where}{spanned} AND ({days})"  # noqa: S608
        )
        values += params + [day for run in runs for day in run]
    return " UNION ALL ".join(parts), values


_DAILY = IncidentRollup._meta.db_table
_SPANS = IncidentSpanRollup._meta.db_table
# Element-wise sums of the histograms: one SUM per bucket (arrays are 1-based).
_HISTOGRAM_SUMS = ", ".join(
    "ARRAY[" + ", ".join(f"SUM({name}[{n}])" for n in range(1, BUCKETS + 1)) + "]"
    for name in ("ack_histogram", "resolve_histogram")
)


def _without_histograms() -> Metrics:
    """A group read without its histograms (not two lists of BUCKETS zeros each)."""
    return Metrics(histograms=False, ack_histogram=[], resolve_histogram=[])


def _grouped(
    scope: Scope,
    filters: Filters,
    group: str | None,
    *,
    histograms: bool = True,
    keys: Sequence[Any] | None = None,
) -> dict[Any, Metrics]:
    """Metrics per value of `group` (a column; None: one group) over the range; groups
    without an incident in it are left out. Without `histograms` the percentiles are left
    unknown (the histograms are most of the work: 57 sums per row and metric); `keys`
    reads those groups only."""
    if filters.label:
        return _grouped_facts(scope, filters, group)
    where, params = _where(scope, filters)
    if keys is not None:
        assert group is not None
        where, params = f"{where} AND {group} = ANY(%s)", [*params, list(keys)]
    kept = ("ack_histogram", "resolve_histogram") if histograms else ()
    columns = ", ".join((f"{group or '0'} AS k", *SUMS, *kept))
    pieces = range_pieces(filters.start, filters.end)
    sums = ", ".join(f"SUM({name})" for name in SUMS)
    if histograms:
        sums = f"{sums}, {_HISTOGRAM_SUMS}"
    queries: list[str] = []
    values: list[Any] = []
    for sign, part in (
        (1, replace(pieces, minus_days=[])),
        (-1, Pieces([], [], pieces.minus_days)),
    ):
        rows, part_values = _pieces_sql(part, columns, where, params)
        if rows:
            queries.append(
                f"SELECT {sign}, k, {sums} FROM ({rows}) AS r GROUP BY k"  # noqa: S608
            )
            values += part_values
    if not queries:
        return {}
    result: dict[Any, Metrics] = defaultdict(Metrics if histograms else _without_histograms)
    with transaction.atomic(), connection.cursor() as cursor:
        # A few thousand rows: starting parallel workers took longer than the read (p99 of
        # the by-service tab at 2,000 services) and twice its CPU.
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        cursor.execute(" UNION ALL ".join(queries), values)
        for row in cursor.fetchall():
            values_of = dict(zip(SUMS, row[2:12], strict=True))
            if histograms:
                values_of["ack_histogram"], values_of["resolve_histogram"] = row[12], row[13]
            result[row[1]].add(values_of, sign=row[0])
    return {k: metrics for k, metrics in result.items() if metrics.incidents}


def _facts(scope: Scope, filters: Filters) -> QuerySet[IncidentFact]:
    facts = IncidentFact.objects.filter(
        organization_id=scope.organization_id, day__range=(filters.start, filters.end)
    )
    if scope.team_ids is not None:
        facts = facts.filter(team_id__in=scope.team_ids)
    if filters.team_id is not None:
        facts = facts.filter(team_id=filters.team_id)
    if filters.service_id is not None:
        facts = facts.filter(service_id=filters.service_id)
    if filters.urgency:
        facts = facts.filter(urgency=filters.urgency)
    if filters.label:
        # The label's id first: planned with it, the statistics of the incidents' label table
        # say how many incidents carry it (a hash join, not a lookup per labelled incident).
        label_ids = list(
            Label.objects.filter(
                organization_id=scope.organization_id, name=filters.label
            ).values_list("pk", flat=True)
        )
        labelled = Incident.labels.through.objects.filter(label_id__in=label_ids)
        facts = facts.filter(incident_id__in=labelled.values("incident_id"))
    return facts


def _fact_row(fact: IncidentFact) -> dict[str, Any]:
    ack, resolve = fact.ack_seconds, fact.resolve_seconds
    ack_histogram, resolve_histogram = [0] * BUCKETS, [0] * BUCKETS
    if ack is not None:
        ack_histogram[bucket_of(ack)] = 1
    if resolve is not None:
        resolve_histogram[bucket_of(resolve)] = 1
    return {
        "incidents": 1,
        "acknowledged": int(ack is not None),
        "ack_seconds_sum": ack or 0.0,
        "ack_within_5m": int(ack is not None and ack <= ACK_FAST_SECONDS),
        "resolved": int(resolve is not None),
        "resolve_seconds_sum": resolve or 0.0,
        "auto_resolved": int(fact.auto_resolved),
        "resolved_without_ack": int(fact.resolved_without_ack),
        "escalated": int(fact.escalated),
        "reassigned": int(fact.reassigned),
        "ack_histogram": ack_histogram,
        "resolve_histogram": resolve_histogram,
    }


# bucket_of (bisect_left: the bounds below x) in SQL: width_bucket counts the thresholds at or
# below its operand, so on the negated bounds it counts the bounds at or above x.
_NEGATED_BOUNDS = [-float(bound) for bound in reversed(HISTOGRAM_BOUNDS)]


def _bucket(column: str) -> CombinedExpression:
    return Value(len(HISTOGRAM_BOUNDS)) - Func(
        -F(column),
        Value(_NEGATED_BOUNDS, output_field=ArrayField(FloatField())),
        function="width_bucket",
        output_field=IntegerField(),
    )


_FACT_SUMS: dict[str, Aggregate] = {
    "incidents": Count("incident_id"),
    "acknowledged": Count("ack_seconds"),
    "ack_seconds_sum": Sum("ack_seconds", default=0.0),
    "ack_within_5m": Count("incident_id", filter=Q(ack_seconds__lte=ACK_FAST_SECONDS)),
    "resolved": Count("resolve_seconds"),
    "resolve_seconds_sum": Sum("resolve_seconds", default=0.0),
    "auto_resolved": Count("incident_id", filter=Q(auto_resolved=True)),
    "resolved_without_ack": Count("incident_id", filter=Q(resolved_without_ack=True)),
    "escalated": Count("incident_id", filter=Q(escalated=True)),
    "reassigned": Count("incident_id", filter=Q(reassigned=True)),
}


def _grouped_facts(scope: Scope, filters: Filters, group: str | None) -> dict[Any, Metrics]:
    """`_grouped` from the facts (a label filter): the rollups' sums and buckets, in SQL, in
    one pass (grouped by key and both buckets, added up here)."""
    rows = (
        _facts(scope, filters)
        .annotate(
            k=F(group) if group else Value(0),
            ack_bucket=_bucket("ack_seconds"),
            resolve_bucket=_bucket("resolve_seconds"),
        )
        .order_by()
        .values("k", "ack_bucket", "resolve_bucket")
        .annotate(**_FACT_SUMS)
    )
    result: dict[Any, Metrics] = defaultdict(Metrics)
    # The stubs type the rows by `.values()` alone, without the annotated sums.
    for row in cast(Iterable[dict[str, Any]], rows):
        metrics = result[row["k"]]
        metrics.add({**row, "ack_histogram": (), "resolve_histogram": ()})
        if row["ack_bucket"] is not None:
            metrics.ack_histogram[row["ack_bucket"]] += row["acknowledged"]
        if row["resolve_bucket"] is not None:
            metrics.resolve_histogram[row["resolve_bucket"]] += row["resolved"]
    return result


def overview(scope: Scope, filters: Filters) -> Metrics:
    """The metrics of every incident in range the viewer may see."""
    return _grouped(scope, filters, None).get(0) or Metrics()


def breakdown(
    scope: Scope, filters: Filters, dimension: str, *, histograms: bool = True
) -> dict[int, Metrics]:
    """The metrics per service, escalation policy or team id (0: none); without
    `histograms`, their percentiles wait for `histograms_read` (a page of 50 of 2,000
    services needs 50 of them)."""
    return dict(_grouped(scope, filters, DIMENSIONS[dimension], histograms=histograms))


def names_of(organization_id: int, dimension: str) -> dict[int, str]:
    """The name of every service (escalation policy, team) of the organization by id: one
    read of them all (a breakdown names most of them; an `IN` of 2,000 ids took longer)."""
    rows: QuerySet[Any, tuple[int, str]] = (
        _NAMED[dimension]
        ._default_manager.filter(organization_id=organization_id)
        .values_list("pk", "name")
    )
    return dict(rows.iterator())


# The models a breakdown names its ids after (each has a `name`).
_NAMED: dict[str, type[Service | EscalationPolicy | Team]] = {
    "service": Service,
    "policy": EscalationPolicy,
    "team": Team,
}


def histograms_read(
    scope: Scope, filters: Filters, dimension: str, groups: Iterable[tuple[int, Metrics]]
) -> None:
    """Read the histograms (so the percentiles) of these groups of a `breakdown`."""
    missing = {key: metrics for key, metrics in groups if not metrics.histograms}
    if not missing:
        return
    read = _grouped(scope, filters, DIMENSIONS[dimension], keys=list(missing))
    for key, metrics in missing.items():
        found = read.get(key) or Metrics()
        metrics.ack_histogram = found.ack_histogram
        metrics.resolve_histogram = found.resolve_histogram
        metrics.histograms = True


@dataclass(frozen=True)
class SeriesPoint:
    start: date  # the bucket's first day
    high: int
    low: int


def incidents_over_time(scope: Scope, filters: Filters, *, weekly: bool) -> list[SeriesPoint]:
    """New incidents per day (or ISO week, from Monday) by urgency; empty buckets are 0."""
    counts: dict[tuple[date, str], int] = defaultdict(int)
    if filters.label:
        labelled = _facts(scope, filters).values("day", "urgency").annotate(n=Count("incident_id"))
        for row in labelled.order_by():
            counts[(row["day"], row["urgency"])] += row["n"]
    else:
        where, params = _where(scope, filters)
        pieces = range_pieces(filters.start, filters.end, months=False, signed=False)
        if not weekly:
            day = filters.start
            pieces = Pieces([], [], [])
            while day <= filters.end:
                pieces.days.append(day)
                day += timedelta(days=1)
        rows, values = _pieces_sql(pieces, "day, urgency, incidents", where, params)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT day, urgency, SUM(incidents) FROM ({rows}) AS r"  # noqa: S608
                " GROUP BY day, urgency",
                values,
            )
            for day, urgency, total in cursor.fetchall():
                counts[(day, urgency)] += int(total)

    def bucket(day: date) -> date:
        return day - timedelta(days=day.weekday()) if weekly else day

    points: dict[date, list[int]] = {}
    day = bucket(filters.start)
    while day <= filters.end:
        points[day] = [0, 0]
        day += timedelta(days=7 if weekly else 1)
    for (day, urgency), total in counts.items():
        point = points.setdefault(bucket(day), [0, 0])
        point[0 if urgency == "high" else 1] += total
    return [SeriesPoint(start, high, low) for start, (high, low) in sorted(points.items())]


@dataclass
class ResponderLoad:
    user_id: int
    business: int = 0
    off: int = 0
    sleep: int = 0
    notifications: int = 0

    @property
    def interruptions(self) -> int:
        return self.business + self.off + self.sleep


def responder_load(scope: Scope, filters: Filters) -> list[ResponderLoad]:
    """Interruptions per person in range (by period), busiest first; members see the people
    of their teams."""
    rows = ResponderRollup.objects.filter(
        organization_id=scope.organization_id, day__range=(filters.start, filters.end)
    )
    people: Iterable[int] | None = None
    if scope.team_ids is not None:
        people = TeamMembership.objects.filter(team_id__in=scope.team_ids).values_list(
            "user_id", flat=True
        )
    if filters.team_id is not None:
        allowed = scope.team_ids is None or filters.team_id in scope.team_ids
        people = (
            TeamMembership.objects.filter(team_id=filters.team_id).values_list("user_id", flat=True)
            if allowed
            else []
        )
    if people is not None:
        rows = rows.filter(user_id__in=list(people))
    loads: dict[int, ResponderLoad] = {}
    totals = (
        rows.values("user_id", "period")
        .annotate(interrupted=Sum("interruptions"), notified=Sum("notifications"))
        .values_list("user_id", "period", "interrupted", "notified")
        .order_by()
    )
    for user_id, period, interruptions, notifications in totals:
        load = loads.setdefault(user_id, ResponderLoad(user_id))
        setattr(load, str(Period(period).value), getattr(load, period) + interruptions)
        load.notifications += notifications
    return sorted(loads.values(), key=lambda load: (-load.interruptions, load.user_id))


def direct_metrics(organization: Organization, filters: Filters) -> Metrics:
    """The same metrics computed straight from the incidents (`facts.FACT_SELECT`), not the
    rollups: what the property test compares them with."""
    from analytics.facts import FACT_COLUMNS, FACT_SELECT

    clauses = ["i.organization_id = %s"]
    params: list[Any] = [organization.pk]
    sql = (
        f"SELECT * FROM ({FACT_SELECT.format(where=' AND '.join(clauses))}) AS f("  # noqa: S608
        + ", ".join(FACT_COLUMNS)
        + ") WHERE day BETWEEN %s AND %s"
    )
    params += [filters.start, filters.end]
    metrics = Metrics()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for row in cursor.fetchall():
            fact = IncidentFact(**dict(zip(FACT_COLUMNS, row, strict=True)))
            if filters.urgency and fact.urgency != filters.urgency:
                continue
            if filters.service_id is not None and fact.service_id != filters.service_id:
                continue
            metrics.add(_fact_row(fact))
    return metrics
