"""Analytics benchmark: every tab's server time over 1,000,000 incidents in one organization.

1. Data (once; reused by its marker, the organization's domain `bench-analytics-<N>`): a bench
   organization (time zone Europe/Oslo) with 40 teams of 4 people (each in a time zone of
   their own), 2 escalation policies per team and 200 services (5 a team, each on its team's
   first policy), then `--incidents` incidents over the last 24 months written with
   PostgreSQL COPY (psycopg's `cursor.copy`), not the ORM: `incidents_incident`, their log
   (`incidents_incidentlogentry`), labels (`incidents_incident_labels`), escalation runs and
   the notifications that paged people (`escalations_notification`, sent, on SMS, voice,
   Slack or email). Shapes (seed `--seed`): more incidents in the day than at night and a
   third more at the end than at the start; services by a Zipf-like weight; 70% high urgency;
   about 70% acknowledged by a person after a log-normal delay (median 2 minutes high, 15
   low), 7% acknowledged by a monitoring tool only (no actor); resolved after a longer
   log-normal delay, by a person or by the system; 3% reopened and resolved again; 10%
   escalated to level 2 by the policy's timeout (`{"level": 2, "manual": false}`); 1%
   reassigned by a person to the team's second policy (`{"policy": id}`); 15% labelled. Only
   the last hours leave incidents open; nothing is pending or due (no run or notification is
   left for the Procfile's processes to pick up).
2. `analytics_rebuild` for that organization, timed (`--no-rebuild` skips it), then VACUUM
   ANALYZE of the analytics tables (what autovacuum does after a bulk load).
3. Server time of each tab's selector calls (what one request of the tab computes), as the
   organization's owner, for the 90 and 365 days ending today (the organization's today),
   without a filter, with a team filter (the busiest team) and with an urgency filter (high):
   overview = `overview` + `incidents_over_time` (daily up to 90 days, weekly beyond);
   services / policies / teams = `breakdown`; responders = `responder_load`. `--repeat`
   timed calls after 3 warm-up calls each: p50 / p99 / max. Also, for information: the label
   filter (summed from the facts) and the daily series over 365 days.

4. The upkeep: the analytics statements' time in each of 4 changes (reopen, acknowledge,
   urgency, resolve, through the incident services) on `--upkeep-incidents` recent incidents,
   timed at the client (`connection.execute_wrapper`), in one transaction rolled back.

Beside them (bench/support/baseline.py): the raw-PostgreSQL baseline measured in the same run
from one connection (everything here runs on one, one statement after another), and CPU of
this process (`app`: the code measured runs in it), PostgreSQL and Redis: per incident written
and its share of raw (incidents a second; when the data is created, not reused), per incident
rebuilt and its share, per tab call (`cpu_ms_per_call` in each case, and over all the timed
calls), per incident change of the upkeep (the whole service call, the upkeep in it). Nothing
here is an event. Prints one JSON object on stdout and Markdown tables on stderr.

    eval "$(make -s services)"; .venv/bin/python manage.py migrate
    .venv/bin/python bench/analytics.py [--incidents 1000000 --repeat 30]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import baseline, stats  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsduty.settings")
os.environ["OPSDUTY_DEBUG"] = "0"

TEAMS, SERVICES_PER_TEAM, PEOPLE_PER_TEAM = 40, 5, 4
DAYS = 730  # 24 months
ZONE = "Europe/Oslo"
PEOPLE_ZONES = [
    "Europe/Oslo",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
    "",  # the organization's
]
LABELS = ["customer-facing", "database", "network", "deploy", "security", "capacity"]
SUMMARIES = [
    "High error rate on {svc}",
    "{svc}: p99 latency above 2 s",
    "Disk above 90% on {svc}-db",
    "{svc} health check failing",
    "Queue backlog growing on {svc}",
    "Certificate expiring for {svc}",
]
TARGET_P99_MS = 200


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30, help="timed calls per case")
    parser.add_argument("--seed", type=int, default=20261205)
    parser.add_argument(
        "--upkeep-incidents", type=int, default=200, help="incidents changed to time the upkeep"
    )
    parser.add_argument(
        "--no-rebuild", action="store_true", help="reuse the rollups as they are (no rebuild)"
    )
    return parser.parse_args()


# --- the organization ------------------------------------------------------------------------


@dataclass
class World:
    organization: Any
    owner: Any
    teams: list[int]
    people: dict[int, list[tuple[int, str]]]  # team -> [(user id, full name)]
    services: list[tuple[int, int, str]]  # (service id, team id, name)
    policies: dict[int, tuple[int, int]]  # team -> (first policy, second policy)
    labels: list[int]


def _world_create(domain: str) -> Any:
    from escalations.catalog import services as catalog
    from escalations.policies import services as policies
    from escalations.policies.models import StepKind
    from opsduty import services
    from opsduty.models import Label, Organization, Role, Team, User

    organization = services.organization_create(name="Bench analytics (loading)", domain=domain)
    Organization.objects.filter(pk=organization.pk).update(time_zone=ZONE)
    services.user_create(
        organization=organization,
        email=f"owner@{domain}.test",
        password=None,
        role=Role.OWNER,
        first_name="Owner",
    )
    for t in range(TEAMS):
        team = Team.objects.create(organization=organization, name=f"Team {t + 1:02d}")
        members = []
        for p in range(PEOPLE_PER_TEAM):
            user = services.user_create(
                organization=organization,
                email=f"person-{t + 1}-{p + 1}@{domain}.test",
                password=None,
                first_name=f"Person {t + 1}.{p + 1}",
            )
            User.objects.filter(pk=user.pk).update(
                time_zone=PEOPLE_ZONES[(t * PEOPLE_PER_TEAM + p) % len(PEOPLE_ZONES)]
            )
            services.team_add_member(team=team, user=user, by=None)
            members.append(user)
        chosen = []
        for name in ("primary", "secondary"):
            policy = policies.policy_create(team=team, by=None, name=f"{team.name} {name}")
            policies.step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=members[:2])
            policies.step_add(policy=policy, by=None, kind=StepKind.WAIT, wait_minutes=5)
            policies.step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=members[2:])
            chosen.append(policy)
        for s in range(SERVICES_PER_TEAM):
            service = catalog.service_create(
                team=team, by=None, name=f"Service {t * SERVICES_PER_TEAM + s + 1:03d}"
            )
            catalog.service_set_policy(service=service, policy=chosen[0], by=None)
    for name in LABELS:
        Label.objects.create(organization=organization, name=name)
    return organization


def _world(organization: Any) -> World:
    from escalations.policies.models import EscalationPolicy
    from opsduty.models import Label, Role, Service, TeamMembership, User

    people: dict[int, list[tuple[int, str]]] = {}
    for team_id, user_id, first in (
        TeamMembership.objects.filter(organization=organization)
        .order_by("team_id", "user_id")
        .values_list("team_id", "user_id", "user__first_name")
    ):
        people.setdefault(team_id, []).append((user_id, first))
    policies: dict[int, list[int]] = {}
    for team_id, policy_id in (
        EscalationPolicy.objects.filter(organization=organization)
        .order_by("id")
        .values_list("team_id", "id")
    ):
        policies.setdefault(team_id, []).append(policy_id)
    return World(
        organization=organization,
        owner=User.objects.get(organization=organization, role=Role.OWNER),
        teams=sorted(people),
        people=people,
        services=list(
            Service.objects.filter(organization=organization)
            .order_by("id")
            .values_list("id", "team_id", "name")
        ),
        policies={team: (ids[0], ids[1]) for team, ids in policies.items()},
        labels=list(
            Label.objects.filter(organization=organization)
            .order_by("id")
            .values_list("id", flat=True)
        ),
    )


# --- the incidents ----------------------------------------------------------------------------


@dataclass(slots=True)
class Plan:
    """One incident's history, as epoch seconds (None: did not happen)."""

    number: int
    created: float
    service: int  # index into World.services
    high: bool
    ack_at: float | None  # by a person
    acker: int  # index into the team's people
    signal_ack_at: float | None  # by a monitoring tool (no actor)
    escalated_at: float | None  # level 2 by the policy's timeout
    reassigned_at: float | None
    resolves: list[tuple[float, bool]]  # (at, by the system), in order
    reopens: list[float]
    labels: tuple[int, ...]  # indexes into World.labels
    channel: str


