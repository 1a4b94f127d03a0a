"""The incident state machine: transitions, notes, labels, attach, archive. New incidents and
the events that join them come in through `incidents/ingest/services.py`.

Each transition locks the incident row, checks the allowed source states, updates the
status fields, bumps `version`, writes a log entry and publishes `hooks.StatusChange` in
the same transaction. Callers (UI, API, Slack, phone, the pipeline, tasks) pass `by=None`
for the system. A refused action raises Django's ValidationError (422 in the API, a
message in the UI) and writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from incidents import hooks
from incidents.log import incident_log_write
from incidents.models import (
    NOTE_MAX_LENGTH,
    Incident,
    IncidentLogEntry,
    IncidentNote,
    IncidentResponder,
    LogAction,
    ResponderStatus,
    Status,
    Urgency,
)
from opsduty import rawsql
from opsduty.live import live_notice
from opsduty.models import Label, Organization, User
from opsduty.queue import enqueue_or_sweep
from opsduty.services import labels_by_name
from opsduty.text import text_strip

MAX_SILENCE_MINUTES = 7 * 24 * 60

ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    # target status -> statuses it may be reached from
    Status.ACKNOWLEDGED: (Status.TRIGGERED, Status.SILENCED),
    Status.SILENCED: (Status.TRIGGERED, Status.ACKNOWLEDGED),
    Status.RESOLVED: (Status.TRIGGERED, Status.ACKNOWLEDGED, Status.SILENCED),
}


def log_line(
    incident: Incident, actor: User | None, action: str, message: str, **data: Any
) -> None:
    incident_log_write(incident=incident, actor=actor, action=action, message=message, data=data)


def actor_name(actor: User | None) -> str:
    return actor.get_full_name() if actor is not None else "OpsDuty"


def _lock(incident: Incident) -> Incident:
    """Re-read the incident under its row lock; the caller holds a transaction.

    The first lock of every change to an incident (docs/architecture.md, "Locking order"):
    the incident row, then its escalation run, then its notification rows by id. `FOR NO KEY
    UPDATE`, the lock an UPDATE of non-key columns takes anyway: it does not conflict with the
    `FOR KEY SHARE` that PostgreSQL's (deferred) foreign-key checks take when another
    transaction inserts a row pointing at the incident (a log line, a notification), so their
    COMMIT never waits for us.
    """
    return Incident.objects.select_for_update(no_key=True).get(pk=incident.pk)


def _refuse(message: str) -> ValidationError:
    return ValidationError(message, code="invalid_transition")


# A status change in one statement: the status fields (and `parent`, which a reopen clears),
# the version bumped and returned, and whether the incident has children the change should
# cascade to (open ones in another state), so that a change without children (nearly all of
# them) takes one round trip instead of the ORM's save, re-read and children query.
_STATUS_SET_SQL = (
    f"UPDATE {Incident._meta.db_table} AS i SET status = %(status)s,"  # noqa: S608 - our table
    " last_status_change_at = %(now)s, acknowledged_at = %(acknowledged_at)s,"
    " resolved_at = %(resolved_at)s, silenced_at = %(silenced_at)s,"
    " silenced_until = %(silenced_until)s, parent_id = %(parent)s, version = i.version + 1"
    " WHERE i.id = %(id)s RETURNING i.version, EXISTS (SELECT 1"
    f" FROM {Incident._meta.db_table} AS c WHERE c.parent_id = i.id"
    " AND c.status <> %(status)s AND c.status <> %(resolved)s)"
)


def status_set(incident: Incident, new_status: str, actor: User | None, action: str) -> None:
    """Apply a checked status change to a locked incident, log it and publish the hook."""
    now = timezone.now()
    old_status = incident.status
    incident.status = new_status
    incident.last_status_change_at = now
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
    with connection.cursor() as cursor:
        cursor.execute(
            _STATUS_SET_SQL,
            {
                "id": incident.pk,
                "status": new_status,
                "now": now,
                "acknowledged_at": incident.acknowledged_at,
                "resolved_at": incident.resolved_at,
                "silenced_at": incident.silenced_at,
                "silenced_until": incident.silenced_until,
                "parent": incident.parent_id,
                "resolved": Status.RESOLVED,
            },
        )
        incident.version, cascades = cursor.fetchone()
    label = LogAction(action).label
    log_line(
        incident, actor, action, f"{label} by {actor_name(actor)}", old=old_status, new=new_status
    )
    hooks.publish(hooks.StatusChange(incident, old_status, new_status, actor))
    if cascades:
        _cascade_to_children(incident, new_status, actor, action)


def _cascade_to_children(
    incident: Incident, new_status: str, actor: User | None, action: str
) -> None:
    """The parent keeps the state of the group: its open children follow it."""
    children = (
        Incident.objects.select_for_update(no_key=True)
        .filter(parent=incident)
        .exclude(status=new_status)
        .order_by("pk")  # the locking order: a parent, then its children by id
    )
    for child in children:
        if child.status == Status.RESOLVED:
            continue
        if new_status == Status.SILENCED:
            child.silenced_until = incident.silenced_until
        status_set(child, new_status, actor, action)


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
    if incident.status not in ALLOWED_FROM[Status.ACKNOWLEDGED]:
        raise _refuse(f"Cannot acknowledge an incident that is {incident.status}.")
    status_set(incident, Status.ACKNOWLEDGED, by, LogAction.ACKNOWLEDGED)
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
    status_set(incident, Status.TRIGGERED, by, LogAction.UNACKNOWLEDGED)
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
    status_set(incident, Status.RESOLVED, by, LogAction.RESOLVED)
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
    status_set(incident, Status.TRIGGERED, by, LogAction.REOPENED)
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
    if incident.status not in ALLOWED_FROM[Status.SILENCED]:
        raise _refuse(f"Cannot silence an incident that is {incident.status}.")
    incident.silenced_until = timezone.now() + timedelta(minutes=minutes)
    status_set(incident, Status.SILENCED, by, LogAction.SILENCED)
    log_line(
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
    enqueue_or_sweep("incidents.silence_expire", (incident_id,), eta=due)


@transaction.atomic
def incident_silence_expire(*, incident_id: int, now: datetime | None = None) -> bool:
    """End a due silence (system). Exactly once: only a still-silenced, due incident changes.

    The ETA task and the sweeper may both call this; the row lock plus the state check make
    the second call a no-op, as does a silence that was extended or ended in the meantime.
    """
    now = now or timezone.now()
    incident = (
        Incident.objects.select_for_update(skip_locked=True, no_key=True)
        .filter(pk=incident_id, status=Status.SILENCED, silenced_until__lte=now)
        .first()
    )
    if incident is None:
        return False
    status_set(incident, Status.TRIGGERED, None, LogAction.UNSILENCED)
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
    both = Incident.objects.select_for_update(no_key=True).filter(pk__in=[first, second])
    locked = {i.pk: i for i in both.order_by("pk")}
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
    log_line(
        incident,
        by,
        LogAction.ATTACHED,
        f"Attached to #{parent.number} by {actor_name(by)}",
        parent=parent.pk,
    )
    log_line(
        parent,
        by,
        LogAction.ATTACHED,
        f"#{incident.number} attached by {actor_name(by)}",
        child=incident.pk,
    )
    if incident.status != parent.status:
        if parent.status == Status.SILENCED:
            incident.silenced_until = parent.silenced_until
        status_set(incident, parent.status, by, _ACTION_FOR_STATUS[parent.status])
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
    log_line(
        incident, by, LogAction.DETACHED, f"Detached from #{parent.number} by {actor_name(by)}"
    )
    log_line(parent, by, LogAction.DETACHED, f"#{incident.number} detached by {actor_name(by)}")
    return incident


def _note_create(incident: Incident, by: User | None, text: str) -> IncidentNote:
    text = text_strip(text or "")  # the API document's notion of blank
    if not text:
        raise ValidationError({"note": "A note cannot be empty."})
    if len(text) > NOTE_MAX_LENGTH:
        raise ValidationError({"note": f"A note can be at most {NOTE_MAX_LENGTH} characters."})
    note = IncidentNote.objects.create(
        organization_id=incident.organization_id, incident=incident, author=by, text=text
    )
    log_line(incident, by, LogAction.NOTE, f"Note added by {actor_name(by)}", note=note.pk)
    return note


@transaction.atomic
def incident_add_note(*, incident: Incident, by: User | None, text: str) -> IncidentNote:
    """Record context on the timeline without changing the status."""
    return _note_create(_lock(incident), by, text)


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
    log_line(
        incident,
        by,
        LogAction.URGENCY,
        f"Urgency {old} → {urgency} by {actor_name(by)}",
        old=old,
        new=urgency,
    )
    return incident


@transaction.atomic
def incident_add_label(
    *, incident: Incident, by: User | None, name: str, create: bool = True
) -> Label:
    """Put a label of the organization or of the service's team on the incident; with
    `create`, an unknown name becomes an organization label (scripts, the alerts' way);
    without, it is refused (the incident page offers the list)."""
    (label,) = labels_by_name(
        organization=incident.organization,
        team_id=incident.service.team_id,
        names=[name],
        create=create,
    )
    if not incident.labels.filter(pk=label.pk).exists():
        incident.labels.add(label)
        log_line(
            incident, by, LogAction.LABEL_ADDED, f"Label “{label.name}” added by {actor_name(by)}"
        )
    return label


@transaction.atomic
def incident_remove_label(*, incident: Incident, by: User | None, name: str) -> None:
    """Take a label off the incident (no-op when it does not carry it)."""
    label = incident.labels.filter(name=name.strip()).first()
    if label is not None:
        incident.labels.remove(label)
        log_line(
            incident,
            by,
            LogAction.LABEL_REMOVED,
            f"Label “{label.name}” removed by {actor_name(by)}",
        )


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
    for incident in sorted(incidents, key=lambda each: each.pk):  # the locking order: by id
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
    open_ones = targets.exclude(status=Status.RESOLVED).select_for_update(no_key=True)
    for incident in open_ones.order_by("id"):
        status_set(incident, Status.RESOLVED, None, LogAction.RESOLVED)
        log_line(
            incident,
            by,
            LogAction.ARCHIVED,
            f"Resolved by the archive requested by {actor_name(by)}",
        )
    live_notice(organization_id=organization.pk, every_incident=True)
    return targets.update(archived_at=timezone.now())


# --- ingest --------------------------------------------------------------------------------


# Run for every event, change or step; safe as generic plans (opsduty/rawsql.py).
rawsql.prepared(_STATUS_SET_SQL)


_DELETED = "a deleted user"


def person_names_forget(user: User) -> None:
    """A deleted person's name and address in their organization's incident timelines become
    "a deleted user" (opsduty/services.py `user_delete`, before the name is cleared). The
    name is matched as whole words, and only if it is at least 4 characters, so a short
    first name does not rewrite other words; the address always."""
    name = f"{user.first_name} {user.last_name}".strip()
    patterns = [re.escape(user.email)]
    if len(name) >= 4:
        patterns.append(rf"\m{re.escape(name)}\M")
    pattern = "|".join(f"({p})" for p in patterns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {IncidentLogEntry._meta.db_table}"  # noqa: S608
            " SET message = regexp_replace(message, %s, %s, 'gi')"
            " WHERE organization_id = %s AND message ~* %s",
            [pattern, _DELETED, user.organization_id, pattern],
        )
