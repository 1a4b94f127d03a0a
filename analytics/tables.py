"""The tables of the analytics pages, built from the selectors: each is what the page shows
(numbers formatted: "4 min 12 s", "66.7 %"), what its chart draws (`chart_spec`, top rows) and
what its CSV holds (`csv_response`: the same numbers unformatted, durations in seconds).

The metrics' definitions are the words of `analytics/facts.py` (the one SQL definition)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from django.db.models import Model
from django.http import HttpResponse
from django.urls import reverse
from django.utils.formats import localize
from django.utils.safestring import SafeString, mark_safe

from analytics.selectors import (
    METRIC_ATTRIBUTES,
    Filters,
    Metrics,
    ResponderLoad,
    Scope,
    SeriesPoint,
    breakdown,
    histograms_read,
    incidents_over_time,
    names_of,
    responder_load,
)
from escalations.models import EscalationPolicy
from escalations.policies.selectors import policy_visible_list
from opsduty.markup import escaped
from opsduty.models import Service, Team, User
from opsduty.selectors import service_visible_list

__all__ = [
    "DAILY_MAX_DAYS",
    "DEFINITIONS",
    "METRICS",
    "Column",
    "MetricLine",
    "Row",
    "Table",
    "breakdown_table",
    "chart_spec",
    "csv_response",
    "duration_text",
    "is_weekly",
    "metric_lines",
    "metrics_table",
    "over_time_table",
    "responders_table",
    "value_text",
]

# Day buckets up to a month, ISO weeks (from Monday) beyond.
DAILY_MAX_DAYS = 31
CHART_ROWS = 20


@dataclass(frozen=True)
class Column:
    key: str  # the CSV header (a key of `Metrics.as_dict()` for the metrics)
    header: str
    kind: str = "count"  # count, rate (%), duration (seconds)


METRICS = (
    Column("incidents", "Incidents"),
    Column("acknowledged", "Acknowledged"),
    Column("not_acknowledged", "Not acknowledged"),
    Column("ack_rate", "Acknowledgement rate", "rate"),
    Column("ack_within_5m_rate", "Acknowledged within 5 min", "rate"),
    Column("mtta_seconds", "MTTA (mean)", "duration"),
    Column("mtta_p50_seconds", "MTTA p50", "duration"),
    Column("mtta_p95_seconds", "MTTA p95", "duration"),
    Column("resolved", "Resolved"),
    Column("open", "Open"),
    Column("mttr_seconds", "MTTR (mean)", "duration"),
    Column("mttr_p50_seconds", "MTTR p50", "duration"),
    Column("mttr_p95_seconds", "MTTR p95", "duration"),
    Column("auto_resolved", "Auto-resolved"),
    Column("resolved_without_ack", "Resolved without acknowledgement"),
    Column("escalated", "Escalated by timeout"),
    Column("reassigned", "Reassigned"),
)

_PERCENTILE = (
    "estimated from a histogram whose buckets grow by 25%, so within about a quarter of it"
)
DEFINITIONS = {
    "incidents": "Incidents created in the range; an incident's day is its creation date in "
    "the organization's time zone (DST included).",
    "acknowledged": "Incidents acknowledged by a person (an acknowledge signal from a "
    "monitoring tool is not one).",
    "not_acknowledged": "Incidents never acknowledged by a person: left out of MTTA and "
    "counted here instead.",
    "ack_rate": "Incidents acknowledged by a person, of all incidents.",
    "ack_within_5m_rate": "Incidents acknowledged by a person within 5 minutes of their "
    "creation, of all incidents.",
    "mtta_seconds": "Mean time to acknowledge: created -> the first acknowledgement by a "
    "person; an acknowledgement after an unacknowledge does not move it. Incidents never "
    "acknowledged are excluded.",
    "mtta_p50_seconds": f"Half of the acknowledged incidents were acknowledged within this "
    f"time ({_PERCENTILE}).",
    "mtta_p95_seconds": f"95% of the acknowledged incidents were acknowledged within this "
    f"time ({_PERCENTILE}).",
    "resolved": "Incidents resolved now.",
    "open": "Incidents not resolved now: left out of MTTR.",
    "mttr_seconds": "Mean time to resolve: created -> resolved, only while it is resolved (a "
    "reopened incident that is open again has none; resolved again, the last resolve counts).",
    "mttr_p50_seconds": f"Half of the resolved incidents were resolved within this time "
    f"({_PERCENTILE}).",
    "mttr_p95_seconds": f"95% of the resolved incidents were resolved within this time "
    f"({_PERCENTILE}).",
    "auto_resolved": "Resolved by the system (an event, a policy's resolve step) and never "
    "acknowledged by a person.",
    "resolved_without_ack": "Resolved by a person, never acknowledged.",
    "escalated": "A notify step of escalation level 2 or later ran because its wait ran out "
    "(not because someone pressed Escalate).",
    "reassigned": "A person reassigned it to another escalation policy.",
}


def duration_text(seconds: float | None) -> str:
    """A duration for people: "42 s", "4 min 12 s", "3 h 5 min", "2 d 4 h"."""
    if seconds is None:
        return "n/a"
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def value_text(kind: str, value: Any) -> str:
    """A cell's value as the page shows it."""
    if kind == "duration":
        return duration_text(value)
    if kind == "rate":
        return "n/a" if value is None else f"{value:.1f} %"
    return "" if value is None else str(value)


