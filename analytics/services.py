"""Keeping the analytics current, in the transaction of each change, and rebuilding them.

The incidents log hook calls `incident_line` for every log line (apps.py). A line that can
change an incident's fact (created, acknowledged, resolved, reopened, urgency, a timeout
escalation to level 2+, a reassignment) recomputes the fact with `facts.FACT_SELECT` and
moves the difference between the old and the new fact into the rollups: two statements. A
notification delivered on an interrupting channel adds to the person's responder load.
`analytics_rebuild` recomputes everything from the incidents and notifications.

A rebuild holds its organization's rebuild lock (a PostgreSQL advisory lock) for its whole
transaction; each change's upkeep takes the same lock shared, without waiting. So a rebuild
starts once the changes already counting have committed, and a change that comes while it
runs never waits for it (an escalation step is never late because of analytics): it leaves a
`PendingChange` in its own transaction instead, applied once the rebuild has committed
(`pending_apply`). A rebuild leaves out the notifications that have such a row, which become
visible together with the row: every change is counted exactly once.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.utils import timezone

from analytics.facts import FACT_COLUMNS, FACT_SELECT, FACT_SELECT_FEW, UPKEEP_ACTIONS
from analytics.models import (
    BUCKETS,
    HISTOGRAM_BOUNDS,
    IncidentFact,
    IncidentRollup,
    IncidentSpanRollup,
    PendingChange,
    Period,
    ResponderLast,
    ResponderRollup,
    Span,
)
from escalations.notifications.models import Channel, Notification, NotificationStatus
from incidents import hooks
from incidents.hooks import LogLine
from incidents.models import LogAction
from opsduty import rawsql
from opsduty.models import Organization, User

__all__ = [
    "INTERRUPTING",
    "Contribution",
    "analytics_rebuild",
    "bucket_of",
    "incident_fact_refresh",
    "incident_line",
    "pending_apply",
    "period_of",
    "rebuild_request",
    "rebuilds_run",
    "responder_notified",
    "rollups_compact",
    "span_starts",
]

INTERRUPTING = frozenset({Channel.SMS, Channel.VOICE, Channel.SLACK})
ACK_FAST_SECONDS = 300
COLLAPSE = timedelta(seconds=60)

_F = IncidentFact._meta.db_table
_R = IncidentRollup._meta.db_table
_SR = IncidentSpanRollup._meta.db_table
_RR = ResponderRollup._meta.db_table
_RL = ResponderLast._meta.db_table
KEY = ("organization_id", "day", "service_id", "team_id", "policy_id", "urgency")
SPAN_KEY = ("organization_id", "span", "day", "service_id", "team_id", "policy_id", "urgency")
SUMS = (
    "incidents",
    "acknowledged",
    "ack_seconds_sum",
    "ack_within_5m",
    "resolved",
    "resolve_seconds_sum",
    "auto_resolved",
    "resolved_without_ack",
    "escalated",
    "reassigned",
)
HISTOGRAMS = ("ack_histogram", "resolve_histogram")


def bucket_of(seconds: float) -> int:
    """The histogram bucket of a duration: the first whose upper bound is not below it."""
    return bisect.bisect_left(HISTOGRAM_BOUNDS, seconds)


def _added(mine: list[int], theirs: list[int]) -> list[int]:
    return [a + b for a, b in zip(mine, theirs, strict=True)]


@dataclass
class Contribution:
    """What a key of the rollups adds up (a fact's share, or a difference of two)."""

    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(SUMS, 0))
    ack_histogram: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    resolve_histogram: list[int] = field(default_factory=lambda: [0] * BUCKETS)

    def add(self, fact: dict[str, Any], sign: int) -> None:
        ack, resolve = fact["ack_seconds"], fact["resolve_seconds"]
        self.sums["incidents"] += sign
        if ack is not None:
            self.sums["acknowledged"] += sign
            self.sums["ack_seconds_sum"] += sign * ack
            self.sums["ack_within_5m"] += sign * (ack <= ACK_FAST_SECONDS)
            self.ack_histogram[bucket_of(ack)] += sign
        if resolve is not None:
            self.sums["resolved"] += sign
            self.sums["resolve_seconds_sum"] += sign * resolve
            self.resolve_histogram[bucket_of(resolve)] += sign
        for flag in ("auto_resolved", "resolved_without_ack", "escalated", "reassigned"):
            self.sums[flag] += sign * bool(fact[flag])

    def merge(self, other: Contribution) -> None:
        """Add `other` to this."""
        for name in SUMS:
            self.sums[name] += other.sums[name]
        self.ack_histogram = _added(self.ack_histogram, other.ack_histogram)
        self.resolve_histogram = _added(self.resolve_histogram, other.resolve_histogram)

    def empty(self) -> bool:
        return (
            not any(self.sums.values())
            and not any(self.ack_histogram)
            and not any(self.resolve_histogram)
        )


