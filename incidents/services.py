"""Every change to an incident goes through here: ingest, transitions, notes, labels, archive.

Each transition locks the incident row, checks the allowed source states, updates the
status fields, bumps `version`, writes a log entry and publishes `hooks.StatusChange` in
the same transaction. Callers (UI, API, Slack, phone, the pipeline, tasks) pass `by=None`
for the system. A refused action raises Django's ValidationError (422 in the API, a
message in the UI) and writes nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from incidents import hooks
from incidents.log import incident_log_write
from incidents.models import (
    DEDUP_ID_MAX_LENGTH,
    NOTE_MAX_LENGTH,
    SUMMARY_MAX_LENGTH,
    UNNUMBERED,
    Incident,
    IncidentCounter,
    IncidentEvent,
    IncidentNote,
    IncidentResponder,
    LogAction,
    ResponderStatus,
    Status,
    Urgency,
)
from opsduty import rawsql
from opsduty.models import Label, MaintenanceMode, Organization, Service, User
from signals.models import IncidentReference, ReferenceStatus

MAX_SILENCE_MINUTES = 7 * 24 * 60

_ALLOWED: dict[str, tuple[str, ...]] = {
    # target status -> statuses it may be reached from
    Status.ACKNOWLEDGED: (Status.TRIGGERED, Status.SILENCED),
    Status.SILENCED: (Status.TRIGGERED, Status.ACKNOWLEDGED),
    Status.RESOLVED: (Status.TRIGGERED, Status.ACKNOWLEDGED, Status.SILENCED),
}


@dataclass
class EventData:
    """A parsed event as the pipeline hands it over (receive channel output)."""

    summary: str
    dedup_id: str = ""
    description: str = ""
    source_url: str = ""
    urgency: str = Urgency.HIGH
    acknowledge: bool = False
    resolve: bool = False
    labels: list[str] = field(default_factory=list)
    payload: dict[str, Any] = field(default_factory=dict)
    received_at: datetime | None = None
    # How the pipeline parsed, routed and transformed it (shown on the incident timeline).
    processing: dict[str, Any] = field(default_factory=dict)


def _log(incident: Incident, actor: User | None, action: str, message: str, **data: Any) -> None:
    incident_log_write(incident=incident, actor=actor, action=action, message=message, data=data)


def _who(actor: User | None) -> str:
    return actor.get_full_name() if actor is not None else "OpsDuty"


def _lock(incident: Incident) -> Incident:
    """Re-read the incident under a row lock; the caller holds a transaction."""
    return Incident.objects.select_for_update().get(pk=incident.pk)


def _refuse(message: str) -> ValidationError:
    return ValidationError(message, code="invalid_transition")


def _set_status(incident: Incident, new_status: str, actor: User | None, action: str) -> None:
    """Apply a checked status change to a locked incident, log it and publish the hook."""
    now = timezone.now()
    old_status = incident.status
    incident.status = new_status
    incident.last_status_change_at = now
    incident.version = F("version") + 1
    if new_status == Status.ACKNOWLEDGED:
        incident.acknowledged_at = now
    elif new_status == Status.RESOLVED:
        incident.resolved_at = now
    elif new_status == Status.SILENCED:
        incident.silenced_at = now
    if new_status != Status.SILENCED:
        incident.silenced_until = None
    if new_status == Status.TRIGGERED:
        incident.acknowledged_at = None
        incident.resolved_at = None
        incident.silenced_at = None
    incident.save()
    incident.refresh_from_db(fields=["version"])
    label = LogAction(action).label
    _log(incident, actor, action, f"{label} by {_who(actor)}", old=old_status, new=new_status)
    hooks.publish(hooks.StatusChange(incident, old_status, new_status, actor))
    _cascade_to_children(incident, new_status, actor, action)


def _cascade_to_children(
    incident: Incident, new_status: str, actor: User | None, action: str
) -> None:
    """The parent keeps the state of the group: its open children follow it."""
    children = (
        Incident.objects.select_for_update().filter(parent=incident).exclude(status=new_status)
    )
    for child in children:
        if child.status == Status.RESOLVED:
            continue
        if new_status == Status.SILENCED:
            child.silenced_until = incident.silenced_until
        _set_status(child, new_status, actor, action)


def _require_not_maintenance(incident: Incident) -> None:
    """Maintenance owns its incident: only starting and ending maintenance change it."""
    if incident.is_maintenance:
        raise _refuse(
            f"Incident #{incident.number} is the maintenance incident of its service; "
            "nobody is paged while maintenance lasts. Stop maintenance on the service to end it."
        )


def _require_not_under_maintenance(incident: Incident) -> None:
    """Acknowledging an incident collected by a maintenance incident is refused (spec §B.5)."""
    if incident.parent_id is None:
        return
    parent = Incident.objects.filter(pk=incident.parent_id, is_maintenance=True).first()
    if parent is not None:
        raise _refuse(
            f"Incident #{incident.number} is attached to maintenance incident #{parent.number}: "
            "its service is in maintenance and nobody is paged, so it cannot be acknowledged."
        )


def _require_not_attached(incident: Incident) -> None:
    if incident.parent_id is not None:
        raise _refuse(
            f"Incident #{incident.number} is attached to another incident; "
            "act on that incident or detach this one first."
        )


# --- responder actions ---------------------------------------------------------------------


@transaction.atomic
def incident_acknowledge(*, incident: Incident, by: User | None) -> Incident:
    """Someone is on it: stop escalation. Refused for resolved or attached incidents."""
    incident = _lock(incident)
    _require_not_maintenance(incident)
    _require_not_under_maintenance(incident)
    _require_not_attached(incident)
    if incident.status == Status.ACKNOWLEDGED:
        raise _refuse("The incident is already acknowledged.")
    if incident.status not in _ALLOWED[Status.ACKNOWLEDGED]:
        raise _refuse(f"Cannot acknowledge an incident that is {incident.status}.")
    _set_status(incident, Status.ACKNOWLEDGED, by, LogAction.ACKNOWLEDGED)
    if by is not None:
        _responder_active(incident, by)
    return incident


@transaction.atomic
def incident_unacknowledge(*, incident: Incident, by: User | None) -> Incident:
    """Hand an acknowledged incident back: it is triggered and escalates again."""
    incident = _lock(incident)
    _require_not_attached(incident)
    if incident.status != Status.ACKNOWLEDGED:
        raise _refuse(
            f"Only an acknowledged incident can be unacknowledged (it is {incident.status})."
        )
    _set_status(incident, Status.TRIGGERED, by, LogAction.UNACKNOWLEDGED)
    return incident


@transaction.atomic
def incident_resolve(*, incident: Incident, by: User | None, note: str | None = None) -> Incident:
    """Close the incident, optionally recording why as a note."""
    incident = _lock(incident)
    if incident.status == Status.RESOLVED:
        raise _refuse("The incident is already resolved.")
    _require_not_maintenance(incident)
    if note:
        _note_create(incident, by, note)
    _set_status(incident, Status.RESOLVED, by, LogAction.RESOLVED)
    return incident


@transaction.atomic
def incident_unresolve(*, incident: Incident, by: User | None) -> Incident:
    """Re-open an incident resolved too early (triggered again)."""
    incident = _lock(incident)
    if incident.status != Status.RESOLVED:
        raise _refuse(f"Only a resolved incident can be reopened (it is {incident.status}).")
    _require_not_maintenance(incident)
    clash = (
        Incident.objects.filter(service_id=incident.service_id, dedup_id=incident.dedup_id)
        .exclude(status=Status.RESOLVED)
        .first()
    )
    if clash is not None:
        raise _refuse(
            f"Incident #{clash.number} is open with the same deduplication id; "
            "reopen refused so events keep one home."
        )
    if incident.parent_id is not None and not Incident.objects.get(pk=incident.parent_id).is_open:
        incident.parent = None  # its group is closed: come back on its own
    _set_status(incident, Status.TRIGGERED, by, LogAction.REOPENED)
    return incident


@transaction.atomic
def incident_silence(*, incident: Incident, by: User | None, minutes: int | None) -> Incident:
    """Pause escalation for `minutes`; unless acknowledged or resolved by then, it re-triggers."""
    if minutes is None or not isinstance(minutes, int) or isinstance(minutes, bool):
        raise ValidationError({"minutes": "A silence needs a duration in whole minutes."})
    if not 1 <= minutes <= MAX_SILENCE_MINUTES:
        raise ValidationError({"minutes": f"Silence for 1 to {MAX_SILENCE_MINUTES} minutes."})
    incident = _lock(incident)
    _require_not_maintenance(incident)
    _require_not_attached(incident)
    if incident.status not in _ALLOWED[Status.SILENCED]:
        raise _refuse(f"Cannot silence an incident that is {incident.status}.")
    incident.silenced_until = timezone.now() + timedelta(minutes=minutes)
    _set_status(incident, Status.SILENCED, by, LogAction.SILENCED)
    _log(
        incident,
        by,
        LogAction.SILENCED,
        f"Silenced for {minutes} minutes, until {incident.silenced_until.isoformat()}",
        minutes=minutes,
    )
    due = incident.silenced_until
    transaction.on_commit(lambda: _schedule_silence_end(incident.pk, due))
    return incident


def _schedule_silence_end(incident_id: int, due: datetime) -> None:
    from incidents.tasks import incident_silence_expire

    incident_silence_expire.apply_async(args=(incident_id,), eta=due)


@transaction.atomic
def incident_silence_expire(*, incident_id: int, now: datetime | None = None) -> bool:
    """End a due silence (system). Exactly once: only a still-silenced, due incident changes.

    The ETA task and the sweeper may both call this; the row lock plus the state check make
    the second call a no-op, as does a silence that was extended or ended in the meantime.
    """
    now = now or timezone.now()
    incident = (
        Incident.objects.select_for_update(skip_locked=True)
        .filter(pk=incident_id, status=Status.SILENCED, silenced_until__lte=now)
        .first()
    )
    if incident is None:
        return False
    _set_status(incident, Status.TRIGGERED, None, LogAction.UNSILENCED)
    return True


def incident_silences_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Ids of silenced incidents whose silence has ended (for the sweeper)."""
    now = now or timezone.now()
    return list(
        Incident.objects.filter(status=Status.SILENCED, silenced_until__lte=now)
        .order_by("silenced_until")
        .values_list("id", flat=True)[:limit]
    )


