"""Two of every worker against one PostgreSQL keep every exactly-once promise (issue 20).

Real `celery worker` OS processes (tests/celery_workers.py) against the test PostgreSQL and
Redis; what is counted is what people notice:

- two escalators (`-Q escalation,notify`, 2 prefork processes each, as the Procfile's
  escalator with fewer processes) and so two heartbeat miss detectors: every escalation
  step of every incident fires once (its timeline line, the people it emails through the
  development inbox, one email per person and step), every missed deadline is reported
  once (one "missed" event on its incident);
- two ingest workers draining one backlog of webhook events: one incident per dedup key,
  every event on it once, in the order it was sent (the key's incident ends resolved).

Beat stays single in production (two would only queue every periodic task twice); here the
test plays beat, and faster: `escalations.run_sweep`, `heartbeats.misses_detect` and
`notifications.sweep` every 0.1 s instead of every 1-5 s, so the two escalators run
sweepers and detectors side by side, racing each other and the steps' own ETA tasks (which
the workers' 1 s visibility timeout also redelivers); it also queues a second delivery task
for every notification still pending, as a redelivery to the other escalator would.

What keeps each promise: the engine's row locks and version guard
(`escalations/engine/services.py` `run_fire`), the detector's `FOR UPDATE SKIP LOCKED` batch
(`signals/heartbeats/services.py` `misses_detect`), delivery's lease
(`escalations/notifications/services.py` `_lease`), the drain's claims and order keys and the
open-incident unique index (`incidents/ingest/drain.py`, `incidents/models.py`). Take one
away and these counts break (docs/scaling.md lists the ones tried).
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import orjson
import pytest
import redis
from django.conf import settings
from django.db import connections
from django.test import Client
from django.utils import timezone

from escalations.catalog.services import service_set_policy
from escalations.engine.models import EscalationRun, RunState
from escalations.notifications.models import Notification, NotificationStatus
from escalations.notifications.rules import RuleInput, notification_rules_replace
from escalations.policies.models import StepKind
from escalations.policies.services import policy_create, step_add
from incidents.models import Incident, IncidentEvent, IncidentLogEntry, LogAction, Status
from opsduty.celery import app
from opsduty.devmail import INBOX_KEY, INBOX_SIZE
from opsduty.models import Organization, Service, Team, User
from opsduty.queue import enqueue
from signals.heartbeats import services as heartbeats
from signals.models import HeartbeatState, RawEvent, RawEventStatus, Webhook
from signals.receiver.services import DRAIN_FLAG
from tests import factories
from tests.celery_workers import WORKER_DEADLINE, StartWorker, WorkerProcess
from tests.waiting import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

INCIDENTS = 60  # each paged at 3 steps: 4 emails, 240 in all (the inbox keeps 500)
ENVIRONMENTS = 200  # heartbeat environments that each miss one deadline
KEYS = 150  # dedup keys of the ingest backlog, 4 events each...
GROUP = 25  # ...sent a group of keys at a time
BEAT_TASKS = ("escalations.run_sweep", "heartbeats.misses_detect", "notifications.sweep")


@pytest.fixture
def team(org_a: Organization) -> Team:
    return factories.make_team(organization=org_a, name="Platform")


def _person(team: Team, first_name: str) -> User:
    user = factories.make_user(
        organization=team.organization,
        email=f"{first_name.lower()}@a.example",
        first_name=first_name,
        last_name="Oncall",
    )
    factories.add_member(team, user)
    notification_rules_replace(user=user, urgency="high", rules=[RuleInput(0, "email")])
    return user


class Beat:
    """The test's beat: queues each of `tasks` every `period` seconds until stopped; with
    `redeliver`, also a second delivery task for every notification waiting to be sent, as
    Redis hands a task to another worker when the first one looks lost."""

    def __init__(
        self, tasks: tuple[str, ...], period: float = 0.1, *, redeliver: bool = False
    ) -> None:
        self.tasks, self.period, self.redeliver = tasks, period, redeliver
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            while not self.stopping.wait(self.period):
                for name in self.tasks:
                    app.send_task(name)  # routed by name, as beat sends them
                if self.redeliver:
                    pending = Notification.objects.filter(status=NotificationStatus.PENDING)
                    for pk in pending.values_list("pk", flat=True):
                        app.send_task("notifications.deliver", args=(pk,))
        finally:
            connections.close_all()  # this thread's

    def __enter__(self) -> Beat:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)


def _start_both(
    start_worker: StartWorker, prefix: str, *args: str, env: dict[str, str]
) -> list[WorkerProcess]:
    """Two workers, started together and each answering a ping before the test goes on."""
    workers = [start_worker(f"{prefix}{n}", *args, env=env) for n in (1, 2)]
    for worker in workers:
        worker.go()
    names = {f"{prefix}{n}" for n in (1, 2)}

    def both_answer() -> bool:
        answers = app.control.ping(timeout=0.5) or []
        return names <= {name.split("@")[0] for answer in answers for name in answer}

    assert wait_until(both_answer, deadline_seconds=WORKER_DEADLINE), [w.log() for w in workers]
    return workers


def _settled(broker: redis.Redis, *queues: str) -> bool:
    """Nothing queued and nothing delivered but unacknowledged (acks_late: still running)."""
    return all(broker.llen(queue) == 0 for queue in queues) and broker.hlen("unacked") == 0


def _ran_tasks(worker: WorkerProcess) -> bool:
    return re.search(r"Task [\w.]+\[[0-9a-f-]+\] succeeded", worker.log()) is not None


# --- two escalators, two detectors ------------------------------------------------------------


def _paged_service(team: Team, alice: User, bob: User) -> Service:
    """A service whose policy is "notify Alice; wait 1 minute; notify Bob; wait 1 minute;
    notify Alice and Bob"."""
    service = factories.make_service(team=team, name="Payments")
    policy = policy_create(team=team, by=None, name="Three steps")
    for kind, fields in (
        (StepKind.NOTIFY, {"users": [alice]}),
        (StepKind.WAIT, {"wait_minutes": 1}),
        (StepKind.NOTIFY, {"users": [bob]}),
        (StepKind.WAIT, {"wait_minutes": 1}),
        (StepKind.NOTIFY, {"users": [alice, bob]}),
    ):
        step_add(policy=policy, by=None, kind=kind, **fields)
    service_set_policy(service=service, policy=policy, by=None)
    return service


