"""Durable, idempotent processing of raw events: drains, duplicates, failures, the sweeper."""

from __future__ import annotations

import ast
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis
import time_machine
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone

from escalations.catalog.services import service_set_policy
from escalations.engine.models import EscalationRun, RunState
from escalations.engine.tasks import escalation_run_sweep
from escalations.notifications.models import Notification
from escalations.notifications.rules import RuleInput, notification_rules_replace
from escalations.notifications.tasks import notifications_deliver
from escalations.policies.models import StepKind
from escalations.policies.services import policy_create, step_add
from incidents import hooks
from incidents.ingest import drain as services
from incidents.ingest import tasks
from incidents.models import Incident, IncidentEvent
from opsduty.models import Label, Service, User
from processing.routing.services import OrchestrationFields, orchestration_create
from signals.models import RawEvent, RawEventStatus, ReferenceStatus, Webhook
from signals.receiver import services as receiver
from tests import factories
from tests.conftest import api_client_for
from tests.signals.conftest import url
from tests.waiting import wait_until

ALERT = {"title": "Disk full on db-1", "dedup_id": "disk-db-1"}


def _send(client: Client, webhook: Webhook, service: Service, body: dict[str, Any] = ALERT) -> str:
    response = client.post(
        url(webhook, service.routing_key), data=json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 202
    return str(response.json()["id"])


@pytest.mark.django_db
def test_drain_turns_pending_events_into_incidents(
    client: Client, webhook: Webhook, service: Service, owner_api: Client
) -> None:
    reference_id = _send(client, webhook, service)
    assert services.raw_events_drain(linger=0) == 1
    raw = RawEvent.objects.get()
    assert raw.status == RawEventStatus.PROCESSED
    assert raw.attempts == 1
    incident = Incident.objects.get()
    assert raw.incident_id == incident.pk
    assert incident.summary == "Disk full on db-1"
    answer = owner_api.get(f"/api/v1/incidents/incident-reference/{reference_id}/").json()
    assert answer["status"] == "completed"
    assert answer["incident_group"] == incident.pk


@pytest.mark.django_db
def test_processing_twice_creates_nothing_twice(
    client: Client, webhook: Webhook, service: Service
) -> None:
    _send(client, webhook, service)
    raw = RawEvent.objects.get()
    assert services.raw_event_process(raw_event_id=raw.pk) is True
    assert services.raw_event_process(raw_event_id=raw.pk) is False
    assert services.raw_events_drain(linger=0) == 0
    assert Incident.objects.count() == 1
    assert IncidentEvent.objects.count() == 1


@pytest.mark.django_db
def test_rejected_events_are_never_processed(
    client: Client, webhook: Webhook, service: Service
) -> None:
    webhook.enabled = False
    webhook.save()
    _send(client, webhook, service)
    assert services.raw_events_drain(linger=0) == 0
    assert RawEvent.objects.get().status == RawEventStatus.REJECTED
    assert not Incident.objects.exists()


@pytest.mark.django_db
def test_a_failing_event_keeps_its_error_and_can_be_replayed(
    client: Client, webhook: Webhook, service: Service, owner: User
) -> None:
    _send(client, webhook, service)
    routing_key = service.routing_key
    Service.objects.filter(pk=service.pk).update(routing_key="moved-away")
    services.raw_events_drain(linger=0)
    raw = RawEvent.objects.get()
    assert raw.status == RawEventStatus.FAILED
    assert routing_key in raw.error
    assert raw.reference.status == ReferenceStatus.FAILED
    assert routing_key in raw.reference.reason
    assert not Incident.objects.exists()

    Service.objects.filter(pk=service.pk).update(routing_key=routing_key)
    receiver.raw_event_replay(raw_event=raw, by=owner)
    raw.refresh_from_db()
    assert (raw.status, raw.error) == (RawEventStatus.PENDING, "")
    services.raw_events_drain(linger=0)
    raw.refresh_from_db()
    assert raw.status == RawEventStatus.PROCESSED
    assert raw.attempts == 2
    assert Incident.objects.count() == 1


@pytest.mark.django_db
def test_an_event_failing_in_a_batch_fails_alone(
    client: Client, webhook: Webhook, service: Service, owner_api: Client
) -> None:
    """The drain ingests a batch in one transaction; an event that fails there (here: a
    subscriber of new incidents refuses one) rolls it back, and the others are still processed,
    numbered in order, each exactly once; the failing one keeps its error for a replay."""

    def refuse(change: hooks.StatusChange) -> None:
        if change.incident.summary == "poison":
            raise ValueError("refused by a subscriber")

    references = [
        _send(client, webhook, service, {"title": title, "dedup_id": title})
        for title in ("first", "poison", "third")
    ]
    hooks.subscribe(refuse)
    try:
        assert services.raw_events_drain(linger=0) == 2
    finally:
        hooks.unsubscribe(refuse)
    incidents = Incident.objects.order_by("number")
    assert [(i.number, i.summary) for i in incidents] == [(1, "first"), (2, "third")]
    assert IncidentEvent.objects.count() == 2
    statuses = [
        owner_api.get(f"/api/v1/incidents/incident-reference/{ref}/").json()["status"]
        for ref in references
    ]
    assert statuses == ["completed", "failed", "completed"]
    poison = RawEvent.objects.get(status=RawEventStatus.FAILED)
    assert "refused by a subscriber" in poison.error
    assert RawEvent.objects.filter(status=RawEventStatus.PROCESSED, attempts=1).count() == 2


@pytest.mark.django_db
def test_an_event_postgresql_cannot_store_fails_alone_and_holds_up_nobody(
    client: Client, webhook: Webhook, service: Service, owner_api: Client
) -> None:
    """A data error (SQLSTATE class 22) is the event's own: retrying cannot store it. Raised
    here by a real trigger on the incidents table for one summary; the event is marked failed
    with PostgreSQL's message, and the others of its batch, a later event of its key included,
    become incidents (before, the drain raised and the sweeper retried the batch for ever)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " IF NEW.summary = 'poison' THEN"
            " RAISE EXCEPTION 'cannot store this' USING ERRCODE = '22023'; END IF;"
            " RETURN NEW; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON incidents_incident"
            " FOR EACH ROW EXECUTE FUNCTION refuse_poison()"
        )
    bodies = [
        {"title": "first", "dedup_id": "first"},
        {"title": "poison", "dedup_id": "k"},
        {"title": "after the poison", "dedup_id": "k"},
        {"title": "third", "dedup_id": "third"},
    ]
    references = [_send(client, webhook, service, body) for body in bodies]
    assert services.raw_events_drain(linger=0) == 3
    statuses = [
        owner_api.get(f"/api/v1/incidents/incident-reference/{ref}/").json()["status"]
        for ref in references
    ]
    assert statuses == ["completed", "failed", "completed", "completed"]
    assert sorted(Incident.objects.values_list("summary", flat=True)) == [
        "after the poison",
        "first",
        "third",
    ]
    poison = RawEvent.objects.get(status=RawEventStatus.FAILED)
    assert "cannot store this" in poison.error


@pytest.mark.django_db
def test_a_batch_numbers_its_new_incidents_in_order_after_earlier_ones(
    client: Client, webhook: Webhook, service: Service
) -> None:
    _send(client, webhook, service, {"title": "before", "dedup_id": "before"})
    assert services.raw_events_drain(linger=0) == 1
    for n in range(5):
        _send(client, webhook, service, {"title": f"new {n}", "dedup_id": f"new-{n}"})
    _send(client, webhook, service, {"title": "again", "dedup_id": "new-2"})
    assert services.raw_events_drain(linger=0) == 6
    assert list(Incident.objects.order_by("number").values_list("number", "summary")) == [
        (1, "before"),
        *[(n + 2, f"new {n}") for n in range(5)],
    ]
    assert IncidentEvent.objects.filter(incident__dedup_id="new-2").count() == 2


@pytest.mark.django_db
def test_only_failed_events_can_be_replayed(
    client: Client, webhook: Webhook, service: Service, owner: User
) -> None:
    from django.core.exceptions import ValidationError

    _send(client, webhook, service)
    with pytest.raises(ValidationError):
        receiver.raw_event_replay(raw_event=RawEvent.objects.get(), by=owner)


@pytest.mark.django_db
def test_a_fresh_claim_is_respected_and_a_stale_one_is_taken_over(
    client: Client, webhook: Webhook, service: Service
) -> None:
    _send(client, webhook, service)
    now = timezone.now()
    assert services.raw_events_claim(now=now) == [RawEvent.objects.get().pk]
    # Another drain a moment later must not take the event a live worker holds...
    assert services.raw_events_claim(now=now + timedelta(seconds=1)) == []
    # ...but a claim older than STALE_AFTER belongs to a worker that died.
    later = now + services.STALE_AFTER + timedelta(seconds=1)
    assert services.raw_events_claim(now=later) == [RawEvent.objects.get().pk]


@pytest.mark.django_db
def test_sweeper_sees_events_left_waiting(
    client: Client, webhook: Webhook, service: Service
) -> None:
    _send(client, webhook, service)
    received = RawEvent.objects.get().received_at
    assert services.raw_events_stale(now=received + timedelta(seconds=1)) is False
    assert services.raw_events_stale(now=received + services.STALE_AFTER * 2) is True
    services.raw_events_drain(linger=0)
    assert services.raw_events_stale(now=received + services.STALE_AFTER * 2) is False


def _lose_every_queued_task() -> None:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete("ingest", "default", receiver.DRAIN_FLAG)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_lost_task_is_finished_by_the_sweeper(webhook: Webhook, service: Service) -> None:
    """Invariant 2: the broker loses the drain task; the sweeper still gets the event done."""
    client = Client()
    _send(client, webhook, service)
    _lose_every_queued_task()
    raw = RawEvent.objects.get()
    assert raw.status == RawEventStatus.PENDING
    with time_machine.travel(raw.received_at + services.STALE_AFTER * 2, tick=False):
        assert tasks.raw_event_sweep() is True
    from celery.contrib.testing.worker import start_worker

    from opsduty.celery import app

    with start_worker(app, pool="solo", perform_ping_check=False, queues=["ingest"]):
        assert wait_until(
            lambda: RawEvent.objects.get(pk=raw.pk).status == RawEventStatus.PROCESSED
        )
    assert Incident.objects.count() == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_events_reach_incidents_through_a_real_worker(
    celery_worker: object, webhook: Webhook, service: Service
) -> None:
    client = Client()
    for n in range(5):
        _send(client, webhook, service, {"title": f"alert {n}", "dedup_id": f"k{n % 2}"})
    assert wait_until(lambda: RawEvent.objects.filter(status=RawEventStatus.PROCESSED).count() == 5)
    assert Incident.objects.count() == 2
    assert IncidentEvent.objects.count() == 5


def test_a_batch_of_new_incidents_pages_each_person_once_per_incident(
    celery_worker: object, webhook: Webhook, service: Service, owner: User, member: User
) -> None:
    """A drained batch opens its incidents in one transaction and queues the deliveries due
    now as one task: every person on the step gets one email per incident, none twice."""
    factories.add_member(service.team, member)
    for person in (owner, member):
        notification_rules_replace(user=person, urgency="high", rules=[RuleInput(0, "email")])
    policy = policy_create(team=service.team, by=None, name="Both")
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[owner, member])
    service_set_policy(service=service, policy=policy, by=None)
    mail.outbox = []
    _store_batch(webhook, service, 6, 4)
    assert services.raw_events_drain(linger=0) == 6
    assert Incident.objects.count() == 4
    # The worker delivers what the batch queued after its commit.
    assert wait_until(lambda: not Notification.objects.filter(status="pending").exists())
    assert wait_until(lambda: _queue_empty("notify"))
    received = sorted((m.to[0], m.extra_headers["X-OpsDuty-Notification"]) for m in mail.outbox)
    assert len(received) == len(set(received)) == 8
    assert sorted({to for to, _ in received}) == sorted([owner.email, member.email])
    assert Notification.objects.filter(status="sent").count() == 8


def _queue_empty(queue: str) -> bool:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL).llen(queue) == 0


@pytest.mark.django_db(transaction=True)
def test_an_event_locked_for_a_moment_is_processed_not_skipped(
    client: Client, webhook: Webhook, service: Service
) -> None:
    """Another drain's claim statement can hold a row lock on an event this drain claimed;
    the drain waits for it instead of leaving the event to the sweeper 5 s later."""
    import threading

    import psycopg
    from django.db import connection

    _send(client, webhook, service)
    raw = RawEvent.objects.get()
    assert services.raw_events_claim() == [raw.pk]  # this drain's claim
    params = connection.get_connection_params()
    other = psycopg.connect(
        **{key: params[key] for key in ("host", "port", "user", "password", "dbname")}
    )
    other.execute("SELECT id FROM signals_rawevent WHERE id = %s FOR UPDATE", [raw.pk])
    results: list[bool] = []

    def process() -> None:
        try:
            results.append(services.raw_event_process(raw_event_id=raw.pk))
        finally:
            connection.close()

    worker = threading.Thread(target=process)
    worker.start()
    try:

        def waiting() -> bool:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                    [other.info.backend_pid],
                )
                row = cursor.fetchone()
            return row is not None and row[0] > 0

        assert wait_until(waiting)  # blocked on the lock, not given up
    finally:
        other.rollback()  # the other transaction ends without touching the event
        other.close()
        worker.join(30)
    assert results == [True]
    raw.refresh_from_db()
    assert raw.status == RawEventStatus.PROCESSED


@pytest.mark.django_db
def test_a_batch_gives_each_incident_its_own_labels_and_events(
    client: Client, webhook: Webhook, service: Service, owner_client: Client
) -> None:
    """A batch stores its events and its new incidents' labels in a few statements at its
    end: each incident still gets exactly its own, and another team's label is not taken."""
    other_team = factories.make_team(organization=service.organization, name="DBA")
    Label.objects.create(organization=service.organization, name="owner=dba", team=other_team)
    for n in range(3):
        labels = {"env": "prod", "host": f"db-{n}", "owner": "dba"}
        _send(
            client,
            webhook,
            service,
            {"title": f"db-{n} down", "dedup_id": f"db-{n}", "labels": labels},
        )
    _send(client, webhook, service, {"title": "db-0 still down", "dedup_id": "db-0"})
    assert services.raw_events_drain(linger=0) == 4
    for n in range(3):
        incident = Incident.objects.get(dedup_id=f"db-{n}")
        assert sorted(incident.labels.values_list("name", flat=True)) == [
            "env=prod",
            f"host=db-{n}",
        ]
        page = owner_client.get(f"/incidents/{incident.pk}/").content.decode()
        # The incident's chips (the add-label choice lists the organization's other labels).
        assert f'class="label-chip" data-label-color="#6b7280">host=db-{n}' in page
        assert f'data-label-color="#6b7280">host=db-{(n + 1) % 3}' not in page
        expected = [f"db-{n} down"] + (["db-0 still down"] if n == 0 else [])
        assert list(incident.events.order_by("id").values_list("summary", flat=True)) == expected
        assert incident.log.filter(message__startswith="Labels ").count() == 1


@pytest.mark.django_db
def test_a_step_counting_events_counts_the_batch_s_events(
    webhook: Webhook, service: Service, owner: User
) -> None:
    """ "Notify if 1 event in 10 minutes" on incidents opened by a batch: the opening event,
    stored with the batch's others, is counted, and the person is paged."""
    notification_rules_replace(user=owner, urgency="high", rules=[RuleInput(0, "email")])
    policy = policy_create(team=service.team, by=None, name="If events")
    step_add(
        policy=policy,
        by=None,
        kind=StepKind.NOTIFY_IF_EVENTS,
        users=[owner],
        events_count=1,
        window_minutes=10,
    )
    service_set_policy(service=service, policy=policy, by=None)
    for n in range(3):
        factories.make_raw_event(
            organization=service.organization,
            webhook=webhook,
            routing_key=service.routing_key,
            body={"title": f"alert {n}", "dedup_id": f"k{n}"},
        )
    assert services.raw_events_drain(linger=0) == 3
    paged = Notification.objects.filter(user=owner).values_list("incident__dedup_id", flat=True)
    assert sorted(paged) == ["k0", "k1", "k2"]


def _two_step_policy(service: Service, member: User) -> None:
    """ "Notify the member; wait 1 minute; notify the member" on the service."""
    notification_rules_replace(user=member, urgency="high", rules=[RuleInput(0, "email")])
    policy = policy_create(team=service.team, by=None, name="Twice")
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[member])
    step_add(policy=policy, by=None, kind=StepKind.WAIT, wait_minutes=1)
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[member])
    service_set_policy(service=service, policy=policy, by=None)


