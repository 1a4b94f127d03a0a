"""Responders and the escalation engine on the same incidents at once (issue 19, item 3).

Real threads, each with its own PostgreSQL connection, start every round together (a
barrier): API v1 calls as a team swarming a new page, the engine's step task and the
notification delivery task, all on one incident. Nothing may answer 5xx, no deadlock may
happen (`pg_stat_database.deadlocks` is read before and after), and every action lands
exactly once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from django.core import mail
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from escalations.catalog.services import service_set_policy
from escalations.engine.models import EscalationRun
from escalations.engine.tasks import escalation_run_fire, escalation_run_sweep
from escalations.notifications.models import Channel, Notification, NotificationRule
from escalations.notifications.tasks import notification_deliver
from escalations.policies.models import StepKind
from escalations.policies.services import policy_create, step_add
from incidents.models import Incident, IncidentLogEntry, IncidentNote, LogAction, Status
from opsduty.models import Organization, Role, Service, Team, User
from tests import factories
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


# --- the crew -------------------------------------------------------------------------------


def _flush_stats() -> None:
    """Make this connection's statistics (its deadlock count) visible to others now."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT 1")  # the flush happens when the backend goes idle before it


def deadlocks() -> int:
    """PostgreSQL's count of deadlocks in the test database."""
    _flush_stats()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


Role_ = Callable[[Any], Any]


def swarm(items: Sequence[Any], roles: dict[str, Role_]) -> dict[str, list[Any]]:
    """Run every role on every item, one thread (and connection) per role; each item's round
    starts in all threads at once. What each call returned, or the exception it raised."""
    barrier = threading.Barrier(len(roles))
    results: dict[str, list[Any]] = {name: [] for name in roles}

    def loop(name: str, act: Role_) -> None:
        try:
            for item in items:
                barrier.wait()
                try:
                    results[name].append(act(item))
                except Exception as error:  # noqa: BLE001 - asserted by the test
                    results[name].append(error)
        finally:
            _flush_stats()
            connections.close_all()

    threads = [threading.Thread(target=loop, args=item) for item in roles.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@dataclass
class Api:
    """A responder's API v1 client (a real bearer token); 500s are answered, not raised."""

    user: User
    client: Client = field(init=False)

    def __post_init__(self) -> None:
        token = factories.access_token_for(self.user)
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", raise_request_exception=False)

    def post(self, incident: Incident, action: str, body: dict[str, Any] | None = None) -> Any:
        return self.client.post(
            f"/api/v1/incidents/{incident.pk}/{action}/",
            body or {},
            content_type="application/json",
        )


def statuses(results: list[Any]) -> list[Any]:
    """HTTP statuses, or the exception's class name where a call raised."""
    return [getattr(r, "status_code", type(r).__name__) for r in results]


# --- the team -------------------------------------------------------------------------------


@dataclass
class Team_:
    organization: Organization
    team: Team
    service: Service
    people: list[User]


@pytest.fixture
def crew(org_a: Organization) -> Team_:
    """A team of five; the policy notifies people[0], waits a minute, notifies people[1]."""
    team = factories.make_team(organization=org_a, name="Platform")
    people = [
        factories.make_user(organization=org_a, email=f"p{n}@a.example", role=Role.MEMBER)
        for n in range(5)
    ]
    for person in people:
        factories.add_member(team, person)
        for urgency in ("high", "low"):
            NotificationRule.objects.create(
                organization=org_a,
                user=person,
                urgency=urgency,
                position=0,
                delay_minutes=0,
                channel=Channel.EMAIL,
            )
    service = factories.make_service(team=team, name="API")
    policy = policy_create(team=team, by=None, name="Default")
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[people[0]])
    step_add(policy=policy, by=None, kind=StepKind.WAIT, wait_minutes=1)
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[people[1]])
    service_set_policy(service=service, policy=policy, by=None)
    return Team_(org_a, team, service, people)


@dataclass
class Paged:
    """A fresh incident whose step 1 paged people[0] and whose step 3 is due now."""

    incident: Incident
    run_id: int
    run_version: int
    first_notification: int