def _lognormal(rng: random.Random, median: float, sigma: float, cap: float) -> float:
    return min(cap, rng.lognormvariate(math.log(median), sigma))


def _created_times(rng: random.Random, count: int, now: float) -> list[float]:
    """`count` instants over the last DAYS days: busier by day (UTC 07-19) and a third busier
    at the end than at the start."""
    span = DAYS * 86400.0
    start = now - span
    times: list[float] = []
    while len(times) < count:
        t = start + rng.random() * span
        hour = (t % 86400) / 3600
        weight = (1.0 if 7 <= hour < 19 else 0.45) * (0.75 + 0.25 * (t - start) / span)
        if rng.random() < weight:
            times.append(t)
    times.sort()
    return times


def _plans(count: int, seed: int, now: float, services: int) -> list[Plan]:
    rng = random.Random(seed)
    weights = [1.0 / (rank + 1) ** 0.8 for rank in range(services)]
    rng.shuffle(weights)
    chosen = rng.choices(range(services), weights=weights, k=count)
    plans = []
    for n, created in enumerate(_created_times(rng, count, now)):
        plans.append(_plan(rng, n + 1, created, chosen[n], now))
    return plans


def _plan(rng: random.Random, number: int, created: float, service: int, now: float) -> Plan:
    high = rng.random() < 0.7
    r = rng.random()
    ack_at = signal_ack_at = escalated_at = reassigned_at = None
    escalated = rng.random() < 0.10
    if r < 0.70:
        delay = _lognormal(rng, 120 if high else 900, 1.2, 3 * 86400)
        if escalated:  # nobody acknowledged within the policy's 5-minute wait
            delay = 300 + _lognormal(rng, 240, 1.0, 86400)
        ack_at = created + delay
    elif r < 0.77:
        signal_ack_at = created + _lognormal(rng, 60, 1.0, 3600)
    if escalated and (signal_ack_at is None or signal_ack_at > created + 300):
        escalated_at = created + 300 + rng.random() * 5
    if rng.random() < 0.01:
        reassigned_at = created + 60 + rng.random() * 600
    first = ack_at if ack_at is not None else created
    if ack_at is not None:
        resolve_at = first + _lognormal(rng, 2400, 1.3, 7 * 86400)
        by_system = rng.random() < 0.2
    else:
        resolve_at = created + _lognormal(rng, 1200, 1.5, 7 * 86400)
        by_system = rng.random() < 0.6
    resolves, reopens = [(resolve_at, by_system)], []
    if rng.random() < 0.03:
        reopen_at = resolve_at + _lognormal(rng, 1800, 1.0, 86400)
        reopens.append(reopen_at)
        resolves.append((reopen_at + _lognormal(rng, 1800, 1.0, 86400), rng.random() < 0.5))
    if rng.random() < 0.005:  # forgotten: never resolved
        resolves = []
    labels: tuple[int, ...] = ()
    if rng.random() < 0.15:
        labels = tuple(sorted(set(rng.sample(range(len(LABELS)), rng.choice((1, 1, 2))))))
    if high:
        channel = rng.choices(("sms", "voice", "slack", "email"), (50, 10, 30, 10))[0]
    else:
        channel = rng.choices(("slack", "email"), (40, 60))[0]
    plan = Plan(
        number,
        created,
        service,
        high,
        ack_at,
        rng.randrange(PEOPLE_PER_TEAM),
        signal_ack_at,
        escalated_at,
        reassigned_at,
        resolves,
        reopens,
        labels,
        channel,
    )
    return _cut_at(plan, now)


