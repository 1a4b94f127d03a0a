"""A rebuild while incidents change: the changes never wait for it, and each is counted once
(before, during or after the rebuild), in the incident figures and the responder load."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from analytics import tasks
from analytics.selectors import (
    Filters,
    Scope,
    direct_metrics,
    overview,
    recounting,
    responder_load,
)
from analytics.services import analytics_rebuild, rebuild_request
from escalations.models import Notification
from escalations.notifications.providers import Receipt, provider_register
from escalations.notifications.rules import RuleInput, notification_rules_replace
from escalations.notifications.services import notification_deliver, notify_user
from incidents import services as incident_services
from incidents.ingest.drain import raw_events_drain
from incidents.models import Incident
from opsduty.models import Organization, Service, User
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


class _Delivered:
    def send(self, notification: Notification) -> Receipt:
        return Receipt(answer="sent")


@pytest.fixture
def sms_delivered() -> Iterator[None]:
    provider_register("sms", _Delivered())
    yield
    provider_register("sms", None)


@pytest.fixture
def service(org_a: Organization, member: User) -> Service:
    team = factories.make_team(organization=org_a, name="Payments")
    factories.add_member(team, member)
    return factories.make_service(team=team, name="Checkout")


class _RebuildHeldOpen:
    """A rebuild of the organization that has done its work and not committed yet (it holds
    the organization's rebuild lock), until `commit()`; it commits by itself after 20 s."""

    def __init__(self, organization: Organization) -> None:
        self.done, self.release = threading.Event(), threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(organization,), daemon=True)
        self.thread.start()
        assert self.done.wait(30), "the rebuild did not get its lock"

    def _run(self, organization: Organization) -> None:
        try:
            with transaction.atomic():
                analytics_rebuild(organizations=[organization])
                self.done.set()
                self.release.wait(20)
        except BaseException as error:  # noqa: BLE001 - reported by commit()
            self.error = error
            self.done.set()
        finally:
            connection.close()

    def commit(self) -> None:
        self.release.set()
        self.thread.join(30)
        if self.error is not None:
            raise self.error


def _today(org: Organization) -> Filters:
    today = timezone.now().date()  # UTC, the organization's zone
    return Filters(start=today - timedelta(days=1), end=today + timedelta(days=1))


def _load(org: Organization) -> dict[int, tuple[int, int]]:
    return {
        row.user_id: (row.interruptions, row.notifications)
        for row in responder_load(Scope(org.pk, None), _today(org))
    }


def test_changes_made_while_a_rebuild_runs_are_counted_once_and_do_not_wait(
    org_a: Organization, service: Service, member: User, owner: User, sms_delivered: None
) -> None:
    notification_rules_replace(user=member, urgency="high", rules=[RuleInput(0, "sms")])
    before = factories.make_incident(service=service, summary="Before the rebuild")
    incident_services.incident_acknowledge(incident=before, by=member)
    paged = factories.make_incident(service=service, summary="Paged during the rebuild")

    rebuild = _RebuildHeldOpen(org_a)
    # While it holds the lock: a new incident, an acknowledgement, a resolve, and an SMS that
    # reaches the member. Each commits at once (none waits for the rebuild's commit) ...
    during = factories.make_incident(service=service, summary="Opened during the rebuild")
    for row in notify_user(incident=paged, user=member, reason="test", key_prefix="t"):
        notification_deliver(notification_id=row.pk)
    incident_services.incident_acknowledge(incident=paged, by=member)
    incident_services.incident_resolve(incident=before, by=member)
    assert rebuild.thread.is_alive()  # ... the rebuild is still open
    rebuild.commit()
    tasks.rollups_compact()  # counts what the rebuild left pending (also run after a rebuild)

    assert Notification.objects.get(incident=paged).status == "sent"
    figures = overview(Scope(org_a.pk, None), _today(org_a))
    assert figures.as_dict() == direct_metrics(org_a, _today(org_a)).as_dict()
    assert (figures.incidents, figures.acknowledged, figures.resolved) == (3, 2, 1)
    assert _load(org_a) == {member.pk: (1, 1)}  # the SMS once, not twice, not lost
    assert Incident.objects.filter(pk=during.pk).exists()

    # And a rebuild now answers the same.
    expected = figures.as_dict()
    analytics_rebuild(organizations=[org_a])
    assert overview(Scope(org_a.pk, None), _today(org_a)).as_dict() == expected
    assert _load(org_a) == {member.pk: (1, 1)}