# Rows of a table on one page (the CSV has them all).
PAGE_ROWS = 50


@dataclass
class Row:
    key: int | str  # the id (0: none), or the bucket's day
    name: str
    values: Mapping[str, Any]
    url: str | None = None


@dataclass
class Table:
    """Rows of named values. `name_key`/`id_key` are the CSV headers of the row's name and
    id (no id column when `id_key` is empty); `name_header` heads the name on the page."""

    slug: str  # the file name's part
    caption: str
    name_header: str
    name_key: str
    id_key: str
    columns: tuple[Column, ...]
    rows: list[Row]
    empty: str = "Nothing in this range."

    def page(self, number: int, size: int = PAGE_ROWS) -> Table:
        """The same table with only the rows of page `number` (from 1; clamped)."""
        number = min(max(number, 1), self.page_count(size))
        return replace(self, rows=self.rows[(number - 1) * size : number * size])

    def page_count(self, size: int = PAGE_ROWS) -> int:
        return max(1, -(-len(self.rows) // size))

    @property
    def width(self) -> int:
        return len(self.columns) + 1

    def rows_html(self) -> SafeString:
        """The `<tr>`s of `analytics/_table.html`: the row's name (a link if it has a page),
        then a cell per column with its text and its unformatted value in `data-value` (a
        page of 50 services is 850 cells: the template engine took a third of the tab's
        time to write them one by one)."""
        name_label = escaped(self.name_header)
        heads = [(column, escaped(column.header)) for column in self.columns]
        parts: list[str] = []
        for row in self.rows:
            name = escaped(row.name)
            if row.url:
                name = f'<a href="{escaped(row.url)}">{name}</a>'
            parts.append(f'\n      <tr>\n        <th scope="row" data-label="{name_label}">')
            parts.append(f"{name}</th>\n        ")
            for column, head in heads:
                value = row.values[column.key]
                raw = "" if value is None else escaped(localize(value, use_l10n=False))
                text = escaped(value_text(column.kind, value))
                parts.append(f'<td data-label="{head}" data-value="{raw}">{text}</td>')
            parts.append("\n      </tr>")
        return mark_safe("".join(parts))  # noqa: S308 - every name, value and text is escaped

    def csv_header(self) -> list[str]:
        return [*([self.id_key] if self.id_key else []), self.name_key] + [
            column.key for column in self.columns
        ]

    def csv_rows(self) -> Iterator[list[Any]]:
        for row in self.rows:
            values = [row.values[column.key] for column in self.columns]
            yield [*([row.key] if self.id_key else []), row.name, *values]


@dataclass(frozen=True)
class MetricLine:
    key: str
    header: str
    text: str
    value: Any
    definition: str


def metric_lines(metrics: Metrics) -> list[MetricLine]:
    """The overview's metrics, one line each with its definition."""
    values = metrics.as_dict()
    return [
        MetricLine(
            column.key,
            column.header,
            value_text(column.kind, values[column.key]),
            values[column.key],
            DEFINITIONS[column.key],
        )
        for column in METRICS
    ]


def metrics_table(metrics: Metrics) -> Table:
    """The overview's metrics as a table of (metric, value): its CSV."""
    rows = [
        Row(key=line.key, name=line.key, values={"value": line.value})
        for line in metric_lines(metrics)
    ]
    return Table("overview", "Metrics", "Metric", "metric", "", (Column("value", "Value"),), rows)


# --- Incidents over time -------------------------------------------------------------------


def is_weekly(filters: Filters) -> bool:
    return (filters.end - filters.start).days + 1 > DAILY_MAX_DAYS


def over_time_table(scope: Scope, filters: Filters) -> Table:
    """New incidents per day (per week beyond a month) by urgency, empty buckets as 0."""
    weekly = is_weekly(filters)
    points: list[SeriesPoint] = incidents_over_time(scope, filters, weekly=weekly)
    rows = [
        Row(
            key=str(point.start),
            name=str(point.start),
            values={"high": point.high, "low": point.low, "total": point.high + point.low},
        )
        for point in points
    ]
    columns = (Column("high", "High"), Column("low", "Low"), Column("total", "Total"))
    caption = f"New incidents per {'week' if weekly else 'day'} by urgency"
    header, key = ("Week from", "week_start") if weekly else ("Day", "date")
    return Table("over-time", caption, header, key, "", columns, rows)


# --- Breakdowns ----------------------------------------------------------------------------

_DIMENSIONS: dict[str, tuple[type[Model], str, str]] = {
    # dimension: (model, its word, the URL name of its page)
    "service": (Service, "service", "service_detail"),
    "policy": (EscalationPolicy, "escalation policy", "policy_detail"),
    "team": (Team, "team", "team_detail"),
}


def _linkable(user: User, dimension: str) -> set[int]:
    """The ids whose page the viewer may open (no link to a page that would answer 404)."""
    if dimension == "service":
        return set(service_visible_list(user=user).values_list("pk", flat=True))
    if dimension == "policy":
        return set(policy_visible_list(user=user).values_list("pk", flat=True))
    return set(Team.objects.filter(organization=user.organization).values_list("pk", flat=True))


def _names(user: User, dimension: str, ids: Iterable[int]) -> dict[int, str]:
    word = _DIMENSIONS[dimension][1]
    found = names_of(user.organization_id, dimension)
    return {pk: "none" if pk == 0 else found.get(pk) or f"deleted {word} #{pk}" for pk in set(ids)}


def _url_maker(dimension: str) -> Callable[[int], str]:
    """The page URL of an id of `dimension`: one `reverse` per table (one per row was a third
    of the by-service tab's time at 2,000 services)."""
    name = _DIMENSIONS[dimension][2]
    kwarg = {"service": "service_id", "policy": "policy_id", "team": "team_id"}[dimension]
    marker = 987654321987
    head, tail = reverse(name, kwargs={kwarg: marker}).split(str(marker))
    return lambda pk: f"{head}{pk}{tail}"


class _MetricValues(Mapping[str, Any]):
    """A breakdown row's values (`Metrics.as_dict`'s keys: rates, means, percentiles), each
    worked out when read: a tab sorts 2,000 services by the incident count, charts their
    MTTA and shows 50 rows."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def __getitem__(self, key: str) -> Any:
        return self._metrics.value(key)

    def __iter__(self) -> Iterator[str]:
        return iter(METRIC_ATTRIBUTES)

    def __len__(self) -> int:
        return len(METRIC_ATTRIBUTES)


def breakdown_table(
    user: User, scope: Scope, filters: Filters, dimension: str, *, page: int | None = None
) -> Table:
    """The metrics per service, escalation policy or team, most incidents first. With
    `page`, only that page's rows have their percentiles (the rest are not drawn)."""
    groups = breakdown(scope, filters, dimension, histograms=page is None)
    names = _names(user, dimension, groups)
    linkable = _linkable(user, dimension)
    url = _url_maker(dimension)
    rows = [
        Row(
            key=pk,
            name=names[pk],
            values=_MetricValues(metrics),
            url=url(pk) if pk in linkable else None,
        )
        for pk, metrics in groups.items()
    ]
    rows.sort(key=lambda row: (-row.values["incidents"], row.name.lower(), row.key))
    word = _DIMENSIONS[dimension][1]
    slug = {"service": "services", "policy": "policies", "team": "teams"}[dimension]
    table = Table(
        slug,
        f"Metrics by {word}",
        word.capitalize(),
        dimension,
        f"{dimension}_id",
        METRICS,
        rows,
        empty="No incidents in this range.",
    )
    if page is not None:
        shown = {row.key for row in table.page(page).rows}
        histograms_read(scope, filters, dimension, [g for g in groups.items() if g[0] in shown])
    return table


# --- Responders ----------------------------------------------------------------------------

RESPONDER_COLUMNS = (
    Column("business", "Business hours"),
    Column("off", "Off hours"),
    Column("sleep", "Sleep hours"),
    Column("interruptions", "Interruptions"),
    Column("notifications", "Notifications"),
)


def responders_table(user: User, scope: Scope, filters: Filters) -> Table:
    """Interruptions per person by period of their day, busiest first."""
    loads: list[ResponderLoad] = responder_load(scope, filters)
    people = {
        person.pk: person.get_full_name() or person.email
        for person in User.objects.filter(
            organization=user.organization, pk__in=[load.user_id for load in loads]
        )
    }
    rows = [
        Row(
            key=load.user_id,
            name=people.get(load.user_id) or f"deleted person #{load.user_id}",
            values={
                "business": load.business,
                "off": load.off,
                "sleep": load.sleep,
                "interruptions": load.interruptions,
                "notifications": load.notifications,
            },
        )
        for load in loads
    ]
    return Table(
        "responders",
        "Interruptions by responder",
        "Person",
        "person",
        "user_id",
        RESPONDER_COLUMNS,
        rows,
        empty="No interrupting notifications in this range.",
    )


# --- Charts and CSV ------------------------------------------------------------------------


def chart_spec(
    table: Table,
    keys: tuple[str, ...],
    *,
    stacked: bool,
    title: str,
    limit: int | None = CHART_ROWS,
) -> dict[str, Any]:
    """What static/js/analytics.js draws: the table's first rows (`limit`; None: all) and the
    columns `keys`, the very numbers of the table."""
    rows = table.rows[:limit]
    headers = {column.key: column for column in table.columns}
    return {
        "title": title,
        "stacked": stacked,
        "labels": [row.name for row in rows],
        "datasets": [
            {
                "key": key,
                "label": headers[key].header,
                "axis": "duration" if headers[key].kind == "duration" else "count",
                "data": [row.values[key] for row in rows],
            }
            for key in keys
        ],
    }


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_safe(value: Any) -> Any:
    """A name a spreadsheet would run as a formula gets a leading apostrophe (names are
    typed by people); numbers go out as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


def csv_response(table: Table, filters: Filters) -> HttpResponse:
    """The table as a CSV download: header row, numbers unformatted, durations in seconds."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"opsduty-analytics-{table.slug}-{filters.start}-{filters.end}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow(table.csv_header())
    writer.writerows([_csv_safe(value) for value in row] for row in table.csv_rows())
    return response