def _cut_at(plan: Plan, now: float) -> Plan:
    """What has happened by `now` (the last hours' incidents are still open)."""
    if plan.ack_at is not None and plan.ack_at > now:
        plan.ack_at = None
    if plan.signal_ack_at is not None and plan.signal_ack_at > now:
        plan.signal_ack_at = None
    if plan.escalated_at is not None and plan.escalated_at > now:
        plan.escalated_at = None
    if plan.reassigned_at is not None and plan.reassigned_at > now:
        plan.reassigned_at = None
    plan.resolves = [(at, system) for at, system in plan.resolves if at <= now]
    plan.reopens = [at for at in plan.reopens if at <= now]
    return plan


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _status(plan: Plan) -> tuple[str, float | None, float | None, float]:
    """status, acknowledged_at, resolved_at, last change."""
    events = [plan.created]
    acked = min((t for t in (plan.ack_at, plan.signal_ack_at) if t is not None), default=None)
    if acked is not None:
        events.append(acked)
    events += [at for at, _ in plan.resolves] + plan.reopens
    last = max(events)
    if len(plan.resolves) > len(plan.reopens):
        return "resolved", acked, plan.resolves[-1][0], last
    if plan.reopens:
        return "triggered", None, None, last
    return ("acknowledged" if acked is not None else "triggered"), acked, None, last


