"""The organization of bench/read_paths.py: one large tenant, built once and reused.

Everything a list page shows is there in realistic numbers: `people` people in `teams` teams
(5 each, a fifth of them in a second team), `services` services (evenly over the teams, on
their team's first policy), 2 escalation policies a team (notify the team's schedule, wait,
notify two people), a schedule a team (a weekly rotation of its people, started 60 days ago,
and 10 overrides), 200 webhooks (half read through one of 20 receive channels), 50 routing
rules of 10 routes, a heartbeat on every other service (two environments, 50 check-ins
each), personal API tokens, OAuth applications, notification rules for everyone, a Twilio
account with 5 numbers and a Slack workspace with 100 channels.

The volume is written with PostgreSQL COPY, as bench/analytics.py does (and through its
generator, so the incidents have the same shapes: busier days, a Zipf-like spread over the
services, 70% high urgency, acknowledgements and resolutions after log-normal delays, 15%
labelled, the last hours still open): `incidents` incidents over 24 months with their log,
escalation runs, notifications and labels; then for each incident its events (alerts: 1 to
6, a mean of about 2, the last one resolving when a monitoring tool resolved it), a responder
per person paged, a note on one in ten, and for every event the raw event and the reference
it came in with (one in 200 failed). Then `analytics_rebuild` for the organization and
VACUUM ANALYZE of the tables written.

Call after django.setup().
"""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any

from bench import analytics as shapes

SEED = 20261207
PEOPLE_PER_TEAM = 5
POLICIES_PER_TEAM = 2
WEBHOOKS, CHANNELS, ROUTING_RULES, ROUTES_PER_RULE = 200, 20, 50, 10
OVERRIDES_PER_SCHEDULE, CHECKINS_PER_STATE = 10, 50
API_TOKENS, APPLICATIONS, TWILIO_NUMBERS, SLACK_CHANNELS = 40, 10, 5, 100
EXTRA_LABELS = ["payments", "search", "auth", "mobile", "batch", "edge", "storage", "ml"]


@dataclass
class ReadWorld:
    """What the bench needs to build its URLs."""

    organization: Any
    owner: Any
    domain: str
    created: bool


def domain_for(incidents: int) -> str:
    return f"bench-read-{incidents}"


def world_get_or_create(
    *, incidents: int, services: int, people: int, teams: int, log: Any = print
) -> tuple[ReadWorld, dict[str, Any]]:
    """The bench organization for these sizes: reused when it exists, else built."""
    from django.db import transaction

    from opsduty.models import Organization, Role, User

    domain = domain_for(incidents)
    organization = Organization.objects.filter(domain=domain).first()
    if organization is not None:
        if organization.name.endswith("(loading)"):
            raise SystemExit(f"{domain} was left half-loaded by an earlier run: delete it first")
        owner = User.objects.filter(organization=organization, role=Role.OWNER).order_by("id")[0]
        return ReadWorld(organization, owner, domain, created=False), {"reused": domain}
    started = time.monotonic()
    timings: dict[str, float] = {}
    with transaction.atomic():
        organization = _config_create(domain, services, people, teams, timings, log)
        owner = User.objects.filter(organization=organization, role=Role.OWNER).order_by("id")[0]
        counts = _volume_load(organization, incidents, timings, log)
        Organization.objects.filter(pk=organization.pk).update(name="Bench read paths")
    mark = time.monotonic()
    _analytics(organization)
    timings["analytics_rebuild"] = time.monotonic() - mark
    mark = time.monotonic()
    _vacuum()
    timings["vacuum_analyze"] = time.monotonic() - mark
    return ReadWorld(organization, owner, domain, created=True), {
        "created": domain,
        "rows": counts,
        "seconds": {k: round(v, 1) for k, v in timings.items()},
        "total_seconds": round(time.monotonic() - started, 1),
    }


# --- configuration, through the services --------------------------------------------------