def paged_incidents(crew: Team_, count: int) -> list[Paged]:
    made = []
    for _ in range(count):
        incident = factories.make_incident(service=crew.service)
        EscalationRun.objects.filter(incident=incident).update(
            due_at=timezone.now() - timedelta(seconds=1)
        )
        run = EscalationRun.objects.get(incident=incident)
        first = Notification.objects.get(incident=incident)
        made.append(Paged(incident, run.pk, run.version, first.pk))
    return made


@pytest.fixture
def quiet_mail() -> Iterator[None]:
    mail.outbox = []
    yield
    mail.outbox = []


def _lines(incident: Incident, action: str, starts: str = "") -> int:
    entries = IncidentLogEntry.objects.filter(incident=incident, action=action)
    return sum(1 for entry in entries if entry.message.startswith(starts))


# --- (1) the reported deadlock ------------------------------------------------------------------


def test_a_team_swarming_a_new_page_while_its_step_fires_never_sees_a_500(
    crew: Team_, quiet_mail: None
) -> None:
    """The report: each fresh, paged incident is acknowledged, resolved, paged and noted by
    four API calls at once while the engine's step task writes step 3 and the delivery task
    sends step 1. Before the fix some calls answered 500 ("deadlock detected")."""
    incidents = paged_incidents(crew, 15)
    p = crew.people
    api = [Api(p[0]), Api(p[1]), Api(p[2]), Api(p[3])]
    before = deadlocks()

    results = swarm(
        incidents,
        {
            "acknowledge": lambda x: api[0].post(x.incident, "acknowledge"),
            "resolve": lambda x: api[1].post(x.incident, "resolve", {"note": "fixed"}),
            "page": lambda x: api[2].post(x.incident, "page", {"users": [p[4].pk]}),
            "note": lambda x: api[3].post(x.incident, "notes", {"note": "looking"}),
            "engine": lambda x: escalation_run_fire(x.run_id, x.run_version),
            "delivery": lambda x: notification_deliver(x.first_notification),
        },
    )

    after = deadlocks()
    for name in ("acknowledge", "resolve", "page", "note"):
        assert set(statuses(results[name])) <= {200, 422}, (name, statuses(results[name]))
    assert statuses(results["resolve"]) == [200] * len(incidents)
    assert statuses(results["note"]) == [200] * len(incidents)
    assert all(isinstance(r, bool) for r in results["engine"]), results["engine"]
    assert all(r is None or isinstance(r, str) for r in results["delivery"]), results["delivery"]
    assert after - before == 0
    for x in incidents:
        incident = Incident.objects.get(pk=x.incident.pk)
        assert incident.status == Status.RESOLVED
        assert _lines(incident, LogAction.RESOLVED) == 1
        assert IncidentNote.objects.filter(incident=incident).count() == 2  # "fixed", "looking"
        assert _lines(incident, LogAction.ESCALATION, "Step 3: notifying") <= 1


# --- (2) responders, the engine, its sweeper and delivery, together -------------------------------


def _emails_for(notification_ids: set[int]) -> list[int]:
    """The notification ids of the emails sent (one entry per email)."""
    sent = [int(m.extra_headers["X-OpsDuty-Notification"]) for m in mail.outbox]
    return [pk for pk in sent if pk in notification_ids]