def _environments(team: Team) -> list[HeartbeatState]:
    """ENVIRONMENTS environments of one heartbeat, checking in hourly: each misses one
    deadline here. Half are past their deadline at once (one batch both detectors want), the
    rest fall due one by one over two seconds, while the detectors run."""
    service = factories.make_service(team=team, name="Nightly jobs")
    heartbeat = heartbeats.heartbeat_create(service=service, by=None, name="backup")
    states = [
        heartbeats.state_create(
            heartbeat=heartbeat,
            by=None,
            environment=f"host-{n}",
            data=heartbeats.StateInput(type="interval", interval_seconds=3600, timeout_seconds=0),
        )
        for n in range(ENVIRONMENTS)
    ]
    return states


def _deadlines_pass(states: list[HeartbeatState]) -> None:
    now = timezone.now()
    for n, state in enumerate(states):
        due = now - timedelta(seconds=1) if n % 2 == 0 else now + timedelta(milliseconds=10 * n)
        HeartbeatState.objects.filter(pk=state.pk).update(next_expected_at=due, next_deadline=due)


def _inbox() -> list[dict[str, Any]]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    return [orjson.loads(raw) for raw in client.lrange(INBOX_KEY, 0, -1)]


def _emails_per_step(incidents: dict[int, Incident]) -> Counter[tuple[int, str, str]]:
    """(incident id, recipient, "step N") of each email the inbox received."""
    by_number = {incident.number: pk for pk, incident in incidents.items()}
    received: Counter[tuple[int, str, str]] = Counter()
    for mail in _inbox():
        number = re.match(r"\[OpsDuty\] #(\d+) ", mail["subject"])
        step = re.search(r"^Why you: escalation (step \d)$", mail["body"], re.MULTILINE)
        assert number and step, mail
        for to in mail["to"]:
            received[(by_number[int(number.group(1))], to, step.group(1))] += 1
    return received