@transaction.atomic
def incident_attach(*, incident: Incident, parent: Incident, by: User | None) -> Incident:
    """Attach an open incident to another open one; it then follows the parent's state."""
    if incident.organization_id != parent.organization_id:
        raise ValidationError({"parent": "Unknown incident."})
    if incident.pk == parent.pk:
        raise _refuse("An incident cannot be attached to itself.")
    first, second = sorted([incident.pk, parent.pk])
    locked = {i.pk: i for i in Incident.objects.select_for_update().filter(pk__in=[first, second])}
    incident, parent = locked[incident.pk], locked[parent.pk]
    if not incident.is_open or not parent.is_open:
        raise _refuse("Only open incidents can be attached to open incidents.")
    if parent.parent_id is not None:
        raise _refuse(f"Incident #{parent.number} is itself attached; attach to its parent.")
    if incident.parent_id is not None:
        raise _refuse(f"Incident #{incident.number} is already attached; detach it first.")
    _require_not_maintenance(incident)
    if Incident.objects.filter(parent=incident).exists():
        raise _refuse(f"Incident #{incident.number} has attached incidents of its own.")
    incident.parent = parent
    incident.save(update_fields=["parent"])
    _log(
        incident,
        by,
        LogAction.ATTACHED,
        f"Attached to #{parent.number} by {_who(by)}",
        parent=parent.pk,
    )
    _log(
        parent,
        by,
        LogAction.ATTACHED,
        f"#{incident.number} attached by {_who(by)}",
        child=incident.pk,
    )
    if incident.status != parent.status:
        if parent.status == Status.SILENCED:
            incident.silenced_until = parent.silenced_until
        _set_status(incident, parent.status, by, _ACTION_FOR_STATUS[parent.status])
    return incident


