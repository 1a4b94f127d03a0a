"""`manage.py seed_demo`: build the demo organization of ../shared/DEMO.md, idempotently."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from escalations.catalog import services as escalation_services
from escalations.models import (
    EscalationPolicy,
    EscalationStep,
    Frequency,
    Rotation,
    Schedule,
    StepKind,
)
from escalations.policies import services as policy_services
from escalations.schedules import services as schedule_services
from integrations.twilio.devphone import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, DEV_NUMBER
from integrations.twilio.models import CallDestination, TwilioAccount, TwilioNumber
from opsduty import services
from opsduty.crypto import secret_digest, secret_hint
from opsduty.management.commands._demo_history import DEMO_HISTORY_DAYS, demo_history_write
from opsduty.models import Label, Organization, Role, Service, ServiceType, Team, User
from processing.models import RoutingRule
from processing.routing import services as routing_services
from signals.heartbeats import services as heartbeats
from signals.models import BuiltinTemplate, Heartbeat, Webhook
from signals.webhooks import services as webhook_services
from statuspages import services as statuspage_services
from statuspages.models import AccessMode, ComponentGroup, StatusPage

# Status page "Demo status" (slug `demo`, team Platform, public): group -> (component, service).
DEMO_STATUS_PAGE = ("Demo status", "demo", "Platform")
DEMO_STATUS_GROUPS = [("Platform", "API", "demo-api"), ("Payments", "Checkout", "demo-checkout")]

DEMO_DOMAIN = "demo"
DEMO_PASSWORD = "opsduty-demo"  # noqa: S105 - published demo login, only in this seed

DEMO_USERS = [
    # email, role, first name, last name, phone (555-01xx numbers are reserved for fiction)
    ("owner@demo.example", Role.OWNER, "Olivia", "Owner", "+12125550100"),
    ("alice@demo.example", Role.MEMBER, "Alice", "Andersen", "+12125550101"),
    ("bob@demo.example", Role.MEMBER, "Bob", "Berg", "+12125550102"),
    ("carol@demo.example", Role.STAKEHOLDER, "Carol", "Christensen", "+12125550103"),
]

DEMO_TEAMS = {
    "Platform": ["owner@demo.example", "alice@demo.example", "bob@demo.example"],
    "Payments": ["alice@demo.example", "carol@demo.example"],
}

# name, group, colour, team (None: an organization label), the demo services that carry it
DEMO_LABELS = [
    ("prod", "Environment", "#dc2626", None, ["demo-api", "demo-checkout"]),
    ("staging", "Environment", "#2563eb", None, []),
    ("card-payments", "Component", "#7c3aed", "Payments", ["demo-checkout"]),
]

DEMO_SERVICES = [
    # name, owning team, type, fixed routing key (only the demo has guessable keys)
    ("API", "Platform", ServiceType.TECHNICAL, "demo-api"),
    ("Checkout", "Payments", ServiceType.BUSINESS, "demo-checkout"),
]

# The Slack channel of each demo service (docs/slack.md; the development Slack has them).
DEMO_SLACK_CHANNELS = {"demo-api": "#api-alerts", "demo-checkout": "#checkout"}

DEMO_WEBHOOKS = [
    # name, built-in receive-channel template, fixed key (only the demo has guessable keys)
    ("Alertmanager", BuiltinTemplate.ALERTMANAGER, "00000000-0000-4000-8000-00000000a1e7"),
    ("Generic", BuiltinTemplate.GENERIC, "00000000-0000-4000-8000-000000000e0e"),
    ("Sentry", BuiltinTemplate.SENTRY, "00000000-0000-4000-8000-000000005e01"),
    ("Checkly", BuiltinTemplate.CHECKLY, "00000000-0000-4000-8000-00000000c4e1"),
    ("Dead Man's Snitch", BuiltinTemplate.DEADMANSSNITCH, "00000000-0000-4000-8000-00000000d005"),
]

DEMO_ROUTER = "Demo router"
DEMO_ROUTER_KEY = "demo-router"
DEMO_ROUTER_TEAM = "Platform"
DEMO_ROUTER_DEFAULT = "demo-api"
# rule 1: payload.commonLabels.team matches "payments" -> Checkout
DEMO_ROUTES = [
    (
        "demo-checkout",
        {
            "operator": "and",
            "conditions": [
                {
                    "type": "filter",
                    "source": "payload",
                    "path": "commonLabels.team",
                    "operation": "matches",
                    "value": "payments",
                }
            ],
        },
    ),
]


# Schedule "Platform primary": one weekly rolling layer alice -> bob, handoff Monday 09:00
# Europe/Oslo, starting at the next Monday handoff.
DEMO_SCHEDULE = "Platform primary"
DEMO_HEARTBEAT, DEMO_HEARTBEAT_SERVICE = "nightly-backup", "demo-api"
DEMO_HEARTBEAT_ENVIRONMENTS = {
    "prod": heartbeats.StateInput(
        type="cron", cron_expression="0 2 * * *", cron_timezone="Europe/Oslo", timeout_seconds=1800
    ),
    "staging": heartbeats.StateInput(type="interval", interval_seconds=3600, timeout_seconds=300),
}
DEMO_SCHEDULE_TEAM = "Platform"
DEMO_SCHEDULE_ZONE = "Europe/Oslo"
DEMO_ROTATION = ["alice@demo.example", "bob@demo.example"]
DEMO_HANDOFF_WEEKDAY, DEMO_HANDOFF_TIME = 0, time(9, 0)  # Monday 09:00
# Until the rotation starts, an override puts the person before the first one (bob) on call,
# so that "Platform default" pages someone from the moment the demo is seeded.
DEMO_BRIDGE = "bob@demo.example"

# name, team, steps (kind, settings with user emails / team / schedule names), services using it
DEMO_POLICIES: list[tuple[str, str, list[tuple[str, dict[str, Any]]], list[str]]] = [
    (
        "Platform default",
        "Platform",
        [
            (StepKind.NOTIFY, {"schedule": DEMO_SCHEDULE}),
            (StepKind.WAIT, {"wait_minutes": 5}),
            (StepKind.NOTIFY, {"teams": ["Platform"]}),
            (StepKind.REPEAT, {"repeat_times": 1}),
        ],
        ["demo-api"],
    ),
    (
        "Payments default",
        "Payments",
        [
            (StepKind.NOTIFY, {"users": ["alice@demo.example"]}),
            (StepKind.WAIT, {"wait_minutes": 10}),
            (StepKind.NOTIFY, {"users": ["owner@demo.example"]}),
        ],
        ["demo-checkout"],
    ),
]


class Command(BaseCommand):
    help = "Create (or bring up to date) the demo organization 'demo' and print its login."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-history",
            action="store_true",
            help=f"without the {DEMO_HISTORY_DAYS} days of past incidents (for the analytics)",
        )

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(domain=DEMO_DOMAIN).first()
        if organization is None:
            organization = services.organization_create(name="Demo Inc.", domain=DEMO_DOMAIN)
        users = {spec[0]: self._user(organization, *spec) for spec in DEMO_USERS}
        for team_name, emails in DEMO_TEAMS.items():
            team = Team.objects.for_org(organization).filter(name=team_name).first()
            if team is None:
                team = Team.objects.create(organization=organization, name=team_name)
            for email in emails:
                services.team_add_member(team=team, user=users[email], by=None)
        self._services(organization)
        self._labels(organization)
        self._webhooks(organization)
        self._routing_rule(organization)
        self._schedule(organization)
        self._policies(organization)
        self._heartbeat(organization)
        self._telephony(organization)
        self._slack(organization)
        self._status_page(organization)
        if not options["no_history"]:
            self._history(organization)
        self.stdout.write(
            "Demo organization ready. Sign in with organization 'demo', "
            f"email owner@demo.example (or alice@, bob@, carol@demo.example), "
            f"password '{DEMO_PASSWORD}'."
        )

    def _history(self, organization: Organization) -> None:
        """The last 90 days of incidents, once (the analytics pages have figures at once)."""
        written = demo_history_write(organization=organization, now=timezone.now())
        if written:
            self.stdout.write(
                f"Demo history: {written} incidents over the last {DEMO_HISTORY_DAYS} days."
            )

    def _slack(self, organization: Organization) -> None:
        """Each demo service names its Slack channel (the development Slack of `make run` has
        #api-alerts and #checkout); connecting a workspace is the owner's step: Settings,
        Slack, Add to Slack (docs/slack.md)."""
        for routing_key, channel in DEMO_SLACK_CHANNELS.items():
            Service.objects.filter(
                organization=organization, routing_key=routing_key, slack_channel=""
            ).update(slack_channel=channel)
        if settings.OPSDUTY_DEV_SLACK:
            self.stdout.write(
                "Slack: sign in as the owner, open Settings, Slack and press Add to Slack: the "
                "development Slack (the demo workspace) gets the incident messages."
            )

    def _status_page(self, organization: Organization) -> None:
        """DEMO.md's status page, once; groups or components already there are kept."""
        name, slug, team_name = DEMO_STATUS_PAGE
        page = StatusPage.objects.filter(slug=slug).first()
        if page is None:
            page = statuspage_services.status_page_create(
                organization=organization,
                team=Team.objects.for_org(organization).get(name=team_name),
                by=None,
                name=name,
                slug=slug,
                access_mode=AccessMode.PUBLIC,
            )
        if page.organization_id != organization.id:
            return
        for group_name, component_name, routing_key in DEMO_STATUS_GROUPS:
            if ComponentGroup.objects.filter(status_page=page, name=group_name).exists():
                continue
            group = statuspage_services.component_group_create(page=page, by=None, name=group_name)
            statuspage_services.component_create(
                group=group,
                by=None,
                name=component_name,
                services=Service.objects.for_org(organization).filter(routing_key=routing_key),
            )

    def _services(self, organization: Organization) -> None:
        for name, team_name, service_type, routing_key in DEMO_SERVICES:
            existing = Service.objects.filter(routing_key=routing_key).first()
            if existing is not None:
                continue
            team = Team.objects.for_org(organization).get(name=team_name)
            escalation_services.service_create(
                team=team, by=None, name=name, service_type=service_type, routing_key=routing_key
            )

    def _labels(self, organization: Organization) -> None:
        """DEMO.md's labels; one already there (any case) is kept as it is."""
        for name, group, color, team_name, routing_keys in DEMO_LABELS:
            if Label.objects.filter(organization=organization, name__iexact=name).exists():
                continue
            team = Team.objects.for_org(organization).get(name=team_name) if team_name else None
            label = Label.objects.create(
                organization=organization, name=name, group=group, color=color, team=team
            )
            label.services.add(
                *Service.objects.for_org(organization).filter(routing_key__in=routing_keys)
            )

    def _webhooks(self, organization: Organization) -> None:
        for name, template, key in DEMO_WEBHOOKS:
            if Webhook.objects.filter(key_hash=secret_digest(key)).exists():
                continue
            webhook = webhook_services.webhook_create(
                organization=organization, by=None, name=name, builtin_template=template
            )
            # The service gives every webhook a random key; the demo's are fixed (DEMO.md).
            webhook.key = key
            webhook.save(update_fields=["key", "key_hash"])

    def _routing_rule(self, organization: Organization) -> None:
        if RoutingRule.objects.filter(routing_key=DEMO_ROUTER_KEY).exists():
            return
        team = Team.objects.for_org(organization).get(name=DEMO_ROUTER_TEAM)
        default = Service.objects.get(organization=organization, routing_key=DEMO_ROUTER_DEFAULT)
        rule = routing_services.routing_rule_create(
            team=team, by=None, name=DEMO_ROUTER, default_service=default
        )
        # Like the webhook keys, the demo's routing key is fixed rather than random.
        rule.routing_key = DEMO_ROUTER_KEY
        rule.save(update_fields=["routing_key"])
        for routing_key, conditions in DEMO_ROUTES:
            routing_services.route_create(
                rule=rule,
                by=None,
                service=Service.objects.get(organization=organization, routing_key=routing_key),
                conditions=conditions,
            )

    def _policies(self, organization: Organization) -> None:
        for name, team_name, steps, routing_keys in DEMO_POLICIES:
            policy = EscalationPolicy.objects.for_org(organization).filter(name=name).first()
            if policy is None:
                team = Team.objects.for_org(organization).get(name=team_name)
                policy = policy_services.policy_create(team=team, by=None, name=name)
                for kind, settings in steps:
                    fields = dict(settings)
                    if "users" in fields:
                        fields["users"] = [
                            User.objects.get(organization=organization, email=email)
                            for email in fields["users"]
                        ]
                    if "teams" in fields:
                        fields["teams"] = list(
                            Team.objects.for_org(organization).filter(name__in=fields["teams"])
                        )
                    if "schedule" in fields:
                        fields["schedule_id"] = (
                            Schedule.objects.for_org(organization)
                            .get(name=fields.pop("schedule"))
                            .pk
                        )
                    policy_services.step_add(policy=policy, by=None, kind=kind, **fields)
            elif name == "Platform default":
                self._platform_step_to_schedule(organization, policy)
            for routing_key in routing_keys:
                service = Service.objects.get(organization=organization, routing_key=routing_key)
                if service.escalation_policy_id is None:
                    escalation_services.service_set_policy(service=service, policy=policy, by=None)

    @staticmethod
    def _next_handoff(now: datetime) -> datetime:
        """The first Monday 09:00 in Oslo after `now` (a layer must start in the future)."""
        local = now.astimezone(zoneinfo.ZoneInfo(DEMO_SCHEDULE_ZONE))
        day = local.date() + timedelta(days=(DEMO_HANDOFF_WEEKDAY - local.weekday()) % 7)
        first = schedule_services.localize(
            datetime.combine(day, DEMO_HANDOFF_TIME), DEMO_SCHEDULE_ZONE
        )
        if first <= now:
            first = schedule_services.localize(
                datetime.combine(day + timedelta(days=7), DEMO_HANDOFF_TIME), DEMO_SCHEDULE_ZONE
            )
        return first

    def _schedule(self, organization: Organization) -> None:
        """DEMO.md's schedule, created once; a re-run leaves it (and its history) alone."""
        if Schedule.objects.for_org(organization).filter(name=DEMO_SCHEDULE).exists():
            return
        team = Team.objects.for_org(organization).get(name=DEMO_SCHEDULE_TEAM)
        # One instant for the schedule and bob's override: created a moment before the
        # override started, the schedule showed that moment as a gap (nobody on call).
        now = timezone.now()
        schedule = schedule_services.schedule_create(
            team=team, by=None, name=DEMO_SCHEDULE, timezone_name=DEMO_SCHEDULE_ZONE, now=now
        )
        users = {u.email: u for u in User.objects.for_org(organization)}
        first = self._next_handoff(now)
        local_first = first.astimezone(zoneinfo.ZoneInfo(DEMO_SCHEDULE_ZONE))
        schedule_services.layer_create(
            schedule=schedule,
            by=None,
            data=schedule_services.LayerInput(
                name="Weekly",
                rotation=Rotation.ROLLING,
                groups=[[users[email]] for email in DEMO_ROTATION],
                frequency=Frequency.WEEKLY,
                start_date=local_first.date(),
                handoff_time=DEMO_HANDOFF_TIME,
                shift_minutes=7 * 24 * 60,
            ),
        )
        schedule_services.override_create(
            schedule=schedule, by=None, user=users[DEMO_BRIDGE], start=now, end=first, now=now
        )

    def _heartbeat(self, organization: Organization) -> None:
        """DEMO.md's heartbeat on API; missing environments are added, existing ones kept."""
        service = Service.objects.for_org(organization).get(routing_key=DEMO_HEARTBEAT_SERVICE)
        heartbeat = Heartbeat.objects.filter(service=service, name=DEMO_HEARTBEAT).first()
        if heartbeat is None:
            heartbeat = heartbeats.heartbeat_create(
                service=service,
                by=None,
                name=DEMO_HEARTBEAT,
                description="The nightly database backup checks in when it has finished.",
            )
        existing = set(heartbeat.states.values_list("environment", flat=True))
        for environment, data in DEMO_HEARTBEAT_ENVIRONMENTS.items():
            if environment not in existing:
                heartbeats.state_create(
                    heartbeat=heartbeat, by=None, environment=environment, data=data
                )

    def _platform_step_to_schedule(
        self, organization: Organization, policy: EscalationPolicy
    ) -> None:
        """Bring a demo seeded before schedules existed up to date: its step 1 notified team
        Platform; DEMO.md's notifies the schedule. Any other step 1 (edited by hand) stays."""
        step = (
            EscalationStep.objects.filter(policy=policy)
            .prefetch_related("users", "teams")
            .order_by("position", "id")
            .first()
        )
        if (
            step is None
            or step.kind != StepKind.NOTIFY
            or step.schedule_id is not None
            or list(step.users.all())
            or [team.name for team in step.teams.all()] != [DEMO_SCHEDULE_TEAM]
        ):
            return
        schedule = Schedule.objects.for_org(organization).get(name=DEMO_SCHEDULE)
        policy_services.step_update(
            step=step, by=None, kind=StepKind.NOTIFY, schedule_id=schedule.pk, channel=step.channel
        )

    def _telephony(self, organization: Organization) -> None:
        """The demo people's phones are verified; with the development phone (make run: a
        fake Twilio at OPSDUTY_TWILIO_API_URL) the organization has its Twilio account and one
        number whose incoming calls offer 1: API, 2: Checkout."""
        User.objects.for_org(organization).filter(phone_verified_at__isnull=True).exclude(
            phone_number=""
        ).update(phone_verified_at=timezone.now())
        if not settings.OPSDUTY_TWILIO_API_URL:
            return
        account = TwilioAccount.objects.filter(organization=organization).first()
        if account is None:
            account = TwilioAccount.objects.create(
                organization=organization,
                account_sid=DEV_ACCOUNT_SID,
                auth_token=DEV_AUTH_TOKEN,
                auth_token_hint=secret_hint(DEV_AUTH_TOKEN),
                friendly_name="Development phone",
            )
        if account.account_sid != DEV_ACCOUNT_SID:
            return  # the demo was pointed at another account: leave it alone
        number, _ = TwilioNumber.objects.get_or_create(
            phone_number=DEV_NUMBER,
            defaults={
                "organization": organization,
                "account": account,
                "sid": "PN" + "de" * 16,
                "friendly_name": "Demo on-call line",
            },
        )
        if number.organization_id != organization.pk:
            return
        for digit, routing_key in ((1, "demo-api"), (2, "demo-checkout")):
            service = Service.objects.for_org(organization).get(routing_key=routing_key)
            CallDestination.objects.get_or_create(
                organization=organization,
                number=number,
                digit=digit,
                defaults={"service": service},
            )

    def _user(
        self, organization: Organization, email: str, role: str, first: str, last: str, phone: str
    ) -> User:
        user = User.objects.for_org(organization).filter(email=email).first()
        if user is None:
            return services.user_create(
                organization=organization,
                email=email,
                password=DEMO_PASSWORD,
                role=role,
                first_name=first,
                last_name=last,
                phone_number=phone,
            )
        # Re-running repairs the demo (role, names, phone) without touching a changed password.
        User.objects.filter(pk=user.pk).update(
            role=role, first_name=first, last_name=last, phone_number=phone
        )
        user.refresh_from_db()
        return user