def _step_lines(incident_ids: list[int]) -> Counter[tuple[int, str]]:
    """(incident id, "Step N: notifying ...") of each escalation line on the timelines."""
    lines = IncidentLogEntry.objects.filter(
        incident_id__in=incident_ids,
        action=LogAction.ESCALATION,
        message__contains=": notifying",
    ).values_list("incident_id", "message")
    return Counter(lines)


def test_two_escalators_and_two_detectors_page_each_step_and_report_each_miss_once(
    start_worker: StartWorker, team: Team, dev_inbox: None, settings: Any
) -> None:
    settings.ESCALATION_MINUTE_SECONDS = 1  # step 3 is due 1 s after step 1, step 5 1 s later
    alice, bob = _person(team, "Alice"), _person(team, "Bob")
    paged = _paged_service(team, alice, bob)
    states = _environments(team)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    escalators = _start_both(
        start_worker,
        "escalator",
        *("-Q", "escalation,notify", "--pool", "prefork", "--concurrency", "2"),
        *("--loglevel", "INFO"),
        env={
            "OPSDUTY_ESCALATION_MINUTE_SECONDS": "1",
            "OPSDUTY_DEV_INBOX": "1",
            "OPSDUTY_EMAIL_BACKEND": "opsduty.devmail.InboxEmailBackend",
        },
    )
    logs = [worker.log for worker in escalators]
    with Beat(BEAT_TASKS, redeliver=True):
        # Step 1 runs as each incident opens (here); steps 3 and 5 on the escalators, from
        # their ETA tasks or a sweeper, whichever comes first; every email from the escalators.
        incidents = {
            incident.pk: incident
            for incident in (
                factories.make_incident(service=paged, summary=f"Card payments failing {n}")
                for n in range(INCIDENTS)
            )
        }
        _deadlines_pass(states)
        runs = EscalationRun.objects.filter(incident_id__in=incidents)
        assert wait_until(
            lambda: (
                runs.filter(state=RunState.FINISHED).count() == INCIDENTS
                and HeartbeatState.objects.filter(missed_at__isnull=False).count() == ENVIRONMENTS
                and Notification.objects.filter(status=NotificationStatus.SENT).count()
                == 4 * INCIDENTS
            ),
            deadline_seconds=WORKER_DEADLINE,
        ), [log() for log in logs]
    # Whatever the last sweeps and redelivered tasks would still do, they have done.
    assert wait_until(lambda: _settled(broker, "escalation", "notify"), deadline_seconds=60)
    assert all(_ran_tasks(worker) for worker in escalators), [log() for log in logs]

    # Every step once on every timeline...
    names = {user: user.get_full_name() for user in (alice, bob)}
    expected_lines = Counter(
        (pk, line)
        for pk in incidents
        for line in (
            f"Step 1: notifying {names[alice]}.",
            f"Step 3: notifying {names[bob]}.",
            f"Step 5: notifying {names[alice]}, {names[bob]}.",
        )
    )
    assert _step_lines(list(incidents)) == expected_lines
    # ...and each person emailed once per step that names them, nobody twice.
    expected_mail = Counter(
        (pk, user.email, step)
        for pk in incidents
        for user, step in (
            (alice, "step 1"),
            (bob, "step 3"),
            (alice, "step 5"),
            (bob, "step 5"),
        )
    )
    assert len(_inbox()) == 4 * INCIDENTS < INBOX_SIZE
    assert _emails_per_step(incidents) == expected_mail
    assert Notification.objects.filter(incident_id__in=incidents).count() == 4 * INCIDENTS

    # Every missed deadline reported once: one incident per environment, one "missed" event.
    events = Counter(
        IncidentEvent.objects.filter(incident__dedup_id__startswith="heartbeat:").values_list(
            "incident__dedup_id", flat=True
        )
    )
    assert events == Counter({f"heartbeat:{state.pk}": 1 for state in states})
    assert all(
        state.next_deadline is not None and state.next_deadline > timezone.now()
        for state in HeartbeatState.objects.all()
    )