def _store_batch(webhook: Webhook, service: Service, count: int, keys: int) -> None:
    for n in range(count):  # stored, not yet processed: one batch for the drain
        factories.make_raw_event(
            organization=service.organization,
            webhook=webhook,
            routing_key=service.routing_key,
            body={"title": f"alert {n}", "dedup_id": f"k{n % keys}"},
        )


@pytest.mark.django_db(transaction=True)
def test_a_batch_queues_its_runs_next_steps_as_one_task(
    webhook: Webhook, service: Service, member: User
) -> None:
    """The runs a batch starts are due again together: one broker message fires them all."""
    from celery import current_app

    factories.add_member(service.team, member)
    _two_step_policy(service, member)
    current_app.control.purge()
    _store_batch(webhook, service, 6, 4)
    assert services.raw_events_drain(linger=0) == 6
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    messages = [json.loads(raw)["headers"] for raw in client.lrange("escalation", 0, -1)]
    current_app.control.purge()
    fired = [m for m in messages if m["task"].startswith("escalations.run")]
    assert [m["task"] for m in fired] == ["escalations.runs_fire"]
    runs = EscalationRun.objects.filter(incident__service=service)
    assert sorted(runs.values_list("pk", "version")) == sorted(
        tuple(pair) for pair in ast.literal_eval(fired[0]["argsrepr"])[0]
    )
    due = max(at for at in runs.values_list("due_at", flat=True) if at is not None)
    assert datetime.fromisoformat(fired[0]["eta"]) == due


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_batch_s_runs_page_their_second_step_once_each(
    celery_worker: object, webhook: Webhook, service: Service, member: User, settings: Any
) -> None:
    """The task that fires a batch's runs pages each incident's next step once."""
    settings.ESCALATION_MINUTE_SECONDS = 1  # the wait lasts one real second
    factories.add_member(service.team, member)
    _two_step_policy(service, member)
    mail.outbox = []
    _store_batch(webhook, service, 6, 4)
    assert services.raw_events_drain(linger=0) == 6
    runs = EscalationRun.objects.filter(incident__service=service)
    assert wait_until(lambda: set(runs.values_list("state", flat=True)) == {RunState.FINISHED})
    assert wait_until(lambda: not Notification.objects.filter(status="pending").exists())
    sent = Notification.objects.filter(user=member, status="sent")
    per_incident = sorted(sent.values_list("incident__dedup_id", flat=True))
    assert per_incident == sorted(["k0", "k1", "k2", "k3"] * 2)
    assert len(mail.outbox) == 8