_ACTION_FOR_STATUS: dict[str, str] = {
    Status.TRIGGERED: LogAction.UNACKNOWLEDGED,
    Status.ACKNOWLEDGED: LogAction.ACKNOWLEDGED,
    Status.SILENCED: LogAction.SILENCED,
    Status.RESOLVED: LogAction.RESOLVED,
}


@transaction.atomic
def incident_detach(*, incident: Incident, by: User | None) -> Incident:
    """Detach from the parent; the incident keeps its current state and stands alone."""
    incident = _lock(incident)
    if incident.parent_id is None:
        raise _refuse(f"Incident #{incident.number} is not attached.")
    parent = Incident.objects.get(pk=incident.parent_id)
    incident.parent = None
    incident.save(update_fields=["parent"])
    _log(incident, by, LogAction.DETACHED, f"Detached from #{parent.number} by {_who(by)}")
    _log(parent, by, LogAction.DETACHED, f"#{incident.number} detached by {_who(by)}")
    return incident


def _note_create(incident: Incident, by: User | None, text: str) -> IncidentNote:
    text = (text or "").strip()
    if not text:
        raise ValidationError({"note": "A note cannot be empty."})
    if len(text) > NOTE_MAX_LENGTH:
        raise ValidationError({"note": f"A note can be at most {NOTE_MAX_LENGTH} characters."})
    note = IncidentNote.objects.create(
        organization_id=incident.organization_id, incident=incident, author=by, text=text
    )
    _log(incident, by, LogAction.NOTE, f"Note added by {_who(by)}", note=note.pk)
    return note