def _config_create(
    domain: str, services: int, people: int, teams: int, timings: dict[str, float], log: Any
) -> Any:
    from opsduty import services as core
    from opsduty.models import Label, Organization, Role

    mark = time.monotonic()
    organization = core.organization_create(name="Bench read paths (loading)", domain=domain)
    Organization.objects.filter(pk=organization.pk).update(time_zone="Europe/Oslo")
    owner = core.user_create(
        organization=organization,
        email=f"owner@{domain}.test",
        password=None,
        role=Role.OWNER,
        first_name="Olga",
        last_name="Owner",
    )
    rng = random.Random(SEED)
    team_rows, members = _people_and_teams(organization, owner, people, teams, rng)
    timings["people_and_teams"] = time.monotonic() - mark
    log(f"people and teams: {time.monotonic() - mark:.1f} s")
    mark = time.monotonic()
    schedules = {team.pk: _schedule(team, members[team.pk], rng) for team in team_rows}
    timings["schedules"] = time.monotonic() - mark
    mark = time.monotonic()
    policies = {
        team.pk: _policies(team, members[team.pk], schedules[team.pk]) for team in team_rows
    }
    timings["policies"] = time.monotonic() - mark
    log(f"schedules and policies: {time.monotonic() - mark:.1f} s")
    mark = time.monotonic()
    service_rows = _services(team_rows, policies, services)
    timings["services"] = time.monotonic() - mark
    log(f"services: {time.monotonic() - mark:.1f} s")
    for name in [*shapes.LABELS, *EXTRA_LABELS]:
        Label.objects.create(organization=organization, name=name)
    mark = time.monotonic()
    _signals(organization, team_rows, service_rows, rng)
    timings["webhooks_channels_rules_heartbeats"] = time.monotonic() - mark
    log(f"webhooks, channels, rules, heartbeats: {time.monotonic() - mark:.1f} s")
    mark = time.monotonic()
    _people_settings(organization, owner, [u for us in members.values() for u in us], rng)
    _integrations(organization, service_rows, rng)
    timings["tokens_rules_integrations"] = time.monotonic() - mark
    return organization