def _copy(cursor: Any, table: str, columns: tuple[str, ...], rows: Any) -> int:
    count = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


INCIDENT_COLUMNS = (
    "organization_id",
    "number",
    "service_id",
    "summary",
    "description",
    "source_url",
    "urgency",
    "status",
    "dedup_id",
    "created_at",
    "acknowledged_at",
    "resolved_at",
    "last_status_change_at",
    "version",
    "is_maintenance",
)
LOG_COLUMNS = (
    "organization_id",
    "incident_id",
    "actor_id",
    "action",
    "message",
    "data",
    "created_at",
)
NOTIFICATION_COLUMNS = (
    "organization_id",
    "incident_id",
    "user_id",
    "channel",
    "reason",
    "due_at",
    "idempotency_key",
    "status",
    "attempts",
    "last_error",
    "sent_at",
    "created_at",
)
RUN_COLUMNS = (
    "organization_id",
    "incident_id",
    "policy_id",
    "policy_overridden",
    "state",
    "step_index",
    "repeat_count",
    "due_at",
    "version",
    "started_at",
    "updated_at",
)


def _incident_rows(world: World, plans: list[Plan]) -> Any:
    org = world.organization.pk
    for plan in plans:
        service_id, _, name = world.services[plan.service]
        status, acked, resolved, last = _status(plan)
        summary = SUMMARIES[plan.number % len(SUMMARIES)].format(svc=name)
        yield (
            org,
            plan.number,
            service_id,
            summary,
            "",
            "",
            "high" if plan.high else "low",
            status,
            f"bench-{plan.number}",
            _at(plan.created),
            _at(acked) if acked is not None else None,
            _at(resolved) if resolved is not None else None,
            _at(last),
            1 + len(plan.resolves) + len(plan.reopens),
            False,
        )


def _pages(world: World, plan: Plan) -> list[tuple[float, int, str, int]]:
    """Who the incident paged: (at, user id, name, step) for step 1 and the escalation."""
    people = world.people[world.services[plan.service][1]]
    pages = [(plan.created, *people[plan.number % 2], 1)]
    if plan.escalated_at is not None:
        pages.append((plan.escalated_at, *people[2 + plan.number % 2], 3))
    return pages


def _log_rows(world: World, plan: Plan, incident_id: int) -> list[tuple[Any, ...]]:
    """The incident's log lines, as the services write them (the analytics read these)."""
    org = world.organization.pk
    team_id = world.services[plan.service][1]
    actor = world.people[team_id][plan.acker][0]
    log: list[tuple[Any, ...]] = []

    def line(at: float, action: str, message: str, data: str = "{}", by: int | None = None):
        log.append((org, incident_id, by, action, message, data, _at(at)))

    line(plan.created, "created", "Incident opened.")
    line(plan.created, "escalation", "Escalation policy started.")
    for at, user_id, name, step in _pages(world, plan):
        level = 1 if step == 1 else 2
        line(at, "escalation", f"Step {step}: notifying {name}.", _LEVEL.format(level))
        data = json.dumps({"attempt": 1, "sent_to": user_id, "channel": plan.channel})
        line(at + 1.5, "notification", f"{plan.channel} to {name}: sent", data)
    if plan.reassigned_at is not None:
        policy = json.dumps({"policy": world.policies[team_id][1]})
        line(plan.reassigned_at, "escalation", "Reassigned by a person.", policy, actor)
    if plan.signal_ack_at is not None:
        line(plan.signal_ack_at, "acknowledged", "Acknowledged by an event.")
    if plan.ack_at is not None:
        line(plan.ack_at, "acknowledged", "Acknowledged.", by=actor)
    for n, (at, by_system) in enumerate(plan.resolves):
        line(at, "resolved", "Resolved.", by=None if by_system else actor)
        if n < len(plan.reopens):
            line(plan.reopens[n], "reopened", "Reopened.", by=actor)
    return log


_LEVEL = '{{"level": {}, "manual": false}}'


def _notification_rows(world: World, plan: Plan, incident_id: int) -> list[tuple[Any, ...]]:
    """The notifications that paged people: sent 1.5 s after they were due."""
    org = world.organization.pk
    return [
        (
            org,
            incident_id,
            user_id,
            plan.channel,
            f"escalation step {step}",
            _at(at),
            f"bench:{incident_id}:{step}:{user_id}",
            "sent",
            1,
            "",
            _at(at + 1.5),
            _at(at),
        )
        for at, user_id, _, step in _pages(world, plan)
    ]