@transaction.atomic
def incident_add_note(*, incident: Incident, by: User | None, text: str) -> IncidentNote:
    """Record context on the timeline without changing the status."""
    return _note_create(incident, by, text)


@transaction.atomic
def incident_set_urgency(*, incident: Incident, by: User | None, urgency: str) -> Incident:
    """Change the urgency (high/low)."""
    if urgency not in Urgency.values:
        raise ValidationError({"urgency": "Urgency must be 'high' or 'low'."})
    incident = _lock(incident)
    if incident.urgency == urgency:
        return incident
    old = incident.urgency
    incident.urgency = urgency
    incident.save(update_fields=["urgency"])
    _log(
        incident,
        by,
        LogAction.URGENCY,
        f"Urgency {old} → {urgency} by {_who(by)}",
        old=old,
        new=urgency,
    )
    return incident


def _label_get_or_create(organization: Organization, name: str) -> Label:
    name = name.strip()
    if not name or len(name) > 64:
        raise ValidationError({"label": "A label name has 1 to 64 characters."})
    label, _ = Label.objects.get_or_create(organization=organization, name=name)
    return label


@transaction.atomic
def incident_add_label(*, incident: Incident, by: User | None, name: str) -> Label:
    """Put a label (an org label, created on first use) on the incident."""
    label = _label_get_or_create(incident.organization, name)
    if label.team_id is not None and label.team_id != incident.service.team_id:
        raise ValidationError({"label": f"“{label.name}” is a label of another team."})
    if not incident.labels.filter(pk=label.pk).exists():
        incident.labels.add(label)
        _log(incident, by, LogAction.LABEL_ADDED, f"Label “{label.name}” added by {_who(by)}")
    return label


@transaction.atomic
def incident_remove_label(*, incident: Incident, by: User | None, name: str) -> None:
    """Take a label off the incident (no-op when it does not carry it)."""
    label = incident.labels.filter(name=name.strip()).first()
    if label is not None:
        incident.labels.remove(label)
        _log(incident, by, LogAction.LABEL_REMOVED, f"Label “{label.name}” removed by {_who(by)}")


def _responder_active(incident: Incident, user: User) -> None:
    now = timezone.now()
    IncidentResponder.objects.update_or_create(
        incident=incident,
        user=user,
        defaults={
            "organization_id": incident.organization_id,
            "status": ResponderStatus.ACTIVE,
            "status_updated_at": now,
        },
    )


@dataclass
class BulkResult:
    changed: list[Incident]
    refused: list[tuple[Incident, str]]


@transaction.atomic
def incidents_bulk(*, incidents: Iterable[Incident], by: User, action: str) -> BulkResult:
    """Acknowledge or resolve many; incidents where the action is refused are reported."""
    apply = {"acknowledge": incident_acknowledge, "resolve": incident_resolve}.get(action)
    if apply is None:
        raise ValidationError({"action": "Bulk action must be 'acknowledge' or 'resolve'."})
    result = BulkResult([], [])
    for incident in incidents:
        try:
            with transaction.atomic():
                result.changed.append(apply(incident=incident, by=by))
        except ValidationError as error:
            result.refused.append((incident, " ".join(error.messages)))
    return result