def test_every_action_lands_once_while_steps_fire_and_pages_are_delivered(
    crew: Team_, quiet_mail: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Acknowledge, reassign, note and resolve by four responders at once, while the step's
    ETA task and the sweeper race to fire it and two delivery tasks race to send step 1:
    no 5xx, no deadlock, each accepted action is on the timeline once, each step fires once,
    each notification is sent at most once and only what was sent is counted as sent."""
    p = crew.people
    other = policy_create(team=crew.team, by=None, name="Database")
    step_add(policy=other, by=None, kind=StepKind.NOTIFY, users=[p[2]])
    step_add(policy=other, by=None, kind=StepKind.WAIT, wait_minutes=5)
    incidents = paged_incidents(crew, 12)
    api = [Api(p[0]), Api(p[1]), Api(p[2]), Api(p[3])]
    before = deadlocks()

    results = swarm(
        incidents,
        {
            "acknowledge": lambda x: api[0].post(x.incident, "acknowledge"),
            "reassign": lambda x: api[1].post(
                x.incident, "reassign", {"escalation_policy": other.pk}
            ),
            "note": lambda x: api[2].post(x.incident, "notes", {"note": "on it"}),
            "resolve": lambda x: api[3].post(x.incident, "resolve"),
            "step task": lambda x: escalation_run_fire(x.run_id, x.run_version),
            "sweeper": lambda x: escalation_run_sweep(),
            "delivery": lambda x: notification_deliver(x.first_notification),
            "delivery again": lambda x: notification_deliver(x.first_notification),
        },
    )

    assert deadlocks() - before == 0
    assert [r for r in caplog.records if r.name == "opsduty.retry"] == []
    for name in ("acknowledge", "reassign", "note", "resolve"):
        assert set(statuses(results[name])) <= {200, 422}, (name, statuses(results[name]))
    assert statuses(results["note"]) == [200] * len(incidents)
    assert statuses(results["resolve"]) == [200] * len(incidents)
    for name in ("step task", "sweeper", "delivery", "delivery again"):
        assert not [r for r in results[name] if isinstance(r, Exception)], name
    for n, x in enumerate(incidents):
        incident = Incident.objects.get(pk=x.incident.pk)
        acknowledged = results["acknowledge"][n].status_code == 200
        reassigned = results["reassign"][n].status_code == 200
        assert incident.status == Status.RESOLVED
        assert _lines(incident, LogAction.RESOLVED) == 1
        assert _lines(incident, LogAction.ACKNOWLEDGED) == int(acknowledged)
        assert _lines(incident, LogAction.ESCALATION, "Reassigned to policy") == int(reassigned)
        assert IncidentNote.objects.filter(incident=incident, text="on it").count() == 1
        step3 = _lines(incident, LogAction.ESCALATION, "Step 3: notifying")
        assert step3 <= 1
        rows = Notification.objects.filter(incident=incident)
        assert rows.filter(reason="escalation step 3").count() == step3
        assert rows.filter(status="pending", reason__startswith="escalation").count() == 0
        sent = set(rows.filter(status="sent").values_list("pk", flat=True))
        emails = _emails_for(set(rows.values_list("pk", flat=True)))
        assert sorted(emails) == sorted(sent)  # each sent row mailed once, nothing else


# --- (3) a deadlock the locking order cannot prevent: the API runs the resolve again -------------


def _locker() -> psycopg.Connection[Any]:
    """A connection of "another process" that takes locks in the wrong order."""
    params = connection.get_connection_params()
    return psycopg.connect(
        host=params["host"],
        port=params["port"],
        user=params["user"],
        password=params["password"],
        dbname=params["dbname"],
    )


def _blocked_by(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", [pid]
        )
        row = cursor.fetchone()
    return row is not None and row[0] > 0


def test_a_resolve_picked_as_deadlock_victim_still_answers_200(
    crew: Team_, caplog: pytest.LogCaptureFixture
) -> None:
    """Another process holds the incident's pending notification and then wants the incident
    itself, which the resolve holds while it waits to cancel that notification. PostgreSQL
    aborts the resolve (it waited first); the API runs it again and answers 200."""
    x = paged_incidents(crew, 1)[0]
    api = Api(crew.people[0])
    answer: dict[str, Any] = {}
    locker = _locker()
    try:
        locker.execute(
            "SELECT id FROM escalations_notification WHERE id = %s FOR UPDATE",
            [x.first_notification],
        )

        def resolve() -> None:
            try:
                answer["response"] = api.post(x.incident, "resolve")
            finally:
                connections.close_all()

        thread = threading.Thread(target=resolve)
        thread.start()
        assert wait_until(lambda: _blocked_by(locker.info.backend_pid))
        # Now the wrong order: the incident the waiting resolve holds.
        locker.execute(
            "SELECT id FROM incidents_incident WHERE id = %s FOR UPDATE", [x.incident.pk]
        )
        locker.commit()
        thread.join()
    finally:
        locker.close()

    response = answer["response"]
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "resolved"
    incident = Incident.objects.get(pk=x.incident.pk)
    assert _lines(incident, LogAction.RESOLVED) == 1
    assert Notification.objects.get(pk=x.first_notification).status == "cancelled"
    retried = [r.getMessage() for r in caplog.records if r.name == "opsduty.retry"]
    assert len(retried) == 1 and "SQLSTATE 40P01" in retried[0], retried
