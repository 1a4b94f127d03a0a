"""An organization that grows: tests/test_read_paths_queries.py counts the queries of every
list page and API list before and after `grow` adds more rows of every kind they show.

Each generation adds, two of each: teams with new people (also added to the first team),
services on new policies (and one more on the first team and the first policy), policies
whose steps name people, a team and a schedule, schedules with a running layer and
overrides (one more override on the first schedule too), incidents on the new services and
on the first service (labelled, with responders, repeated events, notes, one acknowledged
by a person), responders of the first incident, heartbeats with environments and check-ins
(one more environment on the first heartbeat), receive channels, webhooks with raw events
(and raw events of the first webhook), routing rules with routes (one more route on the first
rule), a service without a policy (a diagnostics finding), API tokens, OAuth applications,
Twilio numbers with destinations and Slack channels named by services, status pages with
a group of components and a notice with updates (one more group, component, notice and update
on the first page and its first notice). Everything goes
through the services, as the product writes it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Any

from django.db.models import F
from django.utils import timezone
from oauth2_provider.models import Application

from escalations.catalog.services import service_set_policy
from escalations.models import EscalationPolicy, Schedule, ScheduleLayer, StepKind
from escalations.notifications.models import Channel
from escalations.notifications.rules import RuleInput, notification_rules_replace
from escalations.policies.services import policy_create, step_add
from escalations.schedules import services as schedules
from incidents import services as incidents
from incidents.models import Incident, IncidentResponder, ResponderStatus, Urgency
from integrations.slack.fake import FakeSlack
from integrations.slack.models import SlackWorkspace
from integrations.slack.setup.services import directory_refresh
from integrations.twilio.models import CallDestination, TwilioAccount, TwilioNumber
from opsduty import services as core
from opsduty.models import Organization, Role, Service, Team, User
from processing.models import RoutingRule
from processing.routing.services import route_create, routing_rule_create
from signals.heartbeats import services as heartbeats
from signals.models import Heartbeat, RawEventStatus, Webhook
from statuspages import services as statuspages
from tests import factories
from tests.heartbeat_factories import make_heartbeat, make_state

SLACK_TEAM = "T0READS"
_numbers = itertools.count(1)


@dataclass
class World:
    """The organization, its owner, the first object of each kind (whose own lists grow too)
    and the newest row of each kind (what the pages must show after growing)."""

    organization: Organization
    owner: User
    fake_slack: FakeSlack
    first: dict[str, Any] = field(default_factory=dict)
    newest: dict[str, str] = field(default_factory=dict)
    generation: int = 0


def world_create(fake_slack: FakeSlack) -> World:
    """The organization with its owner, a Twilio account and a Slack workspace; `grow` adds
    the rest."""
    organization = factories.make_organization(domain="reads", name="Reads")
    owner = factories.make_user(
        organization=organization, email="owner@reads.example", role=Role.OWNER
    )
    TwilioAccount.objects.create(
        organization=organization,
        account_sid="AC" + "1" * 32,
        auth_token="t" * 32,
        auth_token_hint="tttt",
    )
    fake_slack.add_team(SLACK_TEAM, "Reads")
    SlackWorkspace.objects.create(
        organization=organization,
        team_id=SLACK_TEAM,
        team_name="Reads",
        bot_token=fake_slack.install(SLACK_TEAM),
    )
    return World(organization=organization, owner=owner, fake_slack=fake_slack)


def grow(world: World, generations: int = 1) -> None:
    """Add `generations` generations of rows (two of each kind per generation)."""
    for _ in range(generations):
        world.generation += 1
        for k in range(2):
            _unit(world, f"g{world.generation}-{k}")


def _unit(world: World, tag: str) -> None:
    people = _people(world, tag)
    team = _team(world, tag, people)
    schedule = _schedule(world, tag, team, people)
    policy = _policy(world, tag, team, people, schedule)
    service = _service(world, tag, team, policy)
    world.first.setdefault("service", service)
    _incidents(world, tag, service, people)
    _heartbeat(world, tag, service)
    _webhook(world, tag, service)
    _routing_rule(world, tag, team, service)
    _access(world, tag, people)
    _integrations(world, tag, service)
    _status_page(world, tag, team, service)
    unpaged = factories.make_service(team=team, name=f"Unpaged {tag}")
    world.newest["unpaged_service"] = unpaged.name


def _people(world: World, tag: str) -> list[User]:
    people = [
        factories.make_user(
            organization=world.organization,
            email=f"{tag}-{n}@reads.example",
            first_name=f"Person {tag}-{n}",
            last_name="Reads",
            role=Role.MEMBER,
        )
        for n in range(2)
    ]
    notification_rules_replace(
        user=people[0], urgency=Urgency.HIGH, rules=[RuleInput(0, Channel.EMAIL)]
    )
    world.newest["person_email"] = people[-1].email
    world.newest["person_name"] = people[-1].get_full_name()
    return people


def _team(world: World, tag: str, people: list[User]) -> Team:
    team = core.team_create(organization=world.organization, name=f"Team {tag}", by=world.owner)
    first = world.first.setdefault("team", team)
    for person in people:
        core.team_add_member(team=team, user=person, by=None)
        core.team_add_member(team=first, user=person, by=None)
    world.newest["team"] = team.name
    return team


def _schedule(world: World, tag: str, team: Team, people: list[User]) -> Schedule:
    now = timezone.now()
    schedule = schedules.schedule_create(team=team, by=None, name=f"Schedule {tag}", now=now)
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
            handoff_time=time(9, 0),
            shift_minutes=7 * 24 * 60,
        ),
    )
    # Layers must start in the future; this one has been running for a few weeks.
    ScheduleLayer.objects.filter(schedule=schedule).update(
        start_date=start - timedelta(days=28), effective_from=now - timedelta(days=28)
    )
    Schedule.objects.filter(pk=schedule.pk).update(version=F("version") + 1)
    schedule.refresh_from_db()
    first = world.first.setdefault("schedule", schedule)
    for target in {schedule.pk: schedule, first.pk: first}.values():
        begin = now + timedelta(days=2, hours=3 * next(_numbers))
        schedules.override_create(
            schedule=target, by=None, user=people[-1], start=begin, end=begin + timedelta(hours=2)
        )
    world.newest["schedule"] = schedule.name
    return schedule


def _policy(
    world: World, tag: str, team: Team, people: list[User], schedule: Schedule
) -> EscalationPolicy:
    policy = policy_create(team=team, by=None, name=f"Policy {tag}")
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=people)
    step_add(policy=policy, by=None, kind=StepKind.WAIT, wait_minutes=5)
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, teams=[team])
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, schedule_id=schedule.pk)
    world.first.setdefault("policy", policy)
    world.newest["policy"] = policy.name
    return policy


def _service(world: World, tag: str, team: Team, policy: EscalationPolicy) -> Service:
    service = factories.make_service(
        team=team, name=f"Service {tag}", slack_channel=f"#reads-{tag}"
    )
    service_set_policy(service=service, policy=policy, by=None)
    # One more service of the first team, on the first policy: the policy page lists it.
    first_team, first_policy = world.first["team"], world.first["policy"]
    also = factories.make_service(team=first_team, name=f"Service {tag} of the first team")
    service_set_policy(service=also, policy=first_policy, by=None)
    world.newest["service"] = service.name
    world.newest["first_policy_service"] = also.name
    return service


def _incidents(world: World, tag: str, service: Service, people: list[User]) -> None:
    first_service = world.first.get("service", service)
    for target in {service.pk: service, first_service.pk: first_service}.values():
        for n in range(2):
            dedup_id = f"{tag}-{target.pk}-{n}"
            incident = factories.make_incident(
                service=target, summary=f"Incident {tag} {target.pk}-{n}", dedup_id=dedup_id
            )
            # A repeated event joins it (one more alert).
            factories.make_incident(service=target, summary=incident.summary, dedup_id=dedup_id)
            incidents.incident_add_label(incident=incident, by=None, name=f"label-{tag}")
            incidents.incident_add_label(incident=incident, by=None, name="shared")
            world.newest["label"] = f"label-{tag}"
            incidents.incident_add_note(incident=incident, by=people[0], text=f"Note {tag}")
            for person in people:  # the policy's first step may have paged them already
                _responder(incident, person, ResponderStatus.PENDING)
            if n == 0:
                incidents.incident_acknowledge(incident=incident, by=people[0])
            world.newest["incident"] = incident.summary
            if target.pk == first_service.pk:
                world.newest["first_service_incident"] = incident.summary
    first: Incident = world.first.setdefault(
        "incident", Incident.objects.filter(service=service)[0]
    )
    for person in people:
        _responder(first, person, ResponderStatus.ACTIVE)
    world.newest["first_incident_responder"] = people[-1].email


def _responder(incident: Incident, person: User, status: str) -> None:
    if not IncidentResponder.objects.filter(incident=incident, user=person).exists():
        factories.make_responder(incident=incident, user=person, status=status)


def _heartbeat(world: World, tag: str, service: Service) -> None:
    heartbeat = make_heartbeat(service=service, name=f"job-{tag}")
    first: Heartbeat = world.first.setdefault("heartbeat", heartbeat)
    for state in (
        make_state(heartbeat=heartbeat, environment="prod"),
        make_state(heartbeat=heartbeat, environment="staging", type="cron"),
        make_state(heartbeat=first, environment=f"env-{tag}"),
    ):
        heartbeats.checkin(state=state, source_ip="10.0.0.1", user_agent="curl/8")
        heartbeats.checkin(state=state, source_ip="10.0.0.2", user_agent="curl/8")
    world.newest["heartbeat"] = heartbeat.name
    world.newest["first_heartbeat_environment"] = f"env-{tag}"


def _webhook(world: World, tag: str, service: Service) -> None:
    channel = factories.make_receive_channel(organization=world.organization, name=f"Chan {tag}")
    webhook = factories.make_webhook(
        organization=world.organization, name=f"Webhook {tag}", receive_channel=channel
    )
    first: Webhook = world.first.setdefault("webhook", webhook)
    incident = Incident.objects.filter(service=service).first()
    for target in (webhook, first):
        for status in (RawEventStatus.PROCESSED, RawEventStatus.FAILED):
            raw = factories.make_raw_event(
                organization=world.organization,
                webhook=target,
                routing_key=service.routing_key,
                status=status,
                incident=incident if status == RawEventStatus.PROCESSED else None,
                error="" if status == RawEventStatus.PROCESSED else "Template error.",
            )
    world.newest["channel"] = channel.name
    world.newest["webhook"] = webhook.name
    world.newest["raw_event"] = f"/raw-events/{raw.pk}/"


def _routing_rule(world: World, tag: str, team: Team, service: Service) -> None:
    rule = routing_rule_create(team=team, by=None, name=f"Rule {tag}", default_service=service)
    first: RoutingRule = world.first.setdefault("routing_rule", rule)
    route_create(rule=rule, by=None, service=service)
    route_create(rule=first, by=None, service=service, name=f"Route {tag}")
    world.newest["routing_rule"] = rule.name
    world.newest["first_rule_route"] = f"Route {tag}"


def _access(world: World, tag: str, people: list[User]) -> None:
    core.api_token_issue(user=world.owner, name=f"Owner token {tag}")
    core.api_token_issue(user=people[0], name=f"Token {tag}")
    application, _ = core.application_create(
        by=world.owner,
        name=f"App {tag}",
        redirect_uris="https://app.example.test/callback",
        client_type=Application.CLIENT_CONFIDENTIAL,
    )
    world.newest["owner_token"] = f"Owner token {tag}"
    world.newest["token"] = f"Token {tag}"
    world.newest["application"] = application.name


def _integrations(world: World, tag: str, service: Service) -> None:
    account = TwilioAccount.objects.get(organization=world.organization)
    serial = next(_numbers)
    number = TwilioNumber.objects.create(
        organization=world.organization,
        account=account,
        sid=f"PN{serial:032d}",
        phone_number=f"+1555020{serial:04d}",
    )
    for digit in (1, 2):
        CallDestination.objects.create(
            organization=world.organization, number=number, digit=digit, service=service
        )
    world.newest["number"] = number.phone_number
    world.fake_slack.add_channel(SLACK_TEAM, f"C0{tag.upper().replace('-', '')}", f"reads-{tag}")
    workspace = SlackWorkspace.objects.get(organization=world.organization)
    assert directory_refresh(workspace=workspace, force=True) is None


def _status_page(world: World, tag: str, team: Team, service: Service) -> None:
    page = statuspages.status_page_create(
        organization=world.organization, team=team, by=None, name=f"Page {tag}", slug=f"p-{tag}"
    )
    world.newest["status_page"] = page.name
    first = world.first.setdefault("status_page", page)
    for target in (page, first):
        group = statuspages.component_group_create(page=target, by=None, name=f"Group {tag}")
        for n in (1, 2):
            statuspages.component_create(
                group=group, by=None, name=f"Component {tag} {n}", services=[service]
            )
        notice = statuspages.notice_declare(
            page=target,
            by=None,
            title=f"Notice {tag}",
            derive_affected_components=True,
            incident=None,
            component_ids=list(group.components.values_list("pk", flat=True)),
            sync_component_status=True,
        )
        statuspages.notice_update_post(notice=notice, by=None, body=f"Update {tag}")
    world.newest["first_page_notice"] = f"Notice {tag}"
    # The first page's newest rows (the API's lists of it).
    world.newest["component_group"] = f"Group {tag}"
    world.newest["component"] = f"Component {tag} 2"
    world.newest["notice"] = f"Notice {tag}"
    first_notice = world.first.setdefault("notice", notice)
    statuspages.notice_update_post(notice=first_notice, by=None, body=f"More of {tag}")
    world.newest["first_notice_update"] = f"More of {tag}"
