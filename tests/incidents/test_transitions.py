"""The incident state machine: every allowed transition and every refused one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from incidents import hooks, services
from incidents.ingest import services as ingest
from incidents.models import Incident, IncidentLogEntry, IncidentNote, LogAction, Status
from opsduty.events import EventData
from opsduty.models import Service, User

pytestmark = pytest.mark.django_db


def _to(incident: Incident, status: str, by: User) -> Incident:
    """Bring a fresh (triggered) incident into `status`."""
    if status == Status.ACKNOWLEDGED:
        services.incident_acknowledge(incident=incident, by=by)
    elif status == Status.SILENCED:
        services.incident_silence(incident=incident, by=by, minutes=10)
    elif status == Status.RESOLVED:
        services.incident_resolve(incident=incident, by=by)
    incident.refresh_from_db()
    assert incident.status == status
    return incident


def ack(i: Incident, u: User) -> Any:
    return services.incident_acknowledge(incident=i, by=u)


def unack(i: Incident, u: User) -> Any:
    return services.incident_unacknowledge(incident=i, by=u)


def resolve(i: Incident, u: User) -> Any:
    return services.incident_resolve(incident=i, by=u)


def unresolve(i: Incident, u: User) -> Any:
    return services.incident_unresolve(incident=i, by=u)


def silence(i: Incident, u: User) -> Any:
    return services.incident_silence(incident=i, by=u, minutes=5)


Action = Callable[[Incident, User], Any]

# (start status, action, resulting status or None when refused)
CASES: list[tuple[str, Action, str | None]] = [
    (Status.TRIGGERED, ack, Status.ACKNOWLEDGED),
    (Status.TRIGGERED, unack, None),
    (Status.TRIGGERED, resolve, Status.RESOLVED),
    (Status.TRIGGERED, unresolve, None),
    (Status.TRIGGERED, silence, Status.SILENCED),
    (Status.ACKNOWLEDGED, ack, None),
    (Status.ACKNOWLEDGED, unack, Status.TRIGGERED),
    (Status.ACKNOWLEDGED, resolve, Status.RESOLVED),
    (Status.ACKNOWLEDGED, unresolve, None),
    (Status.ACKNOWLEDGED, silence, Status.SILENCED),
    (Status.SILENCED, ack, Status.ACKNOWLEDGED),
    (Status.SILENCED, unack, None),
    (Status.SILENCED, resolve, Status.RESOLVED),
    (Status.SILENCED, unresolve, None),
    (Status.SILENCED, silence, None),
    (Status.RESOLVED, ack, None),
    (Status.RESOLVED, unack, None),
    (Status.RESOLVED, resolve, None),
    (Status.RESOLVED, unresolve, Status.TRIGGERED),
    (Status.RESOLVED, silence, None),
]


@pytest.mark.parametrize(
    ("start", "action", "result"), CASES, ids=[f"{s}-{a.__name__}" for s, a, _ in CASES]
)
def test_transition(
    incident: Incident, member: User, start: str, action: Action, result: str | None
) -> None:
    incident = _to(incident, start, member)
    before = IncidentLogEntry.objects.filter(incident=incident).count()
    version = incident.version
    if result is None:
        with pytest.raises(ValidationError):
            action(incident, member)
        incident.refresh_from_db()
        assert incident.status == start
        assert incident.version == version
        assert IncidentLogEntry.objects.filter(incident=incident).count() == before
    else:
        action(incident, member)
        incident.refresh_from_db()
        assert incident.status == result
        assert incident.version > version
        entry = IncidentLogEntry.objects.filter(incident=incident).order_by("id").last()
        assert entry is not None and entry.actor == member
        assert entry.data.get("new", result) == result or entry.action == LogAction.SILENCED


def test_status_timestamps(incident: Incident, member: User) -> None:
    services.incident_acknowledge(incident=incident, by=member)
    incident.refresh_from_db()
    assert incident.acknowledged_at is not None
    assert incident.last_status_change_at == incident.acknowledged_at
    services.incident_resolve(incident=incident, by=member)
    incident.refresh_from_db()
    assert incident.resolved_at is not None
    services.incident_unresolve(incident=incident, by=member)
    incident.refresh_from_db()
    fresh = Incident.objects.get(pk=incident.pk)
    assert fresh.status == Status.TRIGGERED
    assert fresh.acknowledged_at is None
    assert fresh.resolved_at is None


def test_acknowledging_makes_the_user_an_active_responder(incident: Incident, member: User) -> None:
    services.incident_acknowledge(incident=incident, by=member)
    responder = incident.responders.get()
    assert (responder.user, responder.status) == (member, "active")


def test_every_status_change_publishes_the_hook_in_the_transaction(
    service: Service, member: User
) -> None:
    seen: list[tuple[str | None, str, User | None]] = []

    def subscriber(change: hooks.StatusChange) -> None:
        seen.append((change.old_status, change.new_status, change.actor))

    hooks.subscribe(subscriber)
    try:
        incident = ingest.ingest_event(service=service, event=EventData(summary="x"))
        services.incident_acknowledge(incident=incident, by=member)
        services.incident_resolve(incident=incident, by=None)
        with pytest.raises(ValidationError):
            services.incident_acknowledge(incident=incident, by=member)
    finally:
        hooks.unsubscribe(subscriber)
    assert seen == [
        (None, Status.TRIGGERED, None),
        (Status.TRIGGERED, Status.ACKNOWLEDGED, member),
        (Status.ACKNOWLEDGED, Status.RESOLVED, None),
    ]


def test_a_failing_subscriber_rolls_the_change_back(incident: Incident, member: User) -> None:
    def broken(change: hooks.StatusChange) -> None:
        raise RuntimeError("engine down")

    hooks.subscribe(broken)
    try:
        with pytest.raises(RuntimeError):
            services.incident_acknowledge(incident=incident, by=member)
    finally:
        hooks.unsubscribe(broken)
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED
    assert not incident.log.filter(action=LogAction.ACKNOWLEDGED).exists()


def test_resolve_with_note_records_it(incident: Incident, member: User) -> None:
    services.incident_resolve(incident=incident, by=member, note="rolled back the deploy")
    assert IncidentNote.objects.get(incident=incident).text == "rolled back the deploy"


@pytest.mark.parametrize("text", ["", "   ", "x" * 10_001])
def test_bad_notes_are_refused(incident: Incident, member: User, text: str) -> None:
    with pytest.raises(ValidationError):
        services.incident_add_note(incident=incident, by=member, text=text)
    assert not IncidentNote.objects.exists()
    assert not incident.log.filter(action=LogAction.NOTE).exists()


def test_resolve_with_an_oversized_note_writes_nothing(incident: Incident, member: User) -> None:
    with pytest.raises(ValidationError):
        services.incident_resolve(incident=incident, by=member, note="x" * 10_001)
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED
    assert not IncidentNote.objects.exists()


def test_resolve_with_an_empty_note_just_resolves(incident: Incident, member: User) -> None:
    services.incident_resolve(incident=incident, by=member, note="")
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED
    assert not IncidentNote.objects.exists()


@pytest.mark.parametrize("minutes", [None, 0, -5, 7 * 24 * 60 + 1, True])
def test_silence_needs_a_sensible_duration(incident: Incident, member: User, minutes: Any) -> None:
    with pytest.raises(ValidationError):
        services.incident_silence(incident=incident, by=member, minutes=minutes)
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED


def test_urgency_and_labels(incident: Incident, member: User) -> None:
    services.incident_set_urgency(incident=incident, by=member, urgency="low")
    with pytest.raises(ValidationError):
        services.incident_set_urgency(incident=incident, by=member, urgency="urgent")
    services.incident_add_label(incident=incident, by=member, name="database")
    services.incident_add_label(incident=incident, by=member, name="database")
    incident.refresh_from_db()
    assert incident.urgency == "low"
    assert list(incident.labels.values_list("name", flat=True)) == ["database"]
    services.incident_remove_label(incident=incident, by=member, name="database")
    assert not incident.labels.exists()
    actions = list(incident.log.values_list("action", flat=True))
    assert actions.count(LogAction.LABEL_ADDED) == 1
    assert LogAction.URGENCY in actions and LogAction.LABEL_REMOVED in actions


def test_reopen_is_refused_when_the_dedup_id_is_open_again(service: Service, member: User) -> None:
    first = ingest.ingest_event(service=service, event=EventData(summary="a", dedup_id="k"))
    services.incident_resolve(incident=first, by=member)
    second = ingest.ingest_event(service=service, event=EventData(summary="b", dedup_id="k"))
    assert second.pk != first.pk
    with pytest.raises(ValidationError):
        services.incident_unresolve(incident=first, by=member)
    first.refresh_from_db()
    assert first.status == Status.RESOLVED


def test_bulk_acknowledges_what_it_can_and_reports_the_rest(service: Service, member: User) -> None:
    a = ingest.ingest_event(service=service, event=EventData(summary="a"))
    b = ingest.ingest_event(service=service, event=EventData(summary="b"))
    services.incident_resolve(incident=b, by=member)
    result = services.incidents_bulk(incidents=[a, b], by=member, action="acknowledge")
    assert [i.pk for i in result.changed] == [a.pk]
    assert [i.pk for i, _ in result.refused] == [b.pk]
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.status, b.status) == (Status.ACKNOWLEDGED, Status.RESOLVED)