def _run_rows(world: World, plan: Plan, incident_id: int) -> list[tuple[Any, ...]]:
    """The escalation run, over (stopped by an acknowledgement or resolve, else finished)."""
    first_policy, second_policy = world.policies[world.services[plan.service][1]]
    status, acked, _, last = _status(plan)
    state = "stopped" if status == "resolved" or acked is not None else "finished"
    reassigned = plan.reassigned_at is not None
    return [
        (
            world.organization.pk,
            incident_id,
            second_policy if reassigned else first_policy,
            reassigned,
            state,
            3,
            0,
            None,
            3,
            _at(plan.created),
            _at(last),
        )
    ]


def _label_rows(world: World, plan: Plan, incident_id: int) -> list[tuple[Any, ...]]:
    return [(incident_id, world.labels[index]) for index in plan.labels]


def _load(world: World, plans: list[Plan]) -> dict[str, Any]:
    from django.db import connection

    timings: dict[str, float] = {}
    counts: dict[str, int] = {}
    started = time.monotonic()
    with connection.connection.cursor() as cursor:
        counts["incidents"] = _copy(
            cursor, "incidents_incident", INCIDENT_COLUMNS, _incident_rows(world, plans)
        )
        timings["incidents"] = time.monotonic() - started
        cursor.execute(
            "SELECT number, id FROM incidents_incident WHERE organization_id = %s",
            [world.organization.pk],
        )
        ids = dict(cursor.fetchall())
        for name, table, columns, rows_of in (
            ("log_lines", "incidents_incidentlogentry", LOG_COLUMNS, _log_rows),
            ("notifications", "escalations_notification", NOTIFICATION_COLUMNS, _notification_rows),
            ("escalation_runs", "escalations_escalationrun", RUN_COLUMNS, _run_rows),
            ("labels", "incidents_incident_labels", ("incident_id", "label_id"), _label_rows),
        ):
            mark = time.monotonic()
            rows = (row for plan in plans for row in rows_of(world, plan, ids[plan.number]))
            counts[name] = _copy(cursor, table, columns, rows)
            timings[name] = time.monotonic() - mark
        cursor.execute(
            "INSERT INTO incidents_incidentcounter (organization_id, last_number) VALUES (%s, %s)"
            " ON CONFLICT (organization_id) DO UPDATE SET last_number = EXCLUDED.last_number",
            [world.organization.pk, len(plans)],
        )
    return {
        "rows": counts,
        "copy_seconds": {k: round(v, 1) for k, v in timings.items()},
        "seconds": round(time.monotonic() - started, 1),
    }


def _data(args: argparse.Namespace) -> tuple[World, dict[str, Any]]:
    from django.db import transaction

    from opsduty.models import Organization

    domain = f"bench-analytics-{args.incidents}"
    organization = Organization.objects.filter(domain=domain).first()
    if organization is not None:
        if organization.name.endswith("(loading)"):
            raise SystemExit(f"{domain} was left half-loaded by an earlier run: delete it first")
        return _world(organization), {"reused": domain}
    started = time.monotonic()
    with transaction.atomic():
        organization = _world_create(domain)
        world = _world(organization)
        now = time.time()
        plans = _plans(args.incidents, args.seed, now, len(world.services))
        planned = time.monotonic() - started
        loaded = _load(world, plans)
        Organization.objects.filter(pk=organization.pk).update(name="Bench analytics")
        commit = time.monotonic()
    loaded["commit_seconds"] = round(time.monotonic() - commit, 1)
    return world, {
        "created": domain,
        "plan_seconds": round(planned, 1),
        **loaded,
        "total_seconds": round(time.monotonic() - started, 1),
    }


# --- rebuild and measure ----------------------------------------------------------------------


def _rebuild(world: World) -> dict[str, Any]:
    from django.db import connection

    from analytics.services import analytics_rebuild

    meter = baseline.CpuMeter(own="app", own_is_product=True).start()
    started = time.monotonic()
    counted = analytics_rebuild(organizations=[world.organization])
    seconds = time.monotonic() - started
    cpu_figures = meter.stop(counted, "incident")
    mark = time.monotonic()
    with connection.cursor() as cursor:
        for table in _analytics_tables():
            cursor.execute(f"VACUUM ANALYZE {table}")
    return {
        "incidents_counted": counted,
        "seconds": round(seconds, 1),
        "vacuum_analyze_seconds": round(time.monotonic() - mark, 1),
        "incidents_per_second": round(counted / seconds, 1) if seconds else None,
        **cpu_figures,
    }