def _store(webhook: Webhook, service: Service, *bodies: dict[str, Any]) -> None:
    for body in bodies:  # stored, not yet processed: one batch for the drain
        factories.make_raw_event(
            organization=service.organization,
            webhook=webhook,
            routing_key=service.routing_key,
            body=body,
        )


@pytest.mark.django_db(transaction=True)
def test_an_acknowledge_in_the_same_batch_pages_nobody(
    webhook: Webhook, service: Service, member: User, owner_client: Client
) -> None:
    """A batch writes its new incidents' runs and notification rows together, late in its
    transaction, and its acknowledges and resolves stop runs and cancel rows together at its
    end: each incident acknowledged or resolved later in the same batch still pages nobody,
    now or when its second step would have been due, and says so once on its timeline; the
    one nobody touched pages at both steps."""
    factories.add_member(service.team, member)
    _two_step_policy(service, member)
    mail.outbox = []
    _store(
        webhook,
        service,
        {"title": "disk full", "dedup_id": "disk"},
        {"title": "cpu hot", "dedup_id": "cpu"},
        {"title": "memory low", "dedup_id": "mem"},
        {"title": "disk full", "dedup_id": "disk", "status": "acknowledged"},
        {"title": "memory low", "dedup_id": "mem", "status": "resolved"},
        {"title": "disk full", "dedup_id": "disk", "status": "resolved"},
    )
    assert services.raw_events_drain(linger=0) == 6
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        escalation_run_sweep()  # the second steps, as when their task is due
        notifications_deliver(list(Notification.objects.values_list("pk", flat=True)))
    assert len(mail.outbox) == 2
    assert all("cpu hot" in m.subject for m in mail.outbox)
    for dedup_id, status in (("disk", "acknowledged"), ("mem", "resolved")):
        incident = Incident.objects.get(dedup_id=dedup_id)
        page = owner_client.get(f"/incidents/{incident.pk}/").content.decode()
        assert page.count(f"1 pending notification cancelled (incident {status})") == 1
        assert page.count("Escalation stopped") == 1
        assert f"Escalation stopped: incident {status}." in page


@pytest.mark.django_db(transaction=True)
def test_a_batch_s_new_incidents_count_under_their_policy(
    webhook: Webhook, service: Service, member: User, owner: User
) -> None:
    """The analytics upkeep of a batch runs after its runs are written: each new paged
    incident counts under the policy its run pages with (here an orchestration's override),
    not under the service's."""
    factories.add_member(service.team, member)
    _two_step_policy(service, member)
    quiet = policy_create(team=service.team, by=None, name="Quiet")
    step_add(policy=quiet, by=None, kind=StepKind.NOTIFY, users=[member])
    orchestration_create(
        service=service,
        by=None,
        fields=OrchestrationFields(name="Quiet", escalation_policy_override_id=quiet.pk),
    )
    _store_batch(webhook, service, 3, 3)
    assert services.raw_events_drain(linger=0) == 3
    api = api_client_for(owner)
    today = timezone.localdate().isoformat()
    response = api.get(
        "/api/v1/analytics/policies/", {"range": "custom", "start": today, "end": today}
    )
    assert response.status_code == 200, response.content[:200]
    items = json.loads(response.content)["items"]
    assert [(item["name"], item["metrics"]["incidents"]) for item in items] == [("Quiet", 3)]