def test_a_rebuild_waits_for_the_changes_already_counting(
    org_a: Organization, service: Service, member: User
) -> None:
    incident = factories.make_incident(service=service)
    acknowledged = threading.Event()
    finish = threading.Event()
    errors: list[BaseException] = []

    def slow_acknowledge() -> None:
        try:
            with transaction.atomic():
                incident_services.incident_acknowledge(
                    incident=Incident.objects.get(pk=incident.pk), by=member
                )
                acknowledged.set()
                finish.wait(20)
        except BaseException as error:  # noqa: BLE001 - asserted below
            errors.append(error)
            acknowledged.set()
        finally:
            connection.close()

    change = threading.Thread(target=slow_acknowledge, daemon=True)
    change.start()
    assert acknowledged.wait(30)
    result: list[Any] = []

    def rebuild() -> None:
        try:
            result.append(analytics_rebuild(organizations=[org_a]))
        finally:
            connection.close()

    rebuilder = threading.Thread(target=rebuild, daemon=True)
    rebuilder.start()
    rebuilder.join(1)
    assert rebuilder.is_alive()  # waiting for the acknowledgement to commit
    finish.set()
    change.join(30)
    rebuilder.join(30)
    assert not errors and result == [1]
    figures = overview(Scope(org_a.pk, None), _today(org_a))
    assert (figures.incidents, figures.acknowledged) == (1, 1)  # counted once


def test_requests_made_together_are_answered_by_one_rebuild(
    org_a: Organization, service: Service
) -> None:
    factories.make_incident(service=service)
    rebuild_request(org_a)
    rebuild_request(org_a)
    assert recounting(org_a)
    assert tasks.rebuilds_run() == 1
    assert not recounting(org_a)
    assert overview(Scope(org_a.pk, None), _today(org_a)).incidents == 1


def _events(org: Organization, service: Service, bodies: list[dict[str, str]]) -> None:
    webhook = factories.make_webhook(organization=org)
    for body in bodies:
        factories.make_raw_event(
            organization=org, webhook=webhook, routing_key=service.routing_key, body=body
        )


def test_a_batch_of_events_is_counted_once_per_change(
    org_a: Organization, service: Service
) -> None:
    """The drain ingests a batch in one transaction and counts its incidents once at its end
    (`incidents.hooks.batch`): the figures equal the direct query and a rebuild."""
    bodies = [{"title": f"Alert {n}", "dedup_id": f"alert-{n}"} for n in range(6)]
    bodies += [{"title": "Alert 1 again", "dedup_id": "alert-1"}]  # a duplicate: no change
    bodies += [{"dedup_id": "alert-2", "status": "acknowledged"}]
    bodies += [{"dedup_id": "alert-3", "status": "resolved"}]
    bodies += [{"dedup_id": "alert-4", "status": "acknowledged"}]
    bodies += [{"dedup_id": "alert-4", "status": "resolved"}]
    _events(org_a, service, bodies)
    assert raw_events_drain(linger=0) == len(bodies)

    figures = overview(Scope(org_a.pk, None), _today(org_a))
    # Acknowledged by a person only (docs/analytics.md): the events' do not count.
    assert (figures.incidents, figures.acknowledged, figures.resolved) == (6, 0, 2)
    assert figures.as_dict() == direct_metrics(org_a, _today(org_a)).as_dict()
    analytics_rebuild(organizations=[org_a])
    assert overview(Scope(org_a.pk, None), _today(org_a)).as_dict() == figures.as_dict()


def test_a_batch_ingested_while_a_rebuild_runs_is_counted_after_it(
    org_a: Organization, service: Service
) -> None:
    factories.make_incident(service=service, summary="Before the rebuild")
    rebuild = _RebuildHeldOpen(org_a)
    _events(org_a, service, [{"title": f"During {n}", "dedup_id": f"d-{n}"} for n in range(3)])
    assert raw_events_drain(linger=0) == 3  # not waiting for the rebuild
    rebuild.commit()
    tasks.rollups_compact()

    figures = overview(Scope(org_a.pk, None), _today(org_a))
    assert figures.incidents == 4
    assert figures.as_dict() == direct_metrics(org_a, _today(org_a)).as_dict()