def _people_and_teams(
    organization: Any, owner: Any, people: int, teams: int, rng: random.Random
) -> tuple[list[Any], dict[int, list[Any]]]:
    from opsduty import services as core
    from opsduty.models import Team

    users = [owner]
    for n in range(1, people):
        users.append(
            core.user_create(
                organization=organization,
                email=f"person-{n:04d}@{organization.domain}.test",
                password=None,
                first_name=f"Person {n:04d}",
                last_name=rng.choice(["Berg", "Hansen", "Kim", "Okafor", "Silva", "Novak"]),
                phone_number=f"+4740{organization.pk % 100:02d}{n:04d}",
            )
        )
    team_rows = [
        Team.objects.create(organization=organization, name=f"Team {t + 1:03d}")
        for t in range(teams)
    ]
    members: dict[int, list[Any]] = {team.pk: [] for team in team_rows}
    for n, user in enumerate(users):
        team = team_rows[(n // PEOPLE_PER_TEAM) % teams]
        chosen = [team]
        if n % 5 == 0:  # a fifth are in a second team too
            chosen.append(team_rows[(n // PEOPLE_PER_TEAM + 1 + rng.randrange(teams - 1)) % teams])
        for each in chosen:
            if user not in members[each.pk]:
                core.team_add_member(team=each, user=user, by=None)
                members[each.pk].append(user)
    return team_rows, members


def _schedule(team: Any, people: list[Any], rng: random.Random) -> Any:
    from django.db.models import F
    from django.utils import timezone

    from escalations.models import Schedule, ScheduleLayer
    from escalations.schedules import services as schedules

    now = timezone.now()
    schedule = schedules.schedule_create(
        team=team, by=None, name=f"{team.name} primary", timezone_name="Europe/Oslo", now=now
    )
    start = (now + timedelta(days=1)).date()
    schedules.layer_create(
        schedule=schedule,
        by=None,
        data=schedules.LayerInput(
            name="Weekly",
            rotation="rolling",
            groups=[[person] for person in people],
            frequency="weekly",
            start_date=start,
            handoff_time=dtime(9, 0),
            shift_minutes=7 * 24 * 60,
        ),
    )
    # Layers must start in the future; this one has been running for 60 days.
    ScheduleLayer.objects.filter(schedule=schedule).update(
        start_date=start - timedelta(days=63),
        effective_from=now - timedelta(days=62),
        created_at=now - timedelta(days=62),
    )
    Schedule.objects.filter(pk=schedule.pk).update(version=F("version") + 1)
    for k in range(OVERRIDES_PER_SCHEDULE):
        begin = now + timedelta(days=3 * k + 1, hours=rng.randrange(24))
        schedules.override_create(
            schedule=schedule,
            by=None,
            user=rng.choice(people),
            start=begin,
            end=begin + timedelta(hours=rng.choice((4, 8, 12, 24))),
            now=now,
        )
    return schedule


def _policies(team: Any, people: list[Any], schedule: Any) -> list[Any]:
    from escalations.policies import services as policies
    from escalations.policies.models import StepKind

    made = []
    for name in ("primary", "secondary")[:POLICIES_PER_TEAM]:
        policy = policies.policy_create(team=team, by=None, name=f"{team.name} {name}")
        policies.step_add(policy=policy, by=None, kind=StepKind.NOTIFY, schedule_id=schedule.pk)
        policies.step_add(policy=policy, by=None, kind=StepKind.WAIT, wait_minutes=5)
        policies.step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=people[:2])
        made.append(policy)
    return made


def _services(team_rows: list[Any], policies: dict[int, list[Any]], count: int) -> list[Any]:
    from escalations.catalog import services as catalog

    made = []
    for n in range(count):
        team = team_rows[n % len(team_rows)]
        service = catalog.service_create(
            team=team,
            by=None,
            name=f"Service {n + 1:04d}",
            description="" if n % 3 else f"Owned by {team.name}.",
            slack_channel=f"#bench-{n % SLACK_CHANNELS:03d}" if n % 10 == 0 else "",
        )
        catalog.service_set_policy(service=service, policy=policies[team.pk][0], by=None)
        made.append(service)
    return made


def _signals(
    organization: Any, team_rows: list[Any], service_rows: list[Any], rng: random.Random
) -> None:
    from processing.channels.services import receive_channel_create
    from processing.routing import services as routing
    from signals.heartbeats import services as heartbeats
    from signals.models import HeartbeatState
    from signals.webhooks.services import webhook_create

    channels = [
        receive_channel_create(organization=organization, by=None, name=f"Channel {c + 1:02d}")
        for c in range(CHANNELS)
    ]
    for w in range(WEBHOOKS):
        webhook_create(
            organization=organization,
            by=None,
            name=f"Webhook {w + 1:03d}",
            receive_channel=channels[w % CHANNELS] if w % 2 else None,
        )
    for r in range(ROUTING_RULES):
        team = team_rows[r % len(team_rows)]
        own = [s for s in service_rows if s.team_id == team.pk]
        rule = routing.routing_rule_create(
            team=team, by=None, name=f"Router {r + 1:02d}", default_service=own[0]
        )
        for k in range(ROUTES_PER_RULE):
            condition = {
                "operator": "and",
                "conditions": [
                    {
                        "type": "filter",
                        "source": "payload",
                        "path": "host",
                        "operation": "matches",
                        "value": f"host-{k}",
                    }
                ],
            }
            routing.route_create(
                rule=rule, by=None, service=own[k % len(own)], conditions=condition
            )
    interval = heartbeats.StateInput(type="interval", interval_seconds=300, timeout_seconds=60)
    cron = heartbeats.StateInput(
        type="cron", cron_expression="0 2 * * *", cron_timezone="Europe/Oslo", timeout_seconds=900
    )
    for n, service in enumerate(service_rows[::2]):
        heartbeat = heartbeats.heartbeat_create(service=service, by=None, name=f"job-{n + 1:04d}")
        heartbeats.state_create(heartbeat=heartbeat, by=None, environment="prod", data=cron)
        heartbeats.state_create(heartbeat=heartbeat, by=None, environment="staging", data=interval)
    # Muted: a `make run` on this database must not page 2,000 missed environments.
    HeartbeatState.objects.filter(organization=organization).update(muted=True)
    del rng


def _people_settings(organization: Any, owner: Any, people: list[Any], rng: random.Random) -> None:
    from escalations.notifications.models import Channel
    from escalations.notifications.rules import RuleInput, notification_rules_replace
    from incidents.models import Urgency
    from opsduty import services as core

    for person in {p.pk: p for p in [owner, *people]}.values():
        notification_rules_replace(
            user=person,
            urgency=Urgency.HIGH,
            rules=[RuleInput(0, Channel.SMS), RuleInput(5, Channel.VOICE)],
        )
        notification_rules_replace(
            user=person, urgency=Urgency.LOW, rules=[RuleInput(0, Channel.EMAIL)]
        )
    for n in range(API_TOKENS):
        user = owner if n % 4 == 0 else rng.choice(people)
        core.api_token_issue(user=user, name=f"script {n + 1}")
    for n in range(APPLICATIONS):
        core.application_create(
            by=owner,
            name=f"Integration {n + 1}",
            redirect_uris=f"https://app{n}.example.test/callback",
            client_type="confidential",
        )


def _integrations(organization: Any, service_rows: list[Any], rng: random.Random) -> None:
    from integrations.slack.models import SlackChannel, SlackWorkspace
    from integrations.twilio.models import CallDestination, TwilioAccount, TwilioNumber

    account = TwilioAccount.objects.create(
        organization=organization,
        account_sid="AC" + f"{organization.pk:032x}",
        auth_token="t" * 32,
        auth_token_hint="tttt",
        friendly_name="Bench",
    )
    for n in range(TWILIO_NUMBERS):
        number = TwilioNumber.objects.create(
            organization=organization,
            account=account,
            sid=f"PN{organization.pk:028x}{n:04x}",
            phone_number=f"+1555{organization.pk % 1000:03d}{n:04d}",
        )
        for digit in (1, 2, 3):
            CallDestination.objects.create(
                organization=organization,
                number=number,
                digit=digit,
                service=rng.choice(service_rows),
            )
    workspace = SlackWorkspace.objects.create(
        organization=organization,
        team_id=f"TBENCH{organization.pk:06d}",
        team_name="Bench",
        bot_token="xoxb-not-installed",  # noqa: S106 (bench/read_paths.py installs a fake's)
        default_channel_id="CBENCH000",
        default_channel_name="bench-000",
    )
    SlackChannel.objects.bulk_create(
        SlackChannel(workspace=workspace, channel_id=f"CBENCH{c:03d}", name=f"bench-{c:03d}")
        for c in range(SLACK_CHANNELS)
    )


# --- the volume, by COPY -----------------------------------------------------------------------


def _shapes_world(organization: Any) -> Any:
    """bench/analytics.py's World (people by team, policies, services, its 6 labels)."""
    from opsduty.models import Label

    world = shapes._world(organization)
    world.labels = list(
        Label.objects.filter(organization=organization, name__in=shapes.LABELS)
        .order_by("id")
        .values_list("id", flat=True)
    )
    return world


def _volume_load(
    organization: Any, incidents: int, timings: dict[str, float], log: Any
) -> dict[str, int]:
    from django.db import connection

    world = _shapes_world(organization)
    mark = time.monotonic()
    plans = shapes._plans(incidents, SEED, time.time(), len(world.services))
    timings["plan"] = time.monotonic() - mark
    loaded = shapes._load(world, plans)
    timings.update({f"copy_{k}": v for k, v in loaded["copy_seconds"].items()})
    counts = dict(loaded["rows"])
    log(f"incidents, log, runs, notifications, labels: {loaded['seconds']} s")
    rng = random.Random(SEED + 1)
    with connection.connection.cursor() as cursor:
        cursor.execute(
            "SELECT number, id FROM incidents_incident WHERE organization_id = %s",
            [organization.pk],
        )
        ids = dict(cursor.fetchall())
        webhooks = _webhook_ids(cursor, organization.pk)
        routing_keys = _routing_keys(cursor, organization.pk)
        events = [_events(rng, world, plan, ids[plan.number]) for plan in plans]
        mark = time.monotonic()
        counts["incident_events"] = shapes._copy(
            cursor, "incidents_incidentevent", EVENT_COLUMNS, _event_rows(organization, events)
        )
        counts["responders"] = shapes._copy(
            cursor,
            "incidents_incidentresponder",
            RESPONDER_COLUMNS,
            _responder_rows(organization, world, plans, ids),
        )
        counts["notes"] = shapes._copy(
            cursor,
            "incidents_incidentnote",
            NOTE_COLUMNS,
            _note_rows(organization, world, plans, ids, rng),
        )
        timings["copy_events_responders_notes"] = time.monotonic() - mark
        mark = time.monotonic()
        counts["raw_events"] = _raw_events(
            cursor, organization, events, webhooks, routing_keys, world
        )
        timings["copy_raw_events"] = time.monotonic() - mark
        mark = time.monotonic()
        counts["checkins"] = _checkins(cursor, organization.pk, rng)
        timings["copy_checkins"] = time.monotonic() - mark
    log(f"events, responders, notes, raw events, check-ins: {sum(timings.values()):.1f} s")
    return counts


@dataclass(slots=True)
class Alert:
    incident_id: int
    plan: Any
    at: float
    resolve: bool


def _events(rng: random.Random, world: Any, plan: Any, incident_id: int) -> list[Alert]:
    """The incident's events: the opening one, repeats while it lasted, and a resolving one
    when a monitoring tool resolved it."""
    end = plan.resolves[0][0] if plan.resolves else plan.created + 3600
    repeats = min(5, int(rng.expovariate(1.0)))
    alerts = [Alert(incident_id, plan, plan.created, False)]
    for k in range(repeats):
        at = plan.created + (end - plan.created) * (k + 1) / (repeats + 2)
        alerts.append(Alert(incident_id, plan, at, False))
    if plan.resolves and plan.resolves[0][1]:
        alerts.append(Alert(incident_id, plan, end, True))
    return alerts


EVENT_COLUMNS = (
    "organization_id",
    "incident_id",
    "summary",
    "description",
    "source_url",
    "dedup_id",
    "acknowledge",
    "resolve",
    "payload",
    "processing",
    "received_at",
    "created_at",
)
RESPONDER_COLUMNS = (
    "organization_id",
    "incident_id",
    "user_id",
    "status",
    "last_notified",
    "status_updated_at",
)
NOTE_COLUMNS = ("organization_id", "incident_id", "author_id", "text", "created_at")
REFERENCE_COLUMNS = (
    "organization_id",
    "public_id",
    "status",
    "reason",
    "incident_id",
    "created_at",
    "updated_at",
)
RAW_COLUMNS = (
    "organization_id",
    "webhook_id",
    "routing_key",
    "received_at",
    "headers",
    "body",
    "status",
    "attempts",
    "processed_at",
    "error",
    "result",
    "incident_id",
    "reference_id",
)


def _payload(alert: Alert) -> dict[str, Any]:
    return {
        "title": f"Alert on incident {alert.plan.number}",
        "dedup_id": f"bench-{alert.plan.number}",
        "host": f"host-{alert.plan.number % 10}",
        "severity": "critical" if alert.plan.high else "warning",
        "state": "resolved" if alert.resolve else "firing",
    }


def _event_rows(organization: Any, events: list[list[Alert]]) -> Any:
    processing = json.dumps({"receive_channel": "generic", "routing": "service"})
    for alerts in events:
        for alert in alerts:
            at = shapes._at(alert.at)
            yield (
                organization.pk,
                alert.incident_id,
                _payload(alert)["title"],
                "",
                "",
                f"bench-{alert.plan.number}",
                False,
                alert.resolve,
                json.dumps(_payload(alert)),
                processing,
                at,
                at,
            )


def _responder_rows(organization: Any, world: Any, plans: list[Any], ids: dict[int, int]) -> Any:
    for plan in plans:
        seen = set()
        for at, user_id, _, _ in shapes._pages(world, plan):
            if user_id in seen:
                continue
            seen.add(user_id)
            acked = plan.ack_at is not None
            yield (
                organization.pk,
                ids[plan.number],
                user_id,
                "active" if acked else "pending",
                shapes._at(at),
                shapes._at(plan.ack_at) if acked else None,
            )


def _note_rows(
    organization: Any, world: Any, plans: list[Any], ids: dict[int, int], rng: random.Random
) -> Any:
    for plan in plans:
        if rng.random() >= 0.1:
            continue
        team_id = world.services[plan.service][1]
        author = world.people[team_id][plan.acker][0]
        yield (
            organization.pk,
            ids[plan.number],
            author,
            "Looked into it: " + rng.choice(["restarted the pod", "rolled back", "scaled up"]),
            shapes._at(plan.created + 600),
        )


def _webhook_ids(cursor: Any, organization_id: int) -> list[int]:
    cursor.execute(
        "SELECT id FROM signals_webhook WHERE organization_id = %s ORDER BY id", [organization_id]
    )
    return [row[0] for row in cursor.fetchall()]


def _routing_keys(cursor: Any, organization_id: int) -> dict[int, str]:
    cursor.execute(
        "SELECT id, routing_key FROM escalations_service WHERE organization_id = %s",
        [organization_id],
    )
    return dict(cursor.fetchall())


def _raw_events(
    cursor: Any,
    organization: Any,
    events: list[list[Alert]],
    webhooks: list[int],
    routing_keys: dict[int, str],
    world: Any,
) -> int:
    """One raw event, with its reference, per incident event (one in 200 failed)."""
    flat = [alert for alerts in events for alert in alerts]
    flat.sort(key=lambda a: a.at)  # ids in the order they arrived

    def references() -> Any:
        for alert in flat:
            at = shapes._at(alert.at)
            failed = alert.plan.number % 200 == 0 and alert.resolve
            yield (
                organization.pk,
                uuid.uuid4(),
                "failed" if failed else "completed",
                "Template error." if failed else "",
                None if failed else alert.incident_id,
                at,
                at,
            )

    shapes._copy(cursor, "incidents_incidentreference", REFERENCE_COLUMNS, references())
    cursor.execute(
        "SELECT id FROM incidents_incidentreference WHERE organization_id = %s ORDER BY id",
        [organization.pk],
    )
    reference_ids = [row[0] for row in cursor.fetchall()]
    headers = json.dumps({"content-type": "application/json", "user-agent": "alertmanager/0.27"})

    def raws() -> Any:
        for alert, reference_id in zip(flat, reference_ids, strict=True):
            at = shapes._at(alert.at)
            failed = alert.plan.number % 200 == 0 and alert.resolve
            service_id = world.services[alert.plan.service][0]
            yield (
                organization.pk,
                webhooks[alert.plan.service % len(webhooks)],
                routing_keys[service_id],
                at,
                headers,
                json.dumps(_payload(alert)),
                "failed" if failed else "processed",
                1,
                at + timedelta(milliseconds=40),
                "Template error: 'labels' is undefined" if failed else "",
                "{}",
                None if failed else alert.incident_id,
                reference_id,
            )

    return shapes._copy(cursor, "signals_rawevent", RAW_COLUMNS, raws())


def _checkins(cursor: Any, organization_id: int, rng: random.Random) -> int:
    cursor.execute(
        "SELECT id FROM signals_heartbeatstate WHERE organization_id = %s", [organization_id]
    )
    states = [row[0] for row in cursor.fetchall()]
    now = datetime.now(UTC)

    def rows() -> Any:
        for state in states:
            for k in range(CHECKINS_PER_STATE, 0, -1):
                at = now - timedelta(minutes=5 * k, seconds=rng.random() * 10)
                yield (organization_id, state, at, "10.0.0.7", "curl/8.5")

    columns = ("organization_id", "state_id", "at", "source_ip", "user_agent")
    return shapes._copy(cursor, "signals_heartbeatcheckin", columns, rows())


def _analytics(organization: Any) -> None:
    from analytics.services import analytics_rebuild

    analytics_rebuild(organizations=[organization])


def _vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in (
            "incidents_incident",
            "incidents_incident_labels",
            "incidents_incidentevent",
            "incidents_incidentlogentry",
            "incidents_incidentresponder",
            "incidents_incidentnote",
            "incidents_incidentreference",
            "signals_rawevent",
            "signals_heartbeatcheckin",
            "escalations_notification",
            "escalations_escalationrun",
            *shapes._analytics_tables(),
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")
