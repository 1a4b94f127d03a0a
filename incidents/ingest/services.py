"""The ingest path: an event opens an incident or joins the open one with its dedup id.

The hottest writes in the product: plain SQL where the ORM cost more than the round trip,
race-free dedup through the partial unique index `one_open_incident_per_dedup_id`, and the
incident numbered at the end of the opening transaction (`incident_number_assign`).
Transitions that an event's signals cause go through the state machine in
`incidents/services.py`.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from functools import partial
from typing import Any

import orjson
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from incidents import hooks
from incidents.live.publish import incident_changed
from incidents.models import (
    DEDUP_ID_MAX_LENGTH,
    SUMMARY_MAX_LENGTH,
    UNNUMBERED,
    Incident,
    IncidentCounter,
    IncidentEvent,
    LogAction,
    Status,
    Urgency,
)
from incidents.services import (
    ALLOWED_FROM,
    actor_name,
    incident_acknowledge,
    incident_add_note,
    incident_resolve,
    incident_silence,
    log_line,
    status_set,
)
from opsduty import rawsql
from opsduty.events import EventData, EventDirectives
from opsduty.models import Label, MaintenanceMode, Service, User
from opsduty.selectors import maintenance_in_effect
from signals.models import IncidentReference
from signals.receiver.services import reference_complete


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


def incident_number_next(organization_id: int) -> int:
    """The organization's next incident number, in one statement (the row lock serializes)."""
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_NUMBER_SQL, [organization_id])
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


_OPEN_INCIDENT_SQL = (
    f"SELECT {', '.join(rawsql.columns(Incident))} FROM {Incident._meta.db_table}"  # noqa: S608
    f" WHERE service_id = %s AND dedup_id = %s AND status <> '{Status.RESOLVED}'"
    " FOR NO KEY UPDATE"  # the incident row lock of every change (incidents/services.py _lock)
)


# The dedup id's latest incident, for an acknowledge or resolve that finds none open (the
# index `incident_dedup_latest`).
_LATEST_INCIDENT_SQL = (
    f"SELECT {', '.join(rawsql.columns(Incident))} FROM {Incident._meta.db_table}"  # noqa: S608
    " WHERE service_id = %s AND dedup_id = %s ORDER BY id DESC LIMIT 1 FOR NO KEY UPDATE"
)


def _open_incident(service: Service, dedup_id: str) -> Incident | None:
    """The open incident of this dedup id, locked (the partial unique index allows one).

    Plain SQL: this runs for every event, and building the ORM query cost more than the
    round trip. In a batch, a dedup id known to have none (`dedup_ids_without_open_incident`)
    is not looked up for its first event.
    """
    absent = hooks.batch_scratch(_ABSENT)
    if absent is not None and absent.pop((service.pk, dedup_id), False):
        return None
    return rawsql.fetch_one(Incident, _OPEN_INCIDENT_SQL, [service.pk, dedup_id])


_ABSENT = "dedup ids without an open incident"
_OPEN_AMONG_SQL = (
    f"SELECT DISTINCT service_id, dedup_id FROM {Incident._meta.db_table}"  # noqa: S608
    " WHERE (service_id, dedup_id) IN (SELECT * FROM unnest(%s::bigint[], %s::text[]))"
    f" AND status <> '{Status.RESOLVED}'"
)


def dedup_ids_without_open_incident(keys: list[tuple[int, str]]) -> None:
    """Inside `hooks.batch()`, before its events are ingested: note which of the batch's
    (service id, dedup id) have no open incident, in one query, so that the first event of
    each opens one without looking it up first. Not a lock: an incident that another
    transaction opens meanwhile makes the insert do nothing, and the event then finds it
    (`_find_or_create`), as without the note."""
    absent = hooks.batch_scratch(_ABSENT)
    if absent is None or not keys:
        return
    wanted = list(dict.fromkeys(keys))
    with connection.cursor() as cursor:
        cursor.execute(_OPEN_AMONG_SQL, [[k[0] for k in wanted], [k[1] for k in wanted]])
        found = {(int(service), str(dedup)) for service, dedup in cursor.fetchall()}
    absent.update((key, True) for key in wanted if key not in found)


_OPENED = "incidents opened ahead"