def _key(fact: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(fact[name] for name in KEY)


def span_starts(day: date) -> tuple[tuple[str, date], ...]:
    """The week (from Monday) and the month that `day` belongs to, by their first days."""
    return (Span.WEEK, day - timedelta(days=day.weekday())), (Span.MONTH, day.replace(day=1))


def _span_key(key: tuple[Any, ...], span: str, first: date) -> tuple[Any, ...]:
    """A daily key (KEY order) as the key of its week or month (SPAN_KEY order)."""
    return (key[0], span, first, *key[2:])


def _spans_of(
    daily: dict[tuple[Any, ...], Contribution],
) -> dict[tuple[Any, ...], Contribution]:
    """The daily contributions added up per week and per month."""
    spans: dict[tuple[Any, ...], Contribution] = defaultdict(Contribution)
    for key, change in daily.items():
        for span, first in span_starts(key[1]):
            spans[_span_key(key, span, first)].merge(change)
    return spans


def _on_conflict_add(key: tuple[str, ...]) -> str:
    """ON CONFLICT with the key's compacted row: add the new row's sums and histograms."""
    adds = [f"{name} = r.{name} + EXCLUDED.{name}" for name in SUMS] + [
        f"{name} = ARRAY(SELECT a + b FROM unnest(r.{name}, EXCLUDED.{name}) AS t(a, b))"  # noqa: S608
        for name in HISTOGRAMS
    ]
    return f" ON CONFLICT ({', '.join(key)}) WHERE compacted DO UPDATE SET {', '.join(adds)}"


def _histogram_sum(name: str) -> str:
    """The element-wise sum of a group's histograms (flattened by unnest, summed by position);
    a group of one row (all but after a time zone change) is that row's, without the sum."""
    return (
        f"CASE WHEN count(*) = 1 THEN min(d.{name}) ELSE ARRAY(SELECT SUM(v)::int"  # noqa: S608
        f" FROM unnest(array_agg(d.{name})) WITH ORDINALITY AS t(v, n)"
        f" GROUP BY mod(n - 1, {BUCKETS}) ORDER BY mod(n - 1, {BUCKETS})) END"
    )


_COLUMNS = KEY + SUMS + HISTOGRAMS
_SPAN_SELECT = ", ".join(
    ["d.organization_id", "s.span", "s.first", "d.service_id", "d.team_id", "d.policy_id"]
    + ["d.urgency", *(f"SUM(d.{name})" for name in SUMS)]
    + [_histogram_sum(name) for name in HISTOGRAMS]
)
# The changed days (as VALUES: at most 50 parameters and 4 kB, which psycopg keeps parsed) are
# added to their days, and added up per week and month (an incident whose day moved with a
# time zone change can have two days in one week) and added to those: one statement, each
# table's rows locked in key order.
_ROLLUPS_ADD = (
    f"WITH d ({', '.join(_COLUMNS)}) AS (VALUES {{rows}}),"  # noqa: S608
    f" daily AS (INSERT INTO {_R} AS r ({', '.join(_COLUMNS)})"
    " SELECT * FROM d" + f") INSERT INTO {_SR} AS r ({', '.join(SPAN_KEY + SUMS + HISTOGRAMS)})"  # noqa: S608
    f" SELECT {_SPAN_SELECT}"
    " FROM d, LATERAL (VALUES ('week', date_trunc('week', d.day)::date),"
    " ('month', date_trunc('month', d.day)::date)) AS s(span, first)"
    " GROUP BY 1, 2, 3, 4, 5, 6, 7"
)
# The first VALUES row types the columns.
_SUM_TYPES = {"ack_seconds_sum": "float8", "resolve_seconds_sum": "float8"}
_FIRST_ROW = (
    "(%s::bigint, %s::date, %s::bigint, %s::bigint, %s::bigint, %s::varchar, "
    + ", ".join(f"%s::{_SUM_TYPES.get(name, 'int')}" for name in SUMS)
    + ", %s::int[], %s::int[])"
)
_ROW = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"


def _values(changes: dict[tuple[Any, ...], Contribution], params: list[Any]) -> str:
    """The VALUES rows of the non-empty changes; their parameters appended to `params`."""
    rows: list[str] = []
    for key, change in changes.items():
        if change.empty():
            continue
        rows.append(_ROW if rows else _FIRST_ROW)
        params += [*key, *(change.sums[name] for name in SUMS)]
        params += [change.ack_histogram, change.resolve_histogram]
    return ", ".join(rows)


def _execute_prepared(cursor: Any, sql: str, params: Sequence[Any] | dict[str, Any]) -> None:
    """Execute `sql` as a prepared statement where allowed (`opsduty.rawsql.preparing`): the
    upkeep's statements run at every incident change, and planning the fact's query each
    time cost four times its execution (0.4 against 0.1 ms). A parameter used twice is named
    (`%(incident)s`): one parameter, so the generic plan is as good as a custom one and
    PostgreSQL keeps it after five runs."""
    with rawsql.preparing():
        cursor.execute(sql, params)


def _rollups_add(changes: dict[tuple[Any, ...], Contribution]) -> None:
    """Add the changes to their days, weeks and months: one statement."""
    params: list[Any] = []
    rows = _values(changes, params)
    if rows:
        with connection.cursor() as cursor:
            _execute_prepared(cursor, _ROLLUPS_ADD.format(rows=rows), params)


COMPACT_BATCH = 20_000


def _compact_table(cursor: Any, table: str, key: tuple[str, ...], limit: int) -> int:
    columns = (*key, *SUMS, *HISTOGRAMS)
    cursor.execute(
        f"SELECT id, {', '.join(columns)} FROM {table} WHERE NOT compacted"  # noqa: S608
        " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
        [limit],
    )
    rows = cursor.fetchall()
    if not rows:
        return 0
    totals: dict[tuple[Any, ...], Contribution] = defaultdict(Contribution)
    for row in rows:
        values = dict(zip(columns, row[1:], strict=True))
        change = Contribution(
            sums={name: values[name] for name in SUMS},
            ack_histogram=list(values["ack_histogram"]),
            resolve_histogram=list(values["resolve_histogram"]),
        )
        totals[tuple(values[name] for name in key)].merge(change)
    cursor.execute(f"DELETE FROM {table} WHERE id = ANY(%s)", [[row[0] for row in rows]])  # noqa: S608
    values_sql, params = [], []
    for folded_key, change in totals.items():
        values_sql.append("(" + ", ".join(["%s"] * (len(columns) + 1)) + ")")
        params += [*folded_key, *(change.sums[name] for name in SUMS)]
        params += [change.ack_histogram, change.resolve_histogram, True]
    cursor.execute(
        f"INSERT INTO {table} AS r ({', '.join(columns)}, compacted)"  # noqa: S608
        f" VALUES {', '.join(values_sql)}" + _on_conflict_add(key),
        params,
    )
    return len(rows)


def rollups_compact(*, limit: int = COMPACT_BATCH) -> int:
    """Fold up to `limit` new rows of each rollup table into their keys' compacted rows; how
    many were folded. One compaction at a time (an advisory lock); rows of transactions still
    open are not seen yet."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext('analytics_compact'))")
        if not cursor.fetchone()[0]:
            return 0
        return _compact_table(cursor, _R, KEY, limit) + _compact_table(cursor, _SR, SPAN_KEY, limit)


_REFRESH = (
    f"WITH new AS ({FACT_SELECT_FEW.format(where='i.id = ANY(%(incidents)s::bigint[])')}),"  # noqa: S608
    f" old AS (SELECT {', '.join(FACT_COLUMNS)} FROM {_F}"
    " WHERE incident_id = ANY(%(incidents)s::bigint[]) ORDER BY incident_id FOR UPDATE),"
    f" up AS (INSERT INTO {_F} ({', '.join(FACT_COLUMNS)}) SELECT * FROM new"
    f" ON CONFLICT (incident_id) DO UPDATE SET "
    + ", ".join(f"{name} = EXCLUDED.{name}" for name in FACT_COLUMNS[1:])
    + ") SELECT false, * FROM old UNION ALL SELECT true, * FROM new"
)


def incident_fact_refresh(incident_id: int) -> None:
    """Recompute the incident's fact and move the difference into the rollups."""
    incident_facts_refresh([incident_id])


def incident_facts_refresh(incident_ids: list[int]) -> None:
    """Recompute the incidents' facts and move the differences into the rollups (one statement
    for the facts, one for the rollups)."""
    with connection.cursor() as cursor:
        _execute_prepared(cursor, _REFRESH, {"incidents": sorted(incident_ids)})
        rows = cursor.fetchall()
    changes: dict[tuple[Any, ...], Contribution] = defaultdict(Contribution)
    for row in rows:
        fact = dict(zip(FACT_COLUMNS, row[1:], strict=True))
        changes[_key(fact)].add(fact, 1 if row[0] else -1)
    _rollups_add(changes)


# The rebuild locks' keys: this number plus the organization's id (one bigint key space).
_REBUILD_LOCK = 0x616E616C << 32
_TRY_SHARED = "SELECT pg_try_advisory_xact_lock_shared(%s)"


def _counting(organization_id: int) -> bool:
    """Whether the upkeep may count a change of the organization now (no rebuild running);
    then holds the lock shared until the change commits, so no rebuild starts before."""
    with connection.cursor() as cursor:
        _execute_prepared(cursor, _TRY_SHARED, [_REBUILD_LOCK + organization_id])
        row = cursor.fetchone()
    return bool(row and row[0])


def _later(organization_id: int, **change: int | None) -> None:
    """Leave the change for after the running rebuild (in the change's transaction)."""
    PendingChange.objects.create(organization_id=organization_id, at=timezone.now(), **change)


def _matters(line: LogLine) -> bool:
    if line.action in UPKEEP_ACTIONS:
        return True
    if line.action != LogAction.ESCALATION:
        return False
    data = line.data
    timeout_level = int(data.get("level") or 0) >= 2 and not data.get("manual")
    return timeout_level or ("policy" in data and line.actor is not None)


def incident_line(line: LogLine) -> None:
    """The incidents log hook (in the writer's transaction)."""
    organization_id = line.incident.organization_id
    if _matters(line):
        batch = hooks.batch_scratch("analytics", _batch_count)
        if batch is not None:  # counted once per incident at the batch's end
            batch.setdefault(organization_id, set()).add(line.incident.pk)
            return
        if _counting(organization_id):
            incident_fact_refresh(line.incident.pk)
        else:
            _later(organization_id, incident_id=line.incident.pk)
    elif line.action == LogAction.NOTIFICATION and line.data.get("channel") in INTERRUPTING:
        user_id, notification_id = line.data.get("sent_to"), line.data.get("notification")
        if not isinstance(user_id, int):
            return
        if _counting(organization_id):
            responder_notified(organization_id=organization_id, user_id=user_id, at=timezone.now())
        else:
            notification = notification_id if isinstance(notification_id, int) else None
            _later(organization_id, notification_id=notification, user_id=user_id)


def _batch_count(batch: dict[int, set[int]]) -> None:
    """A batch's changed incidents, by organization (`incident_line` in a batch)."""
    for organization_id, incident_ids in batch.items():
        if _counting(organization_id):
            incident_facts_refresh(list(incident_ids))
        else:
            for incident_id in sorted(incident_ids):
                _later(organization_id, incident_id=incident_id)


# --- Responder load ---------------------------------------------------------------------------


def period_of(local: datetime) -> str:
    """Sleep (22-08), business (08-18 Monday to Friday) or off hours, of a local time."""
    if local.hour >= 22 or local.hour < 8:
        return Period.SLEEP
    if local.weekday() < 5 and 8 <= local.hour < 18:
        return Period.BUSINESS
    return Period.OFF


_TZ_SQL = (
    f"SELECT COALESCE(NULLIF(u.time_zone, ''), o.time_zone) FROM {User._meta.db_table} u"  # noqa: S608
    f" JOIN {Organization._meta.db_table} o ON o.id = u.organization_id WHERE u.id = %s"
)
_LAST_SQL = (
    f"WITH old AS (SELECT last_at FROM {_RL} WHERE user_id = %(user)s FOR UPDATE),"  # noqa: S608
    f" up AS (INSERT INTO {_RL} (user_id, last_at) VALUES (%(user)s, %(at)s)"
    " ON CONFLICT (user_id)"
    f" DO UPDATE SET last_at = GREATEST({_RL}.last_at, EXCLUDED.last_at))"
    " SELECT last_at FROM old"
)
_RESPONDER_UPSERT = (
    f"INSERT INTO {_RR} AS r (organization_id, day, user_id, period, interruptions,"  # noqa: S608
    " notifications) VALUES (%s, %s, %s, %s, %s, 1)"
    " ON CONFLICT (organization_id, day, user_id, period) DO UPDATE SET"
    " interruptions = r.interruptions + EXCLUDED.interruptions,"
    " notifications = r.notifications + 1"
)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


def responder_notified(*, organization_id: int, user_id: int, at: datetime) -> None:
    """An interrupting notification reached the person at `at`."""
    with connection.cursor() as cursor:
        _execute_prepared(cursor, _TZ_SQL, [user_id])
        row = cursor.fetchone()
        local = at.astimezone(_zone(row[0] if row else "UTC"))
        _execute_prepared(cursor, _LAST_SQL, {"user": user_id, "at": at})
        previous = cursor.fetchone()
        counts = previous is None or at - previous[0] > COLLAPSE
        _execute_prepared(
            cursor,
            _RESPONDER_UPSERT,
            [organization_id, local.date(), user_id, period_of(local), int(counts)],
        )


# --- Rebuild ---------------------------------------------------------------------------------


def _copy(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """COPY `rows` into `table`, in the current transaction: a rebuild writes hundreds of
    thousands of rows, and an INSERT prepares each histogram element on its own."""
    with connection.cursor() as cursor:
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with cursor.cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)


_FACT_READ = (
    f"SELECT {', '.join(KEY)}, ack_seconds, resolve_seconds, auto_resolved,"  # noqa: S608
    f" resolved_without_ack, escalated, reassigned FROM {_F} WHERE organization_id = %s"
)
_FACT_READ_COLUMNS = (
    *KEY,
    "ack_seconds",
    "resolve_seconds",
    "auto_resolved",
    "resolved_without_ack",
    "escalated",
    "reassigned",
)


def _facts_of(organization_id: int) -> Iterable[dict[str, Any]]:
    """Write the organization's facts from `FACT_SELECT`, then read them back."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_F} ({', '.join(FACT_COLUMNS)}) "  # noqa: S608
            + FACT_SELECT.format(where="i.organization_id = %s"),
            [organization_id],
        )
        cursor.execute(_FACT_READ, [organization_id])
        while rows := cursor.fetchmany(10_000):
            for row in rows:
                yield dict(zip(_FACT_READ_COLUMNS, row, strict=True))


def _interruptions(organization_id: int) -> Iterable[tuple[int, datetime, str]]:
    notifications = (
        Notification.objects.filter(
            organization_id=organization_id,
            status=NotificationStatus.SENT,
            channel__in=list(INTERRUPTING),
            sent_at__isnull=False,
        )
        # Counted when their PendingChange is applied (visible together with the row).
        .exclude(
            pk__in=PendingChange.objects.filter(
                organization_id=organization_id, notification_id__isnull=False
            ).values("notification_id")
        )
        .order_by("user_id", "sent_at")
        .values_list("user_id", "sent_at", "user__time_zone")
    )
    for user_id, sent_at, user_zone in notifications.iterator(chunk_size=5000):
        if sent_at is not None:
            yield user_id, sent_at, user_zone


def _responders_rebuild(organization: Organization) -> None:
    counts: dict[tuple[date, int, str], list[int]] = defaultdict(lambda: [0, 0])
    last: dict[int, datetime] = {}
    zones: dict[str, ZoneInfo] = {}
    for user_id, sent_at, user_zone in _interruptions(organization.pk):
        name = user_zone or organization.time_zone
        zone = zones.get(name) or zones.setdefault(name, _zone(name))
        local = sent_at.astimezone(zone)
        previous = last.get(user_id)
        entry = counts[(local.date(), user_id, period_of(local))]
        entry[0] += int(previous is None or sent_at - previous > COLLAPSE)
        entry[1] += 1
        last[user_id] = sent_at
    _copy(
        _RR,
        ("organization_id", "day", "user_id", "period", "interruptions", "notifications"),
        (
            (organization.pk, day, user_id, period, interruptions, notifications)
            for (day, user_id, period), (interruptions, notifications) in counts.items()
        ),
    )
    for user_id, at in last.items():
        ResponderLast.objects.update_or_create(user_id=user_id, defaults={"last_at": at})


def _rollup_rows(totals: dict[tuple[Any, ...], Contribution]) -> Iterable[list[Any]]:
    for key, change in totals.items():
        yield [*key, *(change.sums[name] for name in SUMS)] + [
            change.ack_histogram,
            change.resolve_histogram,
            True,
        ]


def _rollups_rebuild(facts: Iterable[dict[str, Any]]) -> int:
    """Add the facts up per day (the same `Contribution.add` as the upkeep), the days per
    week and month, and write both tables."""
    totals: dict[tuple[Any, ...], Contribution] = defaultdict(Contribution)
    count = 0
    for fact in facts:
        totals[_key(fact)].add(fact, 1)
        count += 1
    _copy(_R, (*KEY, *SUMS, *HISTOGRAMS, "compacted"), _rollup_rows(totals))
    _copy(_SR, (*SPAN_KEY, *SUMS, *HISTOGRAMS, "compacted"), _rollup_rows(_spans_of(totals)))
    return count


@transaction.atomic
def analytics_rebuild(*, organizations: Sequence[Organization] | None = None) -> int:
    """Recompute the facts and rollups of these organizations (all: None) from the incidents
    and notifications; how many incidents were counted. One transaction: readers see the old
    figures until it commits. A change made while it runs is not kept waiting: it leaves a
    PendingChange, counted by `pending_apply` once this has committed (module docstring)."""
    chosen = list(organizations) if organizations is not None else list(Organization.objects.all())
    chosen.sort(key=lambda organization: organization.pk)  # the locks in one order
    counted = 0
    for organization in chosen:
        with connection.cursor() as cursor:
            # Waits for the changes counting now; the later ones leave a PendingChange.
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_REBUILD_LOCK + organization.pk])
        IncidentFact.objects.filter(organization_id=organization.pk).delete()
        IncidentRollup.objects.filter(organization_id=organization.pk).delete()
        IncidentSpanRollup.objects.filter(organization_id=organization.pk).delete()
        ResponderRollup.objects.filter(organization_id=organization.pk).delete()
        counted += _rollups_rebuild(_facts_of(organization.pk))
        _responders_rebuild(organization)
    return counted


PENDING_BATCH = 500


def rebuild_request(organization: Organization) -> None:
    """Ask for a rebuild of the organization's analytics (in the caller's transaction): done by
    `analytics.rebuild` (queued after the commit) or else by the `analytics.compact` sweep."""
    PendingChange.objects.create(organization=organization, rebuild=True, at=timezone.now())


def rebuilds_run() -> int:
    """Run the rebuilds asked for, each in its own transaction (one at a time per
    organization), then count the changes left while they ran; how many rebuilds ran."""
    ran = 0
    while True:
        with transaction.atomic():
            asked = PendingChange.objects.select_for_update(skip_locked=True).filter(rebuild=True)
            first = asked.order_by("id").select_related("organization").first()
            if first is None:
                break
            # Every request of the organization that is visible now: the rebuild reads what
            # they changed (its statements come after this one), so it answers them all.
            answered = list(
                asked.filter(organization_id=first.organization_id).values_list("pk", flat=True)
            )
            analytics_rebuild(organizations=[first.organization])
            PendingChange.objects.filter(pk__in=answered).delete()
        ran += 1
    pending_apply()
    return ran


def pending_apply() -> int:
    """Count the changes left while a rebuild ran (those whose rebuild has committed), then
    forget them, a batch per transaction; how many."""
    applied = 0
    while True:
        done = _pending_apply_batch(PENDING_BATCH)
        applied += done
        if done < PENDING_BATCH:
            return applied


def _pending_apply_batch(limit: int) -> int:
    with transaction.atomic():
        rows = list(
            PendingChange.objects.select_for_update(skip_locked=True)
            .filter(rebuild=False)
            .order_by("id")[:limit]
        )
        applied = []
        for row in rows:
            if not _counting(row.organization_id):
                continue  # a rebuild is running again: after it
            if row.incident_id is not None:
                incident_fact_refresh(row.incident_id)
            elif row.user_id is not None:
                responder_notified(
                    organization_id=row.organization_id, user_id=row.user_id, at=row.at
                )
            applied.append(row.pk)
        PendingChange.objects.filter(pk__in=applied).delete()
    return len(applied)