def _analytics_tables() -> list[str]:
    from django.apps import apps

    return [model._meta.db_table for model in apps.get_app_config("analytics").get_models()]


def _table_rows(world: World) -> dict[str, int]:
    from django.db import connection

    counts = {}
    with connection.cursor() as cursor:
        for table in _analytics_tables():
            if table == "analytics_responderlast":  # keyed by person only
                cursor.execute(f"SELECT count(*) FROM {table}")
            else:
                cursor.execute(
                    f"SELECT count(*) FROM {table} WHERE organization_id = %s",
                    [world.organization.pk],
                )
            counts[table] = cursor.fetchone()[0]
    return counts


def _tabs(scope: Any, filters: Any, days: int) -> dict[str, Callable[[], Any]]:
    from analytics import selectors

    def overview() -> Any:
        return (
            selectors.overview(scope, filters),
            selectors.incidents_over_time(scope, filters, weekly=days > 90),
        )

    return {
        "overview": overview,
        "services": lambda: selectors.breakdown(scope, filters, "service"),
        "policies": lambda: selectors.breakdown(scope, filters, "policy"),
        "teams": lambda: selectors.breakdown(scope, filters, "team"),
        "responders": lambda: selectors.responder_load(scope, filters),
    }


def _time(call: Callable[[], Any], repeat: int) -> dict[str, Any]:
    for _ in range(3):
        call()
    seconds = []
    meter = baseline.CpuMeter(own="app", own_is_product=True).start()
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    _TIMED.append(sum(seconds))
    return {**stats.ms(seconds, digits=1), **meter.stop(repeat, "call")}


_TIMED: list[float] = []  # each case's timed seconds, for the rate over all the calls


def _measure(world: World, repeat: int) -> dict[str, Any]:
    from django.db import connection

    from analytics import selectors
    from analytics.filters import organization_today

    scope = selectors.scope_for(world.owner)
    today = organization_today(world.organization)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT team_id FROM analytics_incidentfact WHERE organization_id = %s"
            " GROUP BY team_id ORDER BY count(*) DESC LIMIT 1",
            [world.organization.pk],
        )
        busiest_team = cursor.fetchone()[0]
    results: dict[str, Any] = {}
    meter = baseline.CpuMeter(own="app", own_is_product=True).start()
    _TIMED.clear()
    for days in (90, 365):
        start = today - timedelta(days=days - 1)
        for variant, extra in (
            ("all", {}),
            ("team", {"team_id": busiest_team}),
            ("urgency", {"urgency": "high"}),
        ):
            filters = selectors.Filters(start=start, end=today, **extra)
            for tab, call in _tabs(scope, filters, days).items():
                results[f"{tab}/{days}d/{variant}"] = _time(call, repeat)
    # Warm-up calls included: the window holds 3 of them for each case's `repeat`.
    calls = len(results) * (3 + repeat)
    every_tab = {
        "calls": calls,
        "calls_per_second_one_client": round(len(results) * repeat / sum(_TIMED), 1),
        **meter.stop(calls, "call"),
    }
    info: dict[str, Any] = {}
    for days in (90, 365):
        start = today - timedelta(days=days - 1)
        labelled = selectors.Filters(start=start, end=today, label=LABELS[0])
        info[f"overview/{days}d/label"] = _time(
            lambda f=labelled: selectors.overview(scope, f), min(repeat, 5)
        )
        every_day = selectors.Filters(start=start, end=today)
        info[f"incidents_over_time daily/{days}d"] = _time(
            lambda f=every_day: selectors.incidents_over_time(scope, f, weekly=False), repeat
        )
    check = selectors.overview(
        scope, selectors.Filters(start=today - timedelta(days=364), end=today)
    )
    return {
        "today": today.isoformat(),
        "busiest_team_id": busiest_team,
        "tabs": results,
        "every_tab_call": every_tab,
        "information_only": info,
        "overview_365d": check.as_dict(),
    }


def _server_times() -> dict[int, tuple[int, float, float]] | None:
    """pg_stat_statements' calls, planning and execution ms of the statements that name an
    analytics table, by query id (None without the extension)."""
    from django.db import connection, transaction

    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT queryid, calls, total_plan_time, total_exec_time FROM pg_stat_statements"
                " WHERE query LIKE '%%analytics_incident%%'"
            )
            return {row[0]: (row[1], row[2], row[3]) for row in cursor.fetchall()}
    except Exception:  # noqa: BLE001 - no extension, or not allowed to read it
        return None