def incidents_open_together(events: list[tuple[Service, EventData]]) -> None:
    """Inside `hooks.batch()`, before its events (in their order) are ingested: open the
    incidents that their first event of a dedup id opens, in one statement.

    Each dedup id without an open incident (`dedup_ids_without_open_incident`) whose first
    event in the batch carries no acknowledge or resolve signal gets its incident here, with
    that event's fields; the event then takes it (`_find_or_create`) instead of inserting its
    own. A dedup id that another transaction opened meanwhile inserts nothing (the partial
    unique index, as for one incident), and its event finds that incident, as without this.
    The caller ingests every event it passed in the same transaction, or rolls back.
    """
    opened = hooks.batch_scratch(_OPENED)
    if opened is None or not events:
        return
    for _service, event in events:
        _validate_event(event)
    dedup_ids_without_open_incident([(service.pk, event.dedup_id) for service, event in events])
    absent = hooks.batch_scratch(_ABSENT) or {}
    first: dict[tuple[int, str], Incident] = {}
    for service, event in events:
        key = (service.pk, event.dedup_id)
        if key in first or not absent.get(key):
            continue
        if event.acknowledge or event.resolve:
            absent.pop(key, None)  # looked up as one event does (its latest incident)
            continue
        first[key] = _incident_new(service, event)
    if not first:
        return
    values, params = rawsql.values_rows([_insert_values(i) for i in first.values()])
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Incident._meta.db_table} ({_INCIDENT_COLUMNS}) {values}"  # noqa: S608
            f" ON CONFLICT (service_id, dedup_id) WHERE status <> '{Status.RESOLVED}' DO NOTHING"
            " RETURNING id, service_id, dedup_id",
            params,
        )
        for pk, service_id, dedup_id in cursor.fetchall():
            key = (int(service_id), str(dedup_id))
            opened[key] = rawsql.stored(first[key], int(pk))
    for key in first:
        absent.pop(key, None)  # opened here, or by another transaction: looked up


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


# Numbers for several incidents of one organization, in id order, in one statement: the
# counter moves by their count, and the k-th incident gets `last_number - count + k`.
_NUMBERS_ASSIGN_SQL = (
    f"WITH counter AS (INSERT INTO {_COUNTER} (organization_id, last_number)"  # noqa: S608
    " VALUES (%(org)s, %(count)s) ON CONFLICT (organization_id) DO UPDATE"
    f" SET last_number = {_COUNTER}.last_number + EXCLUDED.last_number RETURNING last_number)"
    f" UPDATE {Incident._meta.db_table} AS i"
    " SET number = (SELECT last_number FROM counter) - %(count)s + n.k"
    " FROM unnest(%(ids)s::bigint[]) WITH ORDINALITY AS n(id, k)"
    " WHERE i.id = n.id AND i.number = 0 RETURNING i.id, i.number"
)


def incidents_number_assign(incidents: list[Incident]) -> None:
    """`incident_number_assign` for the incidents a batch opened (`ingest_event_in_transaction`
    with `number_later`): one statement per organization, called last in the transaction."""
    by_org: dict[int, list[Incident]] = {}
    for incident in incidents:
        if incident.number == UNNUMBERED:
            by_org.setdefault(incident.organization_id, []).append(incident)
    for organization_id, group in by_org.items():
        group.sort(key=lambda incident: incident.pk)
        with connection.cursor() as cursor:
            cursor.execute(
                _NUMBERS_ASSIGN_SQL,
                {"org": organization_id, "count": len(group), "ids": [i.pk for i in group]},
            )
            numbers = dict(cursor.fetchall())
        for incident in group:
            incident.number = int(numbers[incident.pk])


# `incident_number_next` and the incident's UPDATE in one statement (one round trip in the window
# where the counter row is locked).
_NUMBER_ASSIGN_SQL = (
    f"WITH counter AS ({_NEXT_NUMBER_SQL})"  # noqa: S608 - our tables, values bound
    f" UPDATE {Incident._meta.db_table} SET number = (SELECT last_number FROM counter)"
    " WHERE id = %s RETURNING number"
)


