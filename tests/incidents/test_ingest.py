"""ingest_event: dedup (race-free, invariant 3), signals, numbering."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction

from escalations.catalog import services as escalation_services
from incidents import hooks
from incidents.ingest import services as ingest
from incidents.models import Incident, IncidentEvent, Status
from opsduty.events import EventData
from opsduty.models import Organization, Service, User
from tests import factories


@pytest.mark.django_db
def test_same_dedup_id_appends_to_the_open_incident(service: Service) -> None:
    first = ingest.ingest_event(service=service, event=EventData(summary="a", dedup_id="k"))
    second = ingest.ingest_event(service=service, event=EventData(summary="b", dedup_id="k"))
    assert first.pk == second.pk
    assert list(first.events.values_list("summary", flat=True)) == ["a", "b"]


@pytest.mark.django_db
def test_dedup_is_per_service(service: Service, org_a: Organization) -> None:
    other = escalation_services.service_create(team=service.team, by=None, name="Other")
    a = ingest.ingest_event(service=service, event=EventData(summary="a", dedup_id="k"))
    b = ingest.ingest_event(service=other, event=EventData(summary="b", dedup_id="k"))
    assert a.pk != b.pk


@pytest.mark.django_db
def test_no_dedup_id_means_a_new_incident_each_time(service: Service) -> None:
    a = ingest.ingest_event(service=service, event=EventData(summary="a"))
    b = ingest.ingest_event(service=service, event=EventData(summary="a"))
    assert a.pk != b.pk
    assert a.dedup_id and b.dedup_id and a.dedup_id != b.dedup_id


@pytest.mark.django_db
def test_signals_acknowledge_and_resolve(service: Service) -> None:
    incident = ingest.ingest_event(service=service, event=EventData(summary="a", dedup_id="k"))
    ingest.ingest_event(
        service=service, event=EventData(summary="ack", dedup_id="k", acknowledge=True)
    )
    incident.refresh_from_db()
    assert incident.status == Status.ACKNOWLEDGED
    ingest.ingest_event(service=service, event=EventData(summary="ok", dedup_id="k", resolve=True))
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED
    assert incident.events.count() == 3


@pytest.mark.django_db
def test_an_event_for_a_resolved_incident_opens_a_new_one(service: Service) -> None:
    first = ingest.ingest_event(service=service, event=EventData(summary="a", dedup_id="k"))
    ingest.ingest_event(service=service, event=EventData(summary="ok", dedup_id="k", resolve=True))
    again = ingest.ingest_event(service=service, event=EventData(summary="again", dedup_id="k"))
    assert again.pk != first.pk
    assert again.status == Status.TRIGGERED
    assert again.number == first.number + 1


@pytest.mark.django_db
def test_numbers_are_per_organization(service: Service, outsider: User) -> None:
    team_b = factories.make_team(organization=outsider.organization)
    service_b = escalation_services.service_create(team=team_b, by=None, name="B")
    a1 = ingest.ingest_event(service=service, event=EventData(summary="a"))
    a2 = ingest.ingest_event(service=service, event=EventData(summary="a"))
    b1 = ingest.ingest_event(service=service_b, event=EventData(summary="b"))
    assert (a1.number, a2.number, b1.number) == (1, 2, 1)


@pytest.mark.django_db
def test_bad_event_fields_are_repaired_not_lost(service: Service) -> None:
    incident = ingest.ingest_event(
        service=service, event=EventData(summary="  ", urgency="critical", dedup_id="x" * 999)
    )
    assert incident.summary == "(no summary)"
    assert incident.urgency == "high"
    assert len(incident.dedup_id) == 255


@pytest.mark.django_db(transaction=True)
def test_concurrent_events_with_one_dedup_id_make_one_incident(service: Service) -> None:
    """Invariant 3: 50 producers on separate connections, one dedup id, one incident."""
    producers = 50
    barrier = threading.Barrier(producers)
    errors: list[BaseException] = []

    def produce(n: int) -> None:
        try:
            barrier.wait()
            ingest.ingest_event(service=service, event=EventData(summary=f"e{n}", dedup_id="same"))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(producers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    connection.close()
    assert errors == []
    assert Incident.objects.filter(service=service, dedup_id="same").count() == 1
    incident = Incident.objects.get(service=service, dedup_id="same")
    assert IncidentEvent.objects.filter(incident=incident).count() == producers
    assert Incident.objects.get().number == 1


@pytest.mark.django_db
def test_event_labels_go_on_the_incident_it_opens(service: Service) -> None:
    from opsduty.models import Label

    other_team = factories.make_team(organization=service.organization, name="Other")
    Label.objects.create(organization=service.organization, name="secret", team=other_team)
    Label.objects.create(organization=service.organization, name="db")  # exists already
    incident = ingest.ingest_event(
        service=service,
        event=EventData(
            summary="a", dedup_id="k", labels=["db", "team=api", " db ", "", "x" * 65, "secret"]
        ),
    )
    assert sorted(incident.labels.values_list("name", flat=True)) == ["db", "team=api"]
    created = Label.objects.get(organization=service.organization, name="team=api")
    assert (created.color, created.team_id) == ("#6b7280", None)
    assert incident.log.filter(
        message="Labels “db”, “team=api” added by OpsDuty", action="label_added"
    ).exists()
    # A later event's labels do not change the incident.
    ingest.ingest_event(service=service, event=EventData(summary="b", dedup_id="k", labels=["z"]))
    assert incident.labels.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_noted_no_open_incident_appends_to_one_opened_meanwhile(
    service: Service,
) -> None:
    """A batch notes which dedup ids have no open incident (one query, no lock); an incident
    another transaction opens for one of them before the batch gets there is found and
    appended to, not opened twice (invariant 3)."""
    opened: dict[str, Incident] = {}

    def open_elsewhere() -> None:
        try:
            opened["other"] = ingest.ingest_event(
                service=service, event=EventData(summary="elsewhere", dedup_id="k")
            )
        finally:
            connection.close()

    with transaction.atomic(), hooks.batch():
        ingest.dedup_ids_without_open_incident([(service.pk, "k"), (service.pk, "fresh")])
        thread = threading.Thread(target=open_elsewhere)
        thread.start()
        thread.join(timeout=10)
        assert not thread.is_alive()
        mine = ingest.ingest_event_in_transaction(
            service=service, event=EventData(summary="batch", dedup_id="k")
        )
        fresh = ingest.ingest_event_in_transaction(
            service=service, event=EventData(summary="fresh", dedup_id="fresh")
        )
    assert mine.pk == opened["other"].pk
    assert Incident.objects.filter(dedup_id="k").count() == 1
    assert list(mine.events.order_by("id").values_list("summary", flat=True)) == [
        "elsewhere",
        "batch",
    ]
    assert fresh.opened_by_event
    assert list(fresh.events.values_list("summary", flat=True)) == ["fresh"]