@transaction.atomic
def incidents_archive(*, organization: Organization, before: datetime, by: User) -> int:
    """Hide incidents created before `before`; open ones are resolved by the system first.

    An open maintenance incident is left alone (neither resolved nor hidden): its service is
    in maintenance, and resolving it would let the service's new incidents stand alone (and
    resolve its children with it). It is resolved when maintenance ends.
    """
    if not by.is_owner or by.organization_id != organization.pk:
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied("Only owners can archive incidents.")
    if before > timezone.now():
        raise ValidationError({"before": "Choose a time in the past."})
    targets = (
        Incident.objects.for_org(organization)
        .filter(created_at__lt=before, archived_at=None)
        .exclude(Q(is_maintenance=True) & ~Q(status=Status.RESOLVED))
    )
    for incident in targets.exclude(status=Status.RESOLVED).select_for_update().order_by("id"):
        _set_status(incident, Status.RESOLVED, None, LogAction.RESOLVED)
        _log(incident, by, LogAction.ARCHIVED, f"Resolved by the archive requested by {_who(by)}")
    return targets.update(archived_at=timezone.now())


# --- ingest --------------------------------------------------------------------------------


def _validate_event(event: EventData) -> None:
    if event.urgency not in Urgency.values:
        event.urgency = Urgency.HIGH
    event.summary = (event.summary or "").strip()[:SUMMARY_MAX_LENGTH] or "(no summary)"
    event.dedup_id = (event.dedup_id or "").strip()[:DEDUP_ID_MAX_LENGTH] or secrets.token_hex(16)


_COUNTER = IncidentCounter._meta.db_table
_NEXT_NUMBER_SQL = (
    f"INSERT INTO {_COUNTER} (organization_id, last_number) VALUES (%s, 1) "  # noqa: S608
    f"ON CONFLICT (organization_id) DO UPDATE SET last_number = {_COUNTER}.last_number + 1 "
    "RETURNING last_number"
)


def _next_number(organization_id: int) -> int:
    """The organization's next incident number, in one statement (the row lock serializes)."""
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_NUMBER_SQL, [organization_id])
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


_OPEN_INCIDENT_SQL = (
    f"SELECT {', '.join(rawsql.columns(Incident))} FROM {Incident._meta.db_table}"  # noqa: S608
    " WHERE service_id = %s AND dedup_id = %s AND status <> 'resolved' FOR UPDATE"
)


def _open_incident(service: Service, dedup_id: str) -> Incident | None:
    """The open incident of this dedup id, locked (the partial unique index allows one).

    Plain SQL: this runs for every event, and building the ORM query cost more than the
    round trip.
    """
    return rawsql.fetch_one(Incident, _OPEN_INCIDENT_SQL, [service.pk, dedup_id])


def incident_number_assign(incident: Incident) -> None:
    """Give an incident opened with `UNNUMBERED` its organization's next number (idempotent).

    Called as late as possible in the transaction that opened it: the counter row stays
    locked until commit, and every other transaction opening an incident in the organization
    waits for that lock. The unique (organization, number) constraint is checked at commit
    (deferred), so unnumbered incidents of concurrent transactions never wait on each other.
    """
    if incident.number != UNNUMBERED:
        return
    with connection.cursor() as cursor:
        cursor.execute(_NUMBER_ASSIGN_SQL, [incident.organization_id, incident.pk])
        row = cursor.fetchone()
    assert row is not None
    incident.number = int(row[0])


# `_next_number` and the incident's UPDATE in one statement (one round trip in the window
# where the counter row is locked).
_NUMBER_ASSIGN_SQL = (
    f"WITH counter AS ({_NEXT_NUMBER_SQL})"  # noqa: S608 - our tables, values bound
    f" UPDATE {Incident._meta.db_table} SET number = (SELECT last_number FROM counter)"
    " WHERE id = %s RETURNING number"
)


def _create_incident(service: Service, event: EventData) -> Incident:
    """Insert the incident, unnumbered: `ingest_event_in_transaction` numbers it at its end."""
    incident = Incident(
        organization_id=service.organization_id,
        service=service,
        number=UNNUMBERED,
        summary=event.summary,
        description=event.description,
        source_url=event.source_url,
        urgency=event.urgency,
        dedup_id=event.dedup_id,
    )
    incident.save()
    return incident


def _find_or_create(service: Service, event: EventData) -> tuple[Incident, bool]:
    """The open incident for the dedup id, or a new one; race-free through the unique index.

    Two transactions may both see no open incident; the partial unique index lets only one
    insert win, the other rolls back its savepoint and appends to the winner's incident.
    """
    incident = _open_incident(service, event.dedup_id)
    if incident is not None:
        return incident, False
    try:
        with transaction.atomic():
            return _create_incident(service, event), True
    except IntegrityError:
        incident = _open_incident(service, event.dedup_id)
        if incident is None:  # the winner resolved it meanwhile: open a fresh one
            with transaction.atomic():
                return _create_incident(service, event), True
        return incident, False