_INSERT_FIELDS = [field for field in Incident._meta.concrete_fields if not field.primary_key]
_INCIDENT_COLUMNS = ", ".join(str(field.column) for field in _INSERT_FIELDS)
# Plain SQL rather than `save()` in a savepoint: a concurrent transaction that opened the
# same dedup id makes the insert do nothing (the partial unique index
# `one_open_incident_per_dedup_id`; PostgreSQL waits for that transaction first), and the
# caller appends to its incident instead: two round trips less than a savepoint per incident.
_INSERT_INCIDENT_SQL = (
    f"INSERT INTO {Incident._meta.db_table}"  # noqa: S608
    f" ({', '.join(str(field.column) for field in _INSERT_FIELDS)})"
    f" VALUES ({', '.join(['%s'] * len(_INSERT_FIELDS))})"
    f" ON CONFLICT (service_id, dedup_id) WHERE status <> '{Status.RESOLVED}' DO NOTHING"
    " RETURNING id"
)


def _incident_new(service: Service, event: EventData) -> Incident:
    """The incident an event opens, unnumbered and not saved."""
    return Incident(
        organization_id=service.organization_id,
        service=service,
        number=UNNUMBERED,
        summary=event.summary,
        description=event.description,
        source_url=event.source_url,
        urgency=event.urgency,
        dedup_id=event.dedup_id,
    )


def _insert_values(incident: Incident) -> list[Any]:
    """The incident's values for `_INSERT_FIELDS`."""
    return [
        field.get_db_prep_save(field.pre_save(incident, True), connection)
        for field in _INSERT_FIELDS
    ]


def _create_incident(service: Service, event: EventData) -> Incident | None:
    """Insert the incident, unnumbered (`ingest_event_in_transaction` numbers it at its end);
    None when an open incident of its dedup id was opened meanwhile."""
    incident = _incident_new(service, event)
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_INCIDENT_SQL, _insert_values(incident))
        row = cursor.fetchone()
    return None if row is None else rawsql.stored(incident, int(row[0]))


def _find_or_create(service: Service, event: EventData) -> tuple[Incident, bool]:
    """The open incident for the dedup id, or a new one; race-free through the unique index.

    Two transactions may both see no open incident; the partial unique index lets only one
    insert win, the other's insert does nothing and it appends to the winner's incident.

    An acknowledge or resolve that finds no open incident goes to the dedup id's latest one
    (resolved), where it changes nothing: a sender's retry of a resolve that was stored but
    not answered, or an acknowledge overtaken by its resolve, opens no incident (PagerDuty's
    Events API drops them). Only a dedup id never seen opens one, as the spec says (§4).
    """
    key = (service.pk, event.dedup_id)
    opened = hooks.batch_scratch(_OPENED)
    if opened and (early := opened.pop(key, None)) is not None:
        return early, True  # opened for it by `incidents_open_together`
    held = hooks.batch_scratch(hooks.OPEN_INCIDENTS)
    if held and (incident := held.get(key)) is not None:
        return incident, False  # an earlier event of the batch's, unchanged since
    incident = _open_incident(service, event.dedup_id)
    if incident is not None:
        return incident, False
    if event.acknowledge or event.resolve:
        latest = rawsql.fetch_one(Incident, _LATEST_INCIDENT_SQL, [service.pk, event.dedup_id])
        if latest is not None:
            return latest, False
    for _attempt in range(10):
        created = _create_incident(service, event)
        if created is not None:
            return created, True
        incident = _open_incident(service, event.dedup_id)
        if incident is not None:
            return incident, False
        # The winner was resolved meanwhile: try to open a fresh one again.
    raise RuntimeError(f"Dedup id {event.dedup_id!r} kept opening and resolving; try again.")


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
    *,
    service: Service,
    event: EventData,
    reference_id: int | None = None,
    number_later: list[Incident] | None = None,
) -> Incident:
    """`ingest_event` for a caller that holds the transaction (the pipeline): no savepoint.

    Precondition: inside `transaction.atomic()`; an error must roll the caller back.
    `number_later`: a new incident is added to it rather than numbered, and the caller numbers
    them all at the end of its transaction (`incidents_number_assign`).
    """
    _validate_event(event)
    incident, created = _find_or_create(service, event)
    incident.opened_by_event = created
    _event_insert(incident, event)
    if created:
        log_line(incident, None, LogAction.CREATED, "Incident created by an event")
        _join_service_maintenance(incident, service)
        _labels_attach(incident, service, event.labels)
        # The opening event's directives go with the change: the engine starts the right run,
        # or none, before anyone is paged.
        change = hooks.StatusChange(
            incident, None, Status.TRIGGERED, None, directives=event.directives
        )
        hooks.publish(change)
        incident.escalation_effects = tuple(change.effects)
        # Last: from here to commit the organization's counter row is locked (a few ms).
        if number_later is None:
            incident_number_assign(incident)
        else:
            number_later.append(incident)
    # An appended event is its own timeline entry (IncidentEvent); it needs no log line.
    _apply_signals(incident, event)
    if reference_id is not None:
        reference_complete(reference_id=reference_id, incident_id=incident.pk)
    held = hooks.batch_scratch(hooks.OPEN_INCIDENTS)
    if held is not None and incident.status != Status.RESOLVED:
        held[(service.pk, incident.dedup_id)] = incident
    return incident