def _upkeep(world: World, count: int) -> dict[str, Any]:
    """The upkeep's statements (those naming an analytics table, and its try of the rebuild
    lock) timed at the client (execute_wrapper: the database's time plus a loopback round
    trip) in the incident services
    called as a person would: reopen, acknowledge, change the urgency, resolve, on `count`
    incidents of the last 30 days; all in one transaction, rolled back."""
    from django.db import connection, transaction
    from django.utils import timezone

    from incidents import services as incident_services
    from incidents.models import Incident
    from opsduty.models import User

    spent: list[float] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if "analytics_" not in sql and "advisory" not in sql:  # + the rebuild lock
            return execute(sql, params, many, context)
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent.append(time.perf_counter() - started)

    recent = Incident.objects.filter(
        organization=world.organization,
        status="resolved",
        created_at__gte=timezone.now() - timedelta(days=30),
    ).select_related("service")
    chosen = list(recent.order_by("-id")[: count * 7])[::7]
    people = {u.pk: u for u in User.objects.filter(organization=world.organization)}
    actions: dict[str, Callable[[Any, Any], Any]] = {
        "reopen": lambda i, by: incident_services.incident_unresolve(incident=i, by=by),
        "acknowledge": lambda i, by: incident_services.incident_acknowledge(incident=i, by=by),
        "urgency": lambda i, by: incident_services.incident_set_urgency(
            incident=i, by=by, urgency="low" if i.urgency == "high" else "high"
        ),
        "resolve": lambda i, by: incident_services.incident_resolve(incident=i, by=by),
    }
    upkeep: dict[str, list[float]] = {name: [] for name in actions}
    calls: dict[str, list[float]] = {name: [] for name in actions}
    statements: dict[str, int] = dict.fromkeys(actions, 0)
    before = _server_times()
    meter = baseline.CpuMeter(own="app", own_is_product=True).start()
    with transaction.atomic(), connection.execute_wrapper(wrapper):
        for incident in chosen:
            by = people[world.people[incident.service.team_id][0][0]]
            for name, action in actions.items():
                spent.clear()
                started = time.perf_counter()
                action(incident, by)
                calls[name].append(time.perf_counter() - started)
                upkeep[name].append(sum(spent))
                statements[name] += len(spent)
                incident.refresh_from_db()
        transaction.set_rollback(True)
    cpu_figures = meter.stop(len(chosen) * len(actions), "change")
    after = _server_times()
    server = None
    if before is not None and after is not None:
        delta = [
            (calls - before.get(qid, (0, 0.0, 0.0))[0], plan - before.get(qid, (0, 0.0, 0.0))[1],
             run - before.get(qid, (0, 0.0, 0.0))[2])
            for qid, (calls, plan, run) in after.items()
        ]  # fmt: skip
        changes = len(chosen) * len(actions)
        server = {
            "statements": sum(d[0] for d in delta),
            "plan_ms_per_change": round(sum(d[1] for d in delta) / max(1, changes), 3),
            "exec_ms_per_change": round(sum(d[2] for d in delta) / max(1, changes), 3),
        }
    every = [t for times in upkeep.values() for t in times]
    return {
        "pg_stat_statements": server,
        "incidents": len(chosen),
        "upkeep_statements_per_change": {
            name: round(n / max(1, len(chosen)), 2) for name, n in statements.items()
        },
        "upkeep_ms_per_change": {name: stats.ms(t, digits=2) for name, t in upkeep.items()},
        "upkeep_ms_per_change_all": stats.ms(every, digits=2),
        "service_call_ms": {name: stats.ms(t, digits=1) for name, t in calls.items()},
        "changes": len(chosen) * len(actions),
        "changes_per_second_one_client": round(
            len(chosen) * len(actions) / max(sum(sum(t) for t in calls.values()), 1e-9), 1
        ),
        **cpu_figures,
    }


