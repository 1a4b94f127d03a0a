"""Incident numbers under concurrency: transactions that open incidents in one organization do
not wait for each other, numbers stay unique and gap-free, and a maintenance window that
starts while an incident is being opened still collects it.

An incident is inserted unnumbered and numbered at the end of the transaction that opens it
(`incidents.services.incident_number_assign`), so the organization's counter row is locked
only from there to commit. The tests hold one opening transaction inside the incidents hook
(after the insert, the maintenance check and the escalation start, before the numbering)
and run a second transaction against it on another thread and connection.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import connection

from escalations.catalog.services import service_maintenance_start
from incidents import hooks
from incidents.models import Incident
from opsduty.models import Service, User
from tests import factories
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

HELD = "Held open"
DEADLINE = 60.0  # only stops a broken test from hanging


@dataclass
class Gate:
    """Blocks the transaction that opens the incident called HELD, inside the hook."""

    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    backend_pid: int = 0

    def __call__(self, change: hooks.StatusChange) -> None:
        if change.old_status is None and change.incident.summary == HELD:
            self.backend_pid = connection.connection.info.backend_pid
            self.entered.set()
            assert self.release.wait(DEADLINE)


@pytest.fixture
def gate() -> Iterator[Gate]:
    gate = Gate()
    hooks.subscribe(gate)
    try:
        yield gate
    finally:
        gate.release.set()
        hooks.unsubscribe(gate)


def _thread(work: Callable[[], Any], results: dict[str, Any], name: str) -> threading.Thread:
    """Run `work` on its own thread (and so its own database connection)."""

    def run() -> None:
        try:
            results[name] = work()
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            results[name] = error
        finally:
            connection.close()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


def _blocked_by(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", [pid]
        )
        row = cursor.fetchone()
    return row is not None and row[0] > 0


def test_incidents_opening_together_do_not_wait_and_get_consecutive_numbers(
    service: Service, gate: Gate
) -> None:
    before = factories.make_incident(service=service, summary="Before")
    results: dict[str, Any] = {}
    held = _thread(lambda: factories.make_incident(service=service, summary=HELD), results, "held")
    assert gate.entered.wait(DEADLINE)
    # The held transaction has inserted its incident and started its escalation. Another
    # incident of the organization opens and commits meanwhile: with the counter row locked
    # from the insert on, it would wait here until the held one committed.
    quick = _thread(lambda: factories.make_incident(service=service, summary="Quick"), results, "q")
    quick.join(DEADLINE)
    assert not quick.is_alive(), "opening an incident waited for another opening transaction"
    gate.release.set()
    held.join(DEADLINE)
    assert isinstance(results["q"], Incident), results["q"]
    assert isinstance(results["held"], Incident), results["held"]
    # Numbered in commit order, without gaps; the held one's log and run were not renumbered.
    assert results["q"].number == before.number + 1
    assert results["held"].number == before.number + 2
    numbers = list(
        Incident.objects.filter(organization=service.organization).values_list("number", flat=True)
    )
    assert sorted(numbers) == [before.number, before.number + 1, before.number + 2]


def test_maintenance_started_while_an_incident_opens_collects_it(
    service: Service, member: User, gate: Gate
) -> None:
    results: dict[str, Any] = {}
    held = _thread(lambda: factories.make_incident(service=service, summary=HELD), results, "held")
    assert gate.entered.wait(DEADLINE)
    # The held transaction has read the service outside maintenance. Maintenance starts now:
    # it must wait for that transaction (then collect its incident), not miss it.
    start = _thread(
        lambda: service_maintenance_start(
            service=service, by=member, mode="maintenance", duration_minutes=30
        ),
        results,
        "maintenance",
    )
    assert wait_until(lambda: _blocked_by(gate.backend_pid), deadline_seconds=DEADLINE)
    gate.release.set()
    held.join(DEADLINE)
    start.join(DEADLINE)
    incident = results["held"]
    assert isinstance(incident, Incident), incident
    assert isinstance(results["maintenance"], Service), results["maintenance"]
    maintenance = Incident.objects.get(service=service, is_maintenance=True)
    incident.refresh_from_db()
    assert incident.parent_id == maintenance.pk
    assert incident.number > 0
    assert maintenance.number == incident.number + 1  # numbered when it committed, after it