_EVENT_INSERT_SQL = (
    f"INSERT INTO {IncidentEvent._meta.db_table} (organization_id, incident_id, summary,"  # noqa: S608
    " description, source_url, dedup_id, acknowledge, resolve, payload, processing,"
    " received_at, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb,"
    " %s, %s)"
)


# The events of a batch in one statement, in the order they came (`_events_insert`), as one
# JSON document (see incidents/log.py: cheaper to send than text arrays).
_EVENTS_INSERT_SQL = (
    f"INSERT INTO {IncidentEvent._meta.db_table} (organization_id, incident_id, summary,"  # noqa: S608
    " description, source_url, dedup_id, acknowledge, resolve, payload, processing,"
    " received_at, created_at)"
    " SELECT o, i, s, d, u, k, a, r, p, x, t, c FROM ROWS FROM (json_to_recordset(%s::json)"
    " AS (o bigint, i bigint, s text, d text, u text, k text, a boolean, r boolean, p jsonb,"
    " x jsonb, t timestamptz, c timestamptz)) WITH ORDINALITY"
    " AS e(o, i, s, d, u, k, a, r, p, x, t, c, n) ORDER BY n"
)


def _event_insert(incident: Incident, event: EventData) -> None:
    """Store the event on its incident (plain SQL: once per event, see `_open_incident`); in
    a batch, with the batch's other events at its end (`hooks.EVENTS`)."""
    now = timezone.now()
    batch = hooks.batch_scratch(hooks.EVENTS, _events_insert)
    if batch is not None:
        batch[len(batch)] = {
            "o": incident.organization_id,
            "i": incident.pk,
            "s": event.summary,
            "d": event.description,
            "u": event.source_url,
            "k": event.dedup_id,
            "a": event.acknowledge,
            "r": event.resolve,
            "p": event.payload,
            "x": event.processing,
            "t": event.received_at or now,
            "c": now,
        }
    else:
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
    # An appended event writes no log line, but it is on the incident's timeline.
    incident_changed(incident)


def _events_insert(rows: dict[int, dict[str, Any]]) -> None:
    ordered = [rows[n] for n in sorted(rows)]
    with connection.cursor() as cursor:
        cursor.execute(_EVENTS_INSERT_SQL, [orjson.dumps(ordered).decode()])


