"""The seeded demo organization for the page-wide tests (crawl, axe, phone layout), with
incidents in every state, and the extreme values every page must survive.

`seed_demo_with_incidents()` runs `manage.py seed_demo` (DEMO.md) and adds what a newcomer
would soon have: incidents (triggered, acknowledged, silenced, resolved, attached), notes,
labels and raw events. `store_extreme_values()` then adds values at the edges: first through
the services (the longest names they take, a 5,000-character description with a stack trace,
unicode, an override and a maintenance window to 2099-12-31, a layer from 1970-01-01), then
rows written straight to the database past every bound (years 1 and 9999) in schedules whose
zones push those instants out of Python's range when shown in local time.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta

from django.core.management import call_command
from django.db.models import F
from django.utils import timezone

from escalations.catalog.services import service_maintenance_start
from escalations.models import (
    EscalationRun,
    Frequency,
    Notification,
    Rotation,
    Schedule,
    ScheduleLayer,
    ScheduleOverride,
)
from escalations.schedules import services as schedule_services
from incidents import services as incident_services
from incidents.models import Incident, IncidentEvent, IncidentLogEntry, IncidentNote
from opsduty.models import Label, MaintenanceMode, Organization, Service, Team, User
from processing.channels.services import receive_channel_create
from signals.models import Heartbeat, HeartbeatState, RawEvent, RawEventStatus
from statuspages import services as statuspage_services
from statuspages.models import Component, StatusPage
from tests import factories

DEMO_DOMAIN = "demo"
DEMO_PASSWORD = "opsduty-demo"  # noqa: S105 - the published demo login (DEMO.md)
OWNER, MEMBER, STAKEHOLDER = "owner@demo.example", "alice@demo.example", "carol@demo.example"

# The first and last instants Python can hold: a page that shows them in a zone east or west
# of UTC computes a year 0 or 10000 unless it bounds them first.
FIRST_INSTANT = datetime(1, 1, 1, tzinfo=UTC)
LAST_INSTANT = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)

STACK_TRACE = "Traceback (most recent call last):\n" + "".join(
    f'  File "/srv/opsduty/very/deeply/nested/package_{i}/module_with_a_long_name.py", '
    f"line {i * 17}, in handler_{i}\n"
    f"    result = call_something_with_a_rather_long_name(argument_{i}, key=value_{i})\n"
    for i in range(40)
)
UNICODE = "Ünïcödé ✓ 🚨🔥 日本語のテキスト مرحبا بالعالم עברית Ελληνικά Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇"
LONG_WORD = "x" * 300  # no break opportunity: must wrap or scroll inside its own box


def _text(length: int) -> str:
    """`length` characters of unicode, a stack trace and one unbreakable word."""
    base = f"{UNICODE} {LONG_WORD}\n{STACK_TRACE}"
    return (base * (length // len(base) + 1))[:length]


def demo_organization() -> Organization:
    return Organization.objects.get(domain=DEMO_DOMAIN)


def demo_user(email: str) -> User:
    return User.objects.get(organization__domain=DEMO_DOMAIN, email=email)


def seed_demo_with_incidents() -> Organization:
    """`seed_demo`, then incidents in each state with notes and labels, and raw events."""
    # Without the 90 days of history: the pages are crawled with the incidents below (the
    # history's few hundred would add a crawl of every incident page on the list's first page).
    call_command("seed_demo", "--no-history", stdout=_Discard())
    organization = demo_organization()
    api = Service.objects.get(organization=organization, routing_key="demo-api")
    checkout = Service.objects.get(organization=organization, routing_key="demo-checkout")
    owner, alice = demo_user(OWNER), demo_user(MEMBER)

    triggered = factories.make_incident(
        service=api,
        summary="High error rate on /v1/orders (5xx above 5%)",
        description="Alertmanager: error ratio 0.072 over 5 minutes.",
        payload={"labels": {"severity": "critical", "instance": "api-7f9c:9090"}},
    )
    incident_services.incident_add_label(incident=triggered, by=owner, name="customer-facing")
    incident_services.incident_add_note(
        incident=triggered, by=alice, text="Rolling back the 14:02 deploy."
    )
    acknowledged = factories.make_incident(service=checkout, summary="Checkout p99 above 2 s")
    incident_services.incident_acknowledge(incident=acknowledged, by=alice)
    silenced = factories.make_incident(service=api, summary="Disk 91% full on db-1")
    incident_services.incident_silence(incident=silenced, by=owner, minutes=60)
    child = factories.make_incident(service=api, summary="Disk 93% full on db-1")
    incident_services.incident_attach(incident=child, parent=silenced, by=owner)
    resolved = factories.make_incident(service=checkout, summary="Payment provider timeouts")
    incident_services.incident_resolve(incident=resolved, by=alice, note="Provider recovered.")
    # A status-page incident on the demo page (its lists and the operations on it have one).
    page = StatusPage.objects.get(slug="demo")
    statuspage_services.notice_declare(
        page=page,
        by=None,
        title="Elevated error rate on the API",
        body="We are investigating.",
        component_ids=list(
            Component.objects.filter(status_page=page, name="API").values_list("pk", flat=True)
        ),
    )
    factories.make_raw_event(organization=organization, routing_key="demo-api")
    factories.make_raw_event(
        organization=organization,
        routing_key="no-such-key",
        status=RawEventStatus.FAILED,
        error="Unknown routing key no-such-key",
    )
    receive_channel_create(organization=organization, by=None, name="Prometheus (custom)")
    return organization


def store_extreme_values(organization: Organization) -> None:
    """The longest and farthest values the services accept, then rows past every bound."""
    _through_the_services(organization)
    _past_the_bounds(organization)


def _through_the_services(organization: Organization) -> None:
    owner, alice = demo_user(OWNER), demo_user(MEMBER)
    api = Service.objects.get(organization=organization, routing_key="demo-api")
    platform = Team.objects.get(organization=organization, name="Platform")
    schedule = Schedule.objects.get(organization=organization, name="Platform primary")
    now = timezone.now()

    # An override and a maintenance window to the last day people may give (timebounds).
    schedule_services.override_create(
        schedule=schedule,
        by=None,
        user=alice,
        start=now + timedelta(days=1),
        end=datetime(2099, 12, 31, 23, 0, tzinfo=UTC),
    )
    service_maintenance_start(
        service=api, by=owner, mode=MaintenanceMode.DEBUG, duration_minutes=60
    )
    Service.objects.filter(pk=api.pk).update(
        maintenance_window_end=datetime(2099, 12, 31, 23, 59, tzinfo=UTC)
    )
    # A layer from the first day people may give (written directly: the editor only takes
    # layers that start in the future).
    _stored_layer(
        schedule,
        name="Since 1970 " + "L" * 180,
        rotation=Rotation.ROLLING,
        groups=[[alice.pk]],
        frequency=Frequency.DAILY,
        interval=1,
        by_day=[],
        start_date=date(1970, 1, 1),
        handoff_time=time(0, 0),
        shift_minutes=24 * 60,
        priority=5,
        effective_from=datetime(1970, 1, 1, tzinfo=UTC),
    )
    # Long names everywhere a name is shown, within each field's limit.
    Team.objects.filter(pk=platform.pk).update(name="Platform " + "T" * 90)
    User.objects.filter(pk=alice.pk).update(first_name="Alice" + "A" * 145, last_name=UNICODE[:150])
    Service.objects.filter(pk=api.pk).update(name="API " + "S" * 196, description=_text(2000))
    long_label = "label-" + "L" * 58
    Label.objects.create(organization=organization, name="🚨 " + UNICODE[:60])
    Heartbeat.objects.filter(organization=organization).update(
        labels=[long_label, UNICODE[:64]], description=_text(2000)
    )

    # The longest incident: a 1,024-character summary, a 5,000-character description with a
    # stack trace, notes of 5,000 and 10,000 characters, long labels.
    incident = factories.make_incident(
        service=api,
        summary=_text(1024),
        description=_text(5000),
        payload={"trace": STACK_TRACE, "nested": {"deep": [[[[UNICODE]]]] * 50}},
    )
    incident_services.incident_add_note(incident=incident, by=owner, text=_text(5000))
    incident_services.incident_add_note(incident=incident, by=owner, text=_text(10_000))
    incident_services.incident_add_label(incident=incident, by=owner, name=long_label)
    incident_services.incident_add_label(incident=incident, by=owner, name=UNICODE[:64])


def _past_the_bounds(organization: Organization) -> None:
    """Rows no service would write: years 1 and 9999 in zones far from UTC."""
    alice, bob = demo_user(MEMBER), demo_user("bob@demo.example")
    platform = Team.objects.get(organization=organization, name__startswith="Platform")
    api = Service.objects.get(organization=organization, routing_key="demo-api")
    checkout = Service.objects.get(organization=organization, routing_key="demo-checkout")
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):  # UTC+14 and UTC-11
        far = schedule_services.schedule_create(
            team=platform, by=None, name=f"Far {zone}", timezone_name=zone
        )
        _stored_layer(
            far,
            name="Forever",
            rotation=Rotation.ROLLING,
            groups=[[alice.pk], [bob.pk]],
            frequency=Frequency.WEEKLY,
            interval=1,
            by_day=[],
            start_date=date(1, 1, 1),
            repeat_until=date(9999, 12, 31),
            handoff_time=time(23, 59),
            shift_minutes=7 * 24 * 60,
            priority=1,
            effective_from=FIRST_INSTANT,
        )
        for start, end in (
            (FIRST_INSTANT, FIRST_INSTANT + timedelta(days=1)),
            (timezone.now(), LAST_INSTANT),
        ):
            ScheduleOverride.objects.create(
                organization=organization, schedule=far, user=bob, start=start, end=end
            )
    Service.objects.filter(pk=checkout.pk).update(
        maintenance_mode=MaintenanceMode.MAINTENANCE,
        maintenance_window_start=FIRST_INSTANT,
        maintenance_window_end=LAST_INSTANT,
    )
    HeartbeatState.objects.filter(organization=organization).update(
        last_checkin_at=FIRST_INSTANT,
        next_expected_at=LAST_INSTANT,
        next_deadline=LAST_INSTANT,
        missed_at=FIRST_INSTANT,
    )
    for moment, service in itertools.product((FIRST_INSTANT, LAST_INSTANT), (api, checkout)):
        incident = factories.make_incident(service=service, summary=f"Stored at {moment.year}")
        Incident.objects.filter(pk=incident.pk).update(
            created_at=moment,
            acknowledged_at=moment,
            silenced_at=moment,
            silenced_until=LAST_INSTANT,
            last_status_change_at=moment,
            status="silenced",
        )
        for model in (IncidentEvent, IncidentNote, IncidentLogEntry):
            model.objects.filter(incident=incident).update(created_at=moment)
        IncidentEvent.objects.filter(incident=incident).update(received_at=moment)
        IncidentNote.objects.create(
            organization=organization, incident=incident, text="Far note", created_at=moment
        )
        EscalationRun.objects.filter(incident=incident).update(
            due_at=moment, started_at=moment, updated_at=moment
        )
        Notification.objects.filter(incident=incident).update(due_at=moment, sent_at=moment)
        incident.labels.add(*Label.objects.filter(organization=organization)[:3])
    RawEvent.objects.filter(organization=organization).update(
        received_at=LAST_INSTANT, processed_at=FIRST_INSTANT, claimed_at=LAST_INSTANT
    )
    Label.objects.filter(organization=organization).update(created_at=FIRST_INSTANT)
    # Cached who-is-on-call answers key on the version: bump it, as every service write does.
    Schedule.objects.filter(organization=organization).update(version=F("version") + 1)


def _stored_layer(schedule: Schedule, **fields: object) -> ScheduleLayer:
    """A layer row as the database takes it, without the editor's checks."""
    layer = ScheduleLayer.objects.create(
        organization_id=schedule.organization_id,
        schedule=schedule,
        timezone=schedule.timezone,
        **fields,
    )
    ScheduleLayer.objects.filter(pk=layer.pk).update(lineage=layer.pk)
    return layer


class _Discard:
    """A stdout for `call_command` that keeps nothing."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        return None