@transaction.atomic
def ingest_event(
    *,
    service: Service,
    event: EventData,
    reference: IncidentReference | None = None,
    reference_id: int | None = None,
) -> Incident:
    """Append `event` to the open incident with its dedup id on `service`, or open one.

    The event's acknowledge / resolve signals then act on the incident (as the system).
    The incident reference (`reference` or its id) is completed with the incident.
    """
    return ingest_event_in_transaction(
        service=service,
        event=event,
        reference_id=reference.pk if reference is not None else reference_id,
    )


def ingest_event_in_transaction(
    *, service: Service, event: EventData, reference_id: int | None = None
) -> Incident:
    """`ingest_event` for a caller that holds the transaction (the pipeline): no savepoint.

    Precondition: inside `transaction.atomic()`; an error must roll the caller back.
    """
    _validate_event(event)
    incident, created = _find_or_create(service, event)
    incident.opened_by_event = created
    _event_insert(incident, event)
    if created:
        _log(incident, None, LogAction.CREATED, "Incident created by an event")
        _join_service_maintenance(incident, service)
        _labels_attach(incident, service, event.labels)
        hooks.publish(hooks.StatusChange(incident, None, Status.TRIGGERED, None))
        # Last: from here to commit the organization's counter row is locked (a few ms).
        incident_number_assign(incident)
    # An appended event is its own timeline entry (IncidentEvent); it needs no log line.
    _apply_signals(incident, event)
    if reference_id is not None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {IncidentReference._meta.db_table} SET status = %s, incident_id = %s,"  # noqa: S608
                " updated_at = %s WHERE id = %s",
                [ReferenceStatus.COMPLETED, incident.pk, timezone.now(), reference_id],
            )
    return incident


_EVENT_INSERT_SQL = (
    f"INSERT INTO {IncidentEvent._meta.db_table} (organization_id, incident_id, summary,"  # noqa: S608
    " description, source_url, dedup_id, acknowledge, resolve, payload, processing,"
    " received_at, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb,"
    " %s, %s)"
)