_LABELS_CREATE_SQL = (
    f"INSERT INTO {Label._meta.db_table}"  # noqa: S608
    ' (organization_id, name, color, team_id, created_at, "group")'
    " SELECT %s, name, %s, NULL, %s, '' FROM unnest(%s::text[]) AS name"
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
SELECT id, name FROM labels ORDER BY name
"""  # noqa: S608
# `_LABELS_CREATE_SQL` and `_LABELS_LINK_SQL` for a batch's new incidents, two statements in
# all: (organization, incident, team, name) rows.
_LABELS_CREATE_MANY_SQL = (
    f"INSERT INTO {Label._meta.db_table}"  # noqa: S608
    ' (organization_id, name, color, team_id, created_at, "group")'
    " SELECT DISTINCT o, name, %s, NULL::bigint, %s::timestamptz, ''"
    " FROM unnest(%s::bigint[], %s::text[]) AS w(o, name) ORDER BY o, name"
    " ON CONFLICT (organization_id, name) DO NOTHING"
)
_LABELS_LINK_MANY_SQL = f"""
WITH wanted AS (
    SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::text[])
        AS w(organization, incident, team, name)
), labels AS (
    SELECT w.incident, l.id, l.name FROM wanted w JOIN {Label._meta.db_table} l
        ON l.organization_id = w.organization AND l.name = w.name
        AND (l.team_id IS NULL OR l.team_id = w.team)
), linked AS (
    INSERT INTO {Incident.labels.through._meta.db_table} (incident_id, label_id)
    SELECT incident, id FROM labels ON CONFLICT DO NOTHING
)
SELECT incident, name FROM labels ORDER BY incident, name
"""  # noqa: S608


def _labels_attach(incident: Incident, service: Service, names: list[str]) -> None:
    """Put an event's labels on the incident it opened, in two statements; in a batch, with
    the labels of its other new incidents, at its end.

    Organization labels are created on first use; names of another team's labels and
    invalid names (empty, over 64 characters) are skipped, as `incident_add_label` refuses.
    Two statements, not one: the second must see labels that a concurrent transaction
    committed while the first waited on their names.
    """
    wanted = list(dict.fromkeys(name.strip() for name in names if 0 < len(name.strip()) <= 64))
    if not wanted:
        return
    batch = hooks.batch_scratch("labels", _labels_attach_many)
    if batch is not None:
        batch[incident.pk] = (incident, service.team_id, wanted)
        return
    with connection.cursor() as cursor:
        color = Label._meta.get_field("color").get_default()
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
        _labels_added(incident, [str(name) for _, name in cursor.fetchall()])


def _labels_attach_many(wanted: dict[int, tuple[Incident, int | None, list[str]]]) -> None:
    rows = [
        (incident.organization_id, incident.pk, team, name)
        for incident, team, names in wanted.values()
        for name in names
    ]
    organizations, incidents, teams, names = (list(column) for column in zip(*rows, strict=True))
    color = Label._meta.get_field("color").get_default()
    attached: dict[int, list[str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(_LABELS_CREATE_MANY_SQL, [color, timezone.now(), organizations, names])
        cursor.execute(_LABELS_LINK_MANY_SQL, [organizations, incidents, teams, names])
        for incident_id, name in cursor.fetchall():
            attached.setdefault(int(incident_id), []).append(str(name))
    for incident_id, (incident, _, _) in wanted.items():
        _labels_added(incident, attached.get(incident_id, []))


def _labels_added(incident: Incident, attached: list[str]) -> None:
    """The timeline's line of the labels an event put on its new incident."""
    if attached:
        names_text = ", ".join(f"“{name}”" for name in attached)
        log_line(incident, None, LogAction.LABEL_ADDED, f"Labels {names_text} added by OpsDuty")


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
    # In a batch, read once per service: the lock is held until commit, so the maintenance
    # it saw cannot change before then.
    mode, end = hooks.batch_memo(
        "service maintenance", service.pk, partial(_service_maintenance, service.pk)
    )
    if not maintenance_in_effect(mode=mode, end=end, now=now):
        return
    if mode == MaintenanceMode.DEBUG:
        log_line(
            incident, None, LogAction.MAINTENANCE, DEBUG_MAINTENANCE_MESSAGE, until=end.isoformat()
        )
        return
    parent = (
        Incident.objects.select_for_update(no_key=True)
        .filter(service_id=service.pk, is_maintenance=True)
        .exclude(status=Status.RESOLVED)
        .first()
    )
    if parent is not None:
        incident_number_assign(incident)  # the maintenance incident's log names it
        attach_to_maintenance(incident, parent)