# --- two ingest workers -----------------------------------------------------------------------


def _webhook_path(organization: Organization, service: Service) -> str:
    webhook = Webhook.objects.create(
        organization=organization, name="Alertmanager", rate_limit_per_minute=1_000_000
    )
    return f"/integrations/webhooks/enque/event/{webhook.key}/{service.routing_key}"


def test_two_ingest_workers_drain_one_backlog_into_one_incident_per_dedup_key(
    start_worker: StartWorker, org_a: Organization, team: Team, settings: Any
) -> None:
    service = factories.make_service(team=team, name="Checkout")
    path = _webhook_path(org_a, service)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    # The receiver queues no drain while the flag says one is queued: the backlog waits
    # until both workers consume, then two drains start on it at once.
    broker.set(DRAIN_FLAG, "1", px=600_000)
    client = Client()
    # Per key: a new alert, a duplicate, an acknowledge and a resolve, GROUP POSTs apart (as
    # senders interleave their alerts): a key's first events and its last are in two
    # consecutive drain batches (50 events), which the two workers take at the same time.
    for group in range(0, KEYS, GROUP):
        for status in ("firing", "firing", "acknowledged", "resolved"):
            for n in range(group, group + GROUP):
                body = {"title": f"Checkout errors on shard {n}", "dedup_id": f"shard-{n}"}
                response = client.post(
                    path,
                    data=json.dumps({**body, "status": status}),
                    content_type="application/json",
                )
                assert response.status_code == 202, response.content
    assert RawEvent.objects.filter(status=RawEventStatus.PENDING).count() == 4 * KEYS
    workers = _start_both(
        start_worker,
        "ingest",
        *("-Q", "ingest,default", "--pool", "solo", "--loglevel", "INFO"),
        env={},
    )
    enqueue("signals.raw_events_drain")
    enqueue("signals.raw_events_drain")
    assert wait_until(
        lambda: not RawEvent.objects.filter(status=RawEventStatus.PENDING).exists(),
        deadline_seconds=WORKER_DEADLINE,
    ), [w.log() for w in workers]
    assert wait_until(lambda: _settled(broker, "ingest"), deadline_seconds=60)
    for worker in workers:  # both drained part of the backlog
        drained = re.findall(
            r"Task signals\.raw_events_drain\[[0-9a-f-]+\] succeeded in \S+: (\d+)", worker.log()
        )
        assert any(int(count) > 0 for count in drained), worker.log()

    assert RawEvent.objects.filter(status=RawEventStatus.PROCESSED).count() == 4 * KEYS
    incidents = Incident.objects.filter(service=service)
    assert Counter(incidents.values_list("dedup_id", flat=True)) == Counter(
        {f"shard-{n}": 1 for n in range(KEYS)}
    )
    # In the order sent: each incident was acknowledged, then resolved.
    assert set(incidents.values_list("status", flat=True)) == {Status.RESOLVED}
    assert not incidents.filter(acknowledged_at__isnull=True).exists()
    events = Counter(
        IncidentEvent.objects.filter(incident__service=service).values_list(
            "incident__dedup_id", flat=True
        )
    )
    assert events == Counter({f"shard-{n}": 4 for n in range(KEYS)})