def _event_insert(incident: Incident, event: EventData) -> None:
    """Store the event on its incident (plain SQL: once per event, see `_open_incident`)."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _EVENT_INSERT_SQL,
            [
                incident.organization_id,
                incident.pk,
                event.summary,
                event.description,
                event.source_url,
                event.dedup_id,
                event.acknowledge,
                event.resolve,
                orjson.dumps(event.payload).decode(),
                orjson.dumps(event.processing).decode(),
                event.received_at or now,
                now,
            ],
        )


_LABELS_CREATE_SQL = (
    f"INSERT INTO {Label._meta.db_table} (organization_id, name, color, team_id, created_at)"  # noqa: S608
    " SELECT %s, name, %s, NULL, %s FROM unnest(%s::text[]) AS name"
    " ON CONFLICT (organization_id, name) DO NOTHING"
)
_LABELS_LINK_SQL = f"""
WITH labels AS (
    SELECT id, name FROM {Label._meta.db_table}
    WHERE organization_id = %(org)s AND name = ANY(%(names)s::text[])
        AND (team_id IS NULL OR team_id = %(team)s)
), linked AS (
    INSERT INTO {Incident.labels.through._meta.db_table} (incident_id, label_id)
    SELECT %(incident)s, id FROM labels ON CONFLICT DO NOTHING
)
SELECT name FROM labels ORDER BY name
"""  # noqa: S608


def _labels_attach(incident: Incident, service: Service, names: list[str]) -> None:
    """Put an event's labels on the incident it opened, in two statements.

    Organization labels are created on first use; names of another team's labels and
    invalid names (empty, over 64 characters) are skipped, as `incident_add_label` refuses.
    Two statements, not one: the second must see labels that a concurrent transaction
    committed while the first waited on their names.
    """
    wanted = list(dict.fromkeys(name.strip() for name in names if 0 < len(name.strip()) <= 64))
    if not wanted:
        return
    color = Label._meta.get_field("color").get_default()
    with connection.cursor() as cursor:
        cursor.execute(
            _LABELS_CREATE_SQL, [incident.organization_id, color, timezone.now(), wanted]
        )
        cursor.execute(
            _LABELS_LINK_SQL,
            {
                "org": incident.organization_id,
                "names": wanted,
                "team": service.team_id,
                "incident": incident.pk,
            },
        )
        attached = [str(row[0]) for row in cursor.fetchall()]
    if attached:
        names_text = ", ".join(f"“{name}”" for name in attached)
        _log(incident, None, LogAction.LABEL_ADDED, f"Labels {names_text} added by OpsDuty")


DEBUG_MAINTENANCE_MESSAGE = "Service in debug maintenance: escalation paused"
_SERVICE_MAINTENANCE_SQL = (
    f"SELECT maintenance_mode, maintenance_window_end FROM {Service._meta.db_table}"  # noqa: S608
    " WHERE id = %s FOR KEY SHARE"
)


def _join_service_maintenance(incident: Incident, service: Service) -> None:
    """A new incident on a service in maintenance: attached (`maintenance`) or logged (`debug`).

    Runs after the insert, and reads the service row `FOR KEY SHARE` (held until commit).
    `incident_maintenance_open` runs under the service's row lock (`FOR UPDATE`, which
    conflicts), so either this read waits for the committed maintenance and sees it, or the
    opener waits for this transaction and then collects this incident. Incidents opening
    together share the lock and never wait for each other. Locking the maintenance incident
    makes ending maintenance wait for this attach (and skips a maintenance incident resolved
    meanwhile). Outside maintenance: one pk lookup.
    """
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_SERVICE_MAINTENANCE_SQL, [service.pk])
        row = cursor.fetchone()
    assert row is not None  # the incident's service: the caller's insert references it
    mode, end = row
    if not mode or end is None or end <= now:
        return
    if mode == MaintenanceMode.DEBUG:
        _log(
            incident, None, LogAction.MAINTENANCE, DEBUG_MAINTENANCE_MESSAGE, until=end.isoformat()
        )
        return
    parent = (
        Incident.objects.select_for_update()
        .filter(service_id=service.pk, is_maintenance=True)
        .exclude(status=Status.RESOLVED)
        .first()
    )
    if parent is not None:
        incident_number_assign(incident)  # the maintenance incident's log names it
        attach_to_maintenance(incident, parent)


def attach_to_maintenance(incident: Incident, parent: Incident) -> None:
    """Attach to the maintenance incident; both rows are locked by the caller.

    Unlike `incident_attach`, the child keeps its own status: an acknowledged incident stays
    acknowledged, so it does not page again when maintenance ends and it is detached.
    """
    incident.parent = parent
    incident.save(update_fields=["parent"])
    _log(
        incident,
        None,
        LogAction.ATTACHED,
        f"Attached to maintenance incident #{parent.number}: the service is in maintenance, "
        "nobody is paged",
        parent=parent.pk,
    )
    _log(
        parent,
        None,
        LogAction.ATTACHED,
        f"#{incident.number} attached (service in maintenance)",
        child=incident.pk,
    )


def _apply_signals(incident: Incident, event: EventData) -> None:
    if not (event.acknowledge or event.resolve):
        return
    if incident.parent_id is not None and not event.resolve:
        _log(
            incident,
            None,
            LogAction.SIGNAL_IGNORED,
            "Acknowledge signal ignored: incident is attached",
        )
        return
    if event.resolve and incident.status != Status.RESOLVED:
        _set_status(incident, Status.RESOLVED, None, LogAction.RESOLVED)
    elif event.acknowledge and incident.status in _ALLOWED[Status.ACKNOWLEDGED]:
        _set_status(incident, Status.ACKNOWLEDGED, None, LogAction.ACKNOWLEDGED)


@transaction.atomic
def incident_trigger(
    *, service: Service, by: User, summary: str, description: str = "", urgency: str = Urgency.HIGH
) -> Incident:
    """Open an incident by hand (UI "New incident"); it escalates like any other."""
    if not (summary or "").strip():
        raise ValidationError({"summary": "An incident needs a summary."})
    if urgency not in Urgency.values:
        raise ValidationError({"urgency": "Urgency must be 'high' or 'low'."})
    incident = ingest_event(
        service=service,
        event=EventData(
            summary=summary,
            description=description,
            urgency=urgency,
            payload={"source": "manual", "user_id": by.pk},
        ),
    )
    _log(incident, by, LogAction.CREATED, f"Triggered by hand by {_who(by)}")
    return incident