def _service_maintenance(service_id: int) -> tuple[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute(_SERVICE_MAINTENANCE_SQL, [service_id])
        row = cursor.fetchone()
    assert row is not None  # the incident's service: the caller's insert references it
    return row[0], row[1]


def attach_to_maintenance(incident: Incident, parent: Incident) -> None:
    """Attach to the maintenance incident; both rows are locked by the caller.

    Unlike `incident_attach`, the child keeps its own status: an acknowledged incident stays
    acknowledged, so it does not page again when maintenance ends and it is detached.
    """
    incident.parent = parent
    incident.save(update_fields=["parent"])
    log_line(
        incident,
        None,
        LogAction.ATTACHED,
        f"Attached to maintenance incident #{parent.number}: the service is in maintenance, "
        "nobody is paged",
        parent=parent.pk,
    )
    log_line(
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
        log_line(
            incident,
            None,
            LogAction.SIGNAL_IGNORED,
            "Acknowledge signal ignored: incident is attached",
        )
        return
    if event.resolve and incident.status != Status.RESOLVED:
        status_set(incident, Status.RESOLVED, None, LogAction.RESOLVED)
    elif event.acknowledge and incident.status in ALLOWED_FROM[Status.ACKNOWLEDGED]:
        status_set(incident, Status.ACKNOWLEDGED, None, LogAction.ACKNOWLEDGED)
    elif incident.status == Status.RESOLVED:
        signal = "Resolve" if event.resolve else "Acknowledge"
        log_line(
            incident,
            None,
            LogAction.SIGNAL_IGNORED,
            f"{signal} signal ignored: incident already resolved",
        )


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
    log_line(incident, by, LogAction.CREATED, f"Triggered by hand by {actor_name(by)}")
    return incident


def event_directives_apply(*, incident: Incident, directives: EventDirectives) -> list[str]:
    """Apply the incident-level directives of an event that was just ingested, as the system;
    a line per effect (or why it was skipped), with the escalation engine's lines last.

    Notes, silence and acknowledge act on the incident the event opened (repeats of the same
    alert would otherwise add the note again and again); resolve acts on every event, like a
    resolve signal. The escalation directives were applied when the incident opened (the
    incidents hook), so nobody was paged who should not have been.
    """
    done: list[str] = []
    steps: list[tuple[str, Callable[[], object]]] = []
    opened = incident.opened_by_event
    if opened:
        steps += [
            (f"note: {note[:60]}", partial(_note, incident, note)) for note in directives.notes
        ]
        if directives.silence_minutes:
            minutes = directives.silence_minutes
            steps.append(
                (
                    f"silenced for {minutes} min",
                    partial(incident_silence, incident=incident, by=None, minutes=minutes),
                )
            )
        if directives.acknowledge:
            steps.append(
                ("acknowledged", partial(incident_acknowledge, incident=incident, by=None))
            )
    if directives.resolve:
        steps.append(("resolved", partial(incident_resolve, incident=incident, by=None)))
    for name, step in steps:
        try:
            step()
            done.append(name)
        except ValidationError as error:
            # e.g. silencing an incident that the event itself resolved: skip, say why.
            done.append(f"{name}: skipped ({' '.join(error.messages)})")
    if opened:
        done += incident.escalation_effects
    return done


def _note(incident: Incident, text: str) -> None:
    incident_add_note(incident=incident, by=None, text=text)


class IncidentSink:
    """What signals raise (heartbeats), into incidents: registered as `signals.hooks`' sink."""

    def open_or_append(self, *, service: Service, event: EventData) -> int:
        """Open or join the incident of `event`; the caller holds the transaction."""
        return ingest_event_in_transaction(service=service, event=event).pk

    def resolve_if_open(self, *, incident_id: int, note: str) -> None:
        """Resolve as the system unless resolved, a maintenance incident, or refused."""
        incident = Incident.objects.filter(pk=incident_id).first()
        if incident is None or incident.status == Status.RESOLVED or incident.is_maintenance:
            return
        # Refused, e.g., for an incident attached to a maintenance incident (it ends with that).
        with contextlib.suppress(ValidationError):
            incident_resolve(incident=incident, by=None, note=note)


# Run for every event, change or step; safe as generic plans (opsduty/rawsql.py).
rawsql.prepared(
    _NEXT_NUMBER_SQL,
    _OPEN_INCIDENT_SQL,
    _LATEST_INCIDENT_SQL,
    _OPEN_AMONG_SQL,
    _NUMBERS_ASSIGN_SQL,
    _NUMBER_ASSIGN_SQL,
    _INSERT_INCIDENT_SQL,
    _EVENT_INSERT_SQL,
    _EVENTS_INSERT_SQL,
    _LABELS_CREATE_MANY_SQL,
    _LABELS_LINK_MANY_SQL,
    _SERVICE_MAINTENANCE_SQL,
)