def _table(out: dict[str, Any]) -> str:
    lines = [
        "| Tab | 90 days p50 / p99 / max (ms) | 365 days p50 / p99 / max (ms) |",
        "|---|---|---|",
    ]
    tabs = out["measured"]["tabs"]
    for name in tabs:
        tab, days, variant = name.split("/")
        if days != "90d":
            continue
        row = [f"{tab}" + ("" if variant == "all" else f", {variant} filter")]
        for span in ("90d", "365d"):
            t = tabs[f"{tab}/{span}/{variant}"]
            row.append(f"{t['p50_ms']} / **{t['p99_ms']}** / {t['max_ms']}")
        lines.append("| " + " | ".join(row) + " |")
    for name, t in out["measured"]["information_only"].items():
        lines.append(f"| ({name}) | {t['p50_ms']} / {t['p99_ms']} / {t['max_ms']} | |")
    lines += ["", "| Upkeep per change (client-side) | p50 / p99 / max (ms) | statements |"]
    lines.append("|---|---|---|")
    upkeep = out["upkeep"]
    for name, t in upkeep["upkeep_ms_per_change"].items():
        n = upkeep["upkeep_statements_per_change"][name]
        lines.append(f"| {name} | {t['p50_ms']} / {t['p99_ms']} / {t['max_ms']} | {n} |")
    server = upkeep["pg_stat_statements"]
    if server:
        lines.append(
            "| database (pg_stat_statements), mean per change"
            f" | plan {server['plan_ms_per_change']}"
            f" + execution {server['exec_ms_per_change']} ms | |"
        )
    return "\n".join(lines)


def main() -> None:
    args = _arguments()
    import django

    django.setup()
    base = baseline.measure(clients=1)
    meter = baseline.CpuMeter(own="app", own_is_product=True).start()
    world, data = _data(args)
    if "created" in data:
        data["incidents_per_second"] = round(args.incidents / data["total_seconds"], 1)
        data["share_of_raw"] = baseline.share_of_raw(data["incidents_per_second"], base)
        data.update(meter.stop(args.incidents, "incident"))
    rebuild = None if args.no_rebuild else _rebuild(world)
    if rebuild is not None:
        rebuild["share_of_raw"] = baseline.share_of_raw(rebuild["incidents_per_second"], base)
    measured = _measure(world, args.repeat)
    every_tab = measured["every_tab_call"]
    every_tab["share_of_raw"] = baseline.share_of_raw(
        every_tab["calls_per_second_one_client"], base
    )
    upkeep = _upkeep(world, args.upkeep_incidents)
    upkeep["share_of_raw"] = baseline.share_of_raw(upkeep["changes_per_second_one_client"], base)
    worst = max(t["p99_ms"] for t in measured["tabs"].values())
    out = {
        "benchmark": "analytics",
        "organization": world.organization.domain,
        "incidents": args.incidents,
        "baseline": base,
        "cpu_components": baseline.components(
            (), app="this process: the data load, the rebuild, the selectors, the services"
        ),
        "data": data,
        "rebuild": rebuild,
        "analytics_rows": _table_rows(world),
        "repeat": args.repeat,
        "measured": measured,
        "upkeep": upkeep,
        "worst_tab_p99_ms": worst,
        "target_p99_ms_below": TARGET_P99_MS,
        "met": worst < TARGET_P99_MS,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    print(json.dumps(out, indent=2, default=str))
    print(_table(out), file=sys.stderr)
    baseline.print_table(base, _baseline_rows(out))


def _baseline_rows(out: dict[str, Any]) -> list[tuple[str, str, float | None, Any]]:
    rows: list[tuple[str, str, float | None, Any]] = []
    data, rebuild = out["data"], out["rebuild"]
    if "created" in data:
        rows.append(
            (
                f"{out['incidents']:,} incidents written by COPY (organization and plan included)",
                f"{data['incidents_per_second']:,.0f} incidents/s",
                data["share_of_raw"],
                data,
            )
        )
    if rebuild is not None:
        rows.append(
            (
                f"analytics_rebuild of {rebuild['incidents_counted']:,} incidents",
                f"{rebuild['incidents_per_second']:,.0f} incidents/s",
                rebuild["share_of_raw"],
                rebuild,
            )
        )
    every_tab, upkeep = out["measured"]["every_tab_call"], out["upkeep"]
    rows.append(
        (
            f"every tab's selector calls, one after another ({every_tab['calls']}, warm-ups"
            " included)",
            f"{every_tab['calls_per_second_one_client']} calls/s (timed ones)",
            every_tab["share_of_raw"],
            every_tab,
        )
    )
    rows.append(
        (
            f"incident changes through the services, {upkeep['changes']} (upkeep included),"
            " rolled back",
            f"{upkeep['changes_per_second_one_client']} changes/s",
            upkeep["share_of_raw"],
            upkeep,
        )
    )
    return rows


if __name__ == "__main__":
    main()
