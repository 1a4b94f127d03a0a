"""Heartbeats: writes, check-ins, deadlines and the miss detector.

Deadlines. An environment expects its next check-in at `next_expected_at`: for an interval,
the last check-in (or, before the first one, the moment it was created or changed) plus the
interval; for a cron expression, the next time the expression fires after that moment, in
the environment's time zone (croniter on zone-aware datetimes, so a 02:00 job stays 02:00
local across DST changes). `next_deadline` is that plus `timeout_seconds`.

Misses. `misses_detect` (Celery beat, every second) claims environments whose deadline has
passed (`FOR UPDATE SKIP LOCKED`, unmuted only), appends a "missed" event to the service with
the dedup id `heartbeat:<environment id>` (so repeated misses add to one open incident rather
than opening one each), and moves the deadline to the next expected run. A check-in clears
the miss and, with `resolve_incident`, resolves the incident the misses opened.

Permission for writes: owners and members of the service's team; `by=None` is the system.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from croniter import croniter
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from opsduty.choices import Urgency
from opsduty.crypto import secret_digest
from opsduty.events import EventData
from opsduty.models import Label, Service, User
from opsduty.selectors import timezone_names
from opsduty.services import can_manage_team, labels_by_name
from opsduty.text import text_strip
from signals.heartbeats.models import (
    CHECKINS_KEPT,
    Heartbeat,
    HeartbeatCheckIn,
    HeartbeatState,
    HeartbeatType,
)
from signals.hooks import incident_sink

INTERVAL_MAX = 366 * 24 * 3600
TIMEOUT_MAX = 7 * 24 * 3600
MISS_BATCH = 500
TIMING_FIELDS = (
    "type",
    "cron_expression",
    "cron_timezone",
    "interval_seconds",
    "timeout_seconds",
)


def _require(by: User | None, service: Service) -> None:
    if by is not None and not can_manage_team(by, service.team):
        raise PermissionDenied(
            "Only owners and members of the service's team can manage its heartbeats."
        )


# --- deadlines ------------------------------------------------------------------------------


def next_expected(state: HeartbeatState, after: datetime) -> datetime:
    """When a check-in is next expected, counting from `after` (a check-in or a change)."""
    if state.type == HeartbeatType.INTERVAL:
        return after + timedelta(seconds=state.interval_seconds or 60)
    zone = zoneinfo.ZoneInfo(state.cron_timezone or "UTC")
    fire: datetime = croniter(
        state.cron_expression or "* * * * *", after.astimezone(zone)
    ).get_next(datetime)
    return fire.astimezone(zoneinfo.ZoneInfo("UTC"))


def _schedule(state: HeartbeatState, after: datetime) -> None:
    state.next_expected_at = next_expected(state, after)
    state.next_deadline = state.next_expected_at + timedelta(seconds=state.timeout_seconds)


# --- validation -----------------------------------------------------------------------------


@dataclass
class StateInput:
    """An environment's settings as the API and the editor send them."""

    type: str
    timeout_seconds: int = 0
    muted: bool = False
    resolve_incident: bool = True
    cron_expression: str | None = None
    cron_timezone: str | None = None
    interval_seconds: int | None = None


def state_values(data: StateInput) -> dict[str, Any]:
    """The stored fields of an environment (the other type's fields cleared), or 422s."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {
        "type": data.type,
        "timeout_seconds": data.timeout_seconds,
        "muted": bool(data.muted),
        "resolve_incident": bool(data.resolve_incident),
        "cron_expression": None,
        "cron_timezone": None,
        "interval_seconds": None,
    }
    if type(data.timeout_seconds) is not int or not 0 <= data.timeout_seconds <= TIMEOUT_MAX:
        errors["timeout_seconds"] = (
            f"Timeout must be a whole number of seconds from 0 to {TIMEOUT_MAX} (7 days)."
        )
    if data.type == HeartbeatType.CRON:
        expression = (data.cron_expression or "").strip()
        if not expression:
            errors["cron_expression"] = "A cron state needs a cron expression, e.g. 0 2 * * *."
        elif len(expression.split()) != 5 or not croniter.is_valid(expression):
            errors["cron_expression"] = (
                f"“{expression}” is not a valid cron expression: use five fields "
                "(minute hour day-of-month month day-of-week), e.g. */5 * * * *."
            )
        if not data.cron_timezone:
            errors["cron_timezone"] = "A cron state needs a time zone, e.g. Europe/Oslo or UTC."
        elif data.cron_timezone not in timezone_names():
            errors["cron_timezone"] = f"Unknown time zone “{data.cron_timezone}”."
        values.update(cron_expression=expression, cron_timezone=data.cron_timezone)
    elif data.type == HeartbeatType.INTERVAL:
        seconds = data.interval_seconds
        if type(seconds) is not int or not 1 <= seconds <= INTERVAL_MAX:
            errors["interval_seconds"] = (
                "An interval state needs interval_seconds: a whole number of seconds "
                f"from 1 to {INTERVAL_MAX} (366 days)."
            )
        values["interval_seconds"] = seconds
    else:
        errors["type"] = "Type must be cron or interval."
    if errors:
        raise ValidationError(errors)
    return values


def _clean_heartbeat(heartbeat: Heartbeat, labels_create: bool) -> None:
    """Check the fields; the labels must be labels of the organization or of the service's
    team (`labels_create`: unknown names become organization labels, for the API v1)."""
    heartbeat.name = text_strip(heartbeat.name or "")
    errors: dict[str, str] = {}
    if not heartbeat.name:
        errors["name"] = "Enter a name."
    elif len(heartbeat.name) > 200:
        errors["name"] = "The name may be at most 200 characters."
    if len(heartbeat.description or "") > 2000:
        errors["description"] = "The description may be at most 2000 characters."
    heartbeat.description = heartbeat.description or ""
    if heartbeat.link:
        try:
            Heartbeat._meta.get_field("link").run_validators(heartbeat.link)
        except ValidationError:
            errors["link"] = "Enter a valid URL, e.g. https://wiki.example.com/runbook."
    else:
        heartbeat.link = None
    if heartbeat.incident_urgency not in Urgency.values:
        errors["incident_urgency"] = "Incident urgency must be high or low."
    labels = heartbeat.labels
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        errors["labels"] = "Labels must be a list of strings."
    else:
        try:
            heartbeat.labels = [
                label.name
                for label in labels_by_name(
                    organization=heartbeat.service.organization,
                    team_id=heartbeat.service.team_id,
                    names=labels,
                    create=labels_create,
                )
            ]
        except ValidationError as error:
            errors["labels"] = " ".join(error.messages)
    clash = Heartbeat.objects.filter(service_id=heartbeat.service_id, name=heartbeat.name)
    if heartbeat.name and clash.exclude(pk=heartbeat.pk).exists():
        errors["name"] = "This service already has a heartbeat with this name."
    if errors:
        raise ValidationError(errors)


# --- heartbeats -----------------------------------------------------------------------------


@transaction.atomic
def heartbeat_create(
    *,
    service: Service,
    by: User | None,
    name: str,
    description: str = "",
    link: str | None = None,
    incident_urgency: str | None = None,
    labels: list[str] | None = None,
    labels_create: bool = False,
) -> Heartbeat:
    """A heartbeat on `service`; it watches nothing until an environment is added."""
    _require(by, service)
    heartbeat = Heartbeat(
        organization_id=service.organization_id,
        service=service,
        name=name,
        description=description,
        link=link,
        incident_urgency=incident_urgency or Urgency.HIGH,
        labels=labels if labels is not None else [],
    )
    _clean_heartbeat(heartbeat, labels_create)
    heartbeat.save()
    return heartbeat


@transaction.atomic
def heartbeat_update(
    *, heartbeat: Heartbeat, by: User | None, labels_create: bool = False, **fields: Any
) -> Heartbeat:
    """Change the given fields (name, description, link, service, incident_urgency, labels);
    fields not given stay as they are."""
    _require(by, heartbeat.service)
    unknown = set(fields) - {"name", "description", "link", "service", "incident_urgency", "labels"}
    if unknown:
        raise ValidationError({name: "Unknown field." for name in sorted(unknown)})
    service = fields.pop("service", heartbeat.service)
    if service.organization_id != heartbeat.organization_id:
        raise ValidationError({"service": "Unknown service."})
    if service.pk != heartbeat.service_id:
        _require(by, service)
        heartbeat.service = service
    if "incident_urgency" in fields and fields["incident_urgency"] is None:
        fields["incident_urgency"] = Urgency.HIGH
    if "labels" in fields and fields["labels"] is None:
        fields["labels"] = []
    for name, value in fields.items():
        setattr(heartbeat, name, value)
    _clean_heartbeat(heartbeat, labels_create)
    heartbeat.save()
    return heartbeat


@transaction.atomic
def heartbeat_delete(*, heartbeat: Heartbeat, by: User | None) -> None:
    """Delete a heartbeat with its environments and check-ins; later check-ins get 404."""
    _require(by, heartbeat.service)
    heartbeat.delete()


# --- environments ---------------------------------------------------------------------------


def _clean_environment(heartbeat: Heartbeat, environment: Any, exclude: int | None = None) -> str:
    name = text_strip(environment) if isinstance(environment, str) else ""
    if not name:
        raise ValidationError({"environment": "Enter an environment name, e.g. prod."})
    if len(name) > 200:
        raise ValidationError({"environment": "The environment may be at most 200 characters."})
    clash = HeartbeatState.objects.filter(heartbeat=heartbeat, environment=name)
    if exclude is not None:
        clash = clash.exclude(pk=exclude)
    if clash.exists():
        raise ValidationError(
            {"environment": f"Heartbeat “{heartbeat.name}” already has environment “{name}”."}
        )
    return name


@transaction.atomic
def state_create(
    *, heartbeat: Heartbeat, by: User | None, environment: str, data: StateInput
) -> HeartbeatState:
    """Add an environment; its first check-in is expected counting from now."""
    _require(by, heartbeat.service)
    values = state_values(data)
    name = _clean_environment(heartbeat, environment)
    state = HeartbeatState(
        organization_id=heartbeat.organization_id, heartbeat=heartbeat, environment=name, **values
    )
    _schedule(state, timezone.now())
    state.save()
    return state


@transaction.atomic
def state_update(*, state: HeartbeatState, by: User | None, data: StateInput) -> HeartbeatState:
    """Replace an environment's settings.

    The deadline only moves when the timing changes (type, cron, zone, interval, timeout):
    then it is recomputed from the last check-in (before the first one, from when the
    environment was created), and from now if that would already be past. Re-sending the
    same settings (a CLI import does on every run) never postpones a deadline, so a job that
    never checks in is still reported.
    """
    _require(by, state.heartbeat.service)
    values = state_values(data)
    state = HeartbeatState.objects.select_for_update().get(pk=state.pk)
    timing = [getattr(state, name) for name in TIMING_FIELDS]
    for name, value in values.items():
        setattr(state, name, value)
    if timing != [getattr(state, name) for name in TIMING_FIELDS]:
        now = timezone.now()
        _schedule(state, state.last_checkin_at or state.created_at)
        if state.next_deadline is not None and state.next_deadline <= now:
            _schedule(state, now)  # a new setting never turns the past into an instant miss
    state.save()
    return state


@transaction.atomic
def state_delete(*, state: HeartbeatState, by: User | None) -> None:
    """Remove an environment and its check-ins; later check-ins to it get 404."""
    _require(by, state.heartbeat.service)
    state.delete()


@transaction.atomic
def states_bulk_save(
    *, heartbeat: Heartbeat, by: User | None, environments: dict[str, StateInput]
) -> list[HeartbeatState]:
    """Create or update many environments at once (all or nothing), by environment name."""
    _require(by, heartbeat.service)
    errors: dict[str, Any] = {}
    for name, data in environments.items():
        try:
            state_values(data)
            if not name.strip():
                raise ValidationError({"environment": "Enter an environment name, e.g. prod."})
        except ValidationError as exc:
            errors[name or "(empty)"] = exc.message_dict
    if errors:
        raise ValidationError(
            {
                f"{env}: {field}": messages
                for env, problems in errors.items()
                for field, messages in problems.items()
            }
        )
    existing = {s.environment: s for s in HeartbeatState.objects.filter(heartbeat=heartbeat)}
    saved = []
    for name, data in environments.items():
        state = existing.get(name.strip())
        if state is None:
            saved.append(state_create(heartbeat=heartbeat, by=None, environment=name, data=data))
        else:
            saved.append(state_update(state=state, by=None, data=data))
    return saved


@transaction.atomic
def states_copy_config(*, source: HeartbeatState, by: User | None) -> int:
    """Copy `source`'s schedule and alerting settings to every other environment of its
    heartbeat; the number of environments changed."""
    _require(by, source.heartbeat.service)
    data = StateInput(
        type=source.type,
        timeout_seconds=source.timeout_seconds,
        muted=source.muted,
        resolve_incident=source.resolve_incident,
        cron_expression=source.cron_expression,
        cron_timezone=source.cron_timezone,
        interval_seconds=source.interval_seconds,
    )
    others = HeartbeatState.objects.filter(heartbeat_id=source.heartbeat_id).exclude(pk=source.pk)
    count = 0
    for state in others:
        state_update(state=state, by=None, data=data)
        count += 1
    return count


# --- check-ins ------------------------------------------------------------------------------


class CheckinNotFound(Exception):  # noqa: N818 - reads as an answer, like Http404
    """No such heartbeat or environment (the message says which)."""


def _checkin_states(digest: str, environment: str | None) -> list[HeartbeatState]:
    """The environments a check-in may address (at most two without an environment)."""
    return list(
        HeartbeatState.objects.filter(heartbeat__public_primary_key_hash=digest)
        .select_related("heartbeat")
        .order_by("id")[: 2 if environment is None else None]
        if environment is None
        else HeartbeatState.objects.filter(
            heartbeat__public_primary_key_hash=digest, environment=environment
        ).select_related("heartbeat")
    )


def checkin_state_public(key: str, environment: str | None) -> HeartbeatState:
    """The environment a public check-in URL addresses.

    Without an environment, a heartbeat with exactly one environment takes the check-in; one
    with none or several answers 404 saying an environment is needed (spec §2.2).
    """
    if "\x00" in key:
        # No key has U+0000 (PostgreSQL text cannot hold one).
        raise CheckinNotFound("Unknown heartbeat.")
    digest = secret_digest(key)
    if environment is not None and "\x00" in environment:
        environment, states = environment.replace("\x00", "\ufffd"), []
    else:
        states = _checkin_states(digest, environment)
    if environment is None and len(states) == 1:
        return states[0]
    if environment is not None and states:
        return states[0]
    if not Heartbeat.objects.filter(public_primary_key_hash=digest).exists():
        raise CheckinNotFound("Unknown heartbeat.")
    if environment is not None:
        raise CheckinNotFound(f"This heartbeat has no environment “{environment}”.")
    if not states:
        raise CheckinNotFound("This heartbeat has no environments yet; add one first.")
    raise CheckinNotFound(
        "This heartbeat has several environments: check in at "
        "/heartbeats/checkin/<key>/<environment>/."
    )


# The one check-in write, in one statement (so one transaction): the new deadline, the miss
# cleared, the check-in row. The Django path (`checkin`) and the event-loop path
# (`checkin_async.py`) both run it. `may_resolve` false (the event-loop path): an environment
# whose open incident this check-in must resolve is left alone (no row comes back) for the
# Django path, which resolves the incident in the same transaction; also when a miss was
# recorded between the caller's read and this statement.
CHECKIN_SQL = f"""
    WITH s AS (
        UPDATE {HeartbeatState._meta.db_table}
        SET last_checkin_at = %(at)s::timestamptz, missed_at = NULL,
            next_expected_at = %(expected)s::timestamptz,
            next_deadline = %(deadline)s::timestamptz,
            incident_id = CASE WHEN resolve_incident THEN NULL ELSE incident_id END
        WHERE id = %(id)s
            AND (%(may_resolve)s OR incident_id IS NULL OR NOT resolve_incident)
        RETURNING id, organization_id
    )
    INSERT INTO {HeartbeatCheckIn._meta.db_table}
        (organization_id, state_id, at, source_ip, user_agent)
    SELECT organization_id, id, %(at)s::timestamptz, %(ip)s::inet, %(agent)s::text FROM s
    RETURNING id"""  # noqa: S608 - our table names, values bound


def checkin_params(
    *,
    state: HeartbeatState,
    at: datetime,
    source_ip: str | None,
    user_agent: str,
    may_resolve: bool,
) -> dict[str, Any]:
    """The parameters of `CHECKIN_SQL` for `state` (its type, schedule and timeout are read)."""
    expected = next_expected(state, at)
    return {
        "at": at,
        "expected": expected,
        "deadline": expected + timedelta(seconds=state.timeout_seconds),
        "id": state.pk,
        "ip": source_ip,
        "agent": (user_agent or "")[:300],
        "may_resolve": may_resolve,
    }


def checkin(
    *,
    state: HeartbeatState,
    at: datetime | None = None,
    source_ip: str | None = None,
    user_agent: str = "",
) -> HeartbeatState:
    """Record a check-in: the next deadline counts from now, a miss is cleared, and with
    `resolve_incident` the incident the misses opened is resolved."""
    at = at or timezone.now()
    with transaction.atomic():
        state = (
            HeartbeatState.objects.select_for_update().select_related("heartbeat").get(pk=state.pk)
        )
        incident_id = state.incident_id
        params = checkin_params(
            state=state, at=at, source_ip=source_ip, user_agent=user_agent, may_resolve=True
        )
        with connection.cursor() as cursor:
            cursor.execute(CHECKIN_SQL, params)
        if incident_id is not None and state.resolve_incident:
            _resolve(incident_id, state)
        state.refresh_from_db()
    return state


def _resolve(incident_id: int, state: HeartbeatState) -> None:
    incident_sink().resolve_if_open(
        incident_id=incident_id,
        note=f"Heartbeat “{state.heartbeat.name}” ({state.environment}) checked in again.",
    )


def checkins_prune() -> int:
    """Delete all but the last CHECKINS_KEPT check-ins of each environment."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            DELETE FROM signals_heartbeatcheckin c
            USING (
                SELECT id FROM (
                    SELECT id, row_number() OVER (PARTITION BY state_id ORDER BY id DESC) AS n
                    FROM signals_heartbeatcheckin
                ) ranked WHERE n > %s
            ) old
            WHERE c.id = old.id
            """,
            [CHECKINS_KEPT],
        )
        deleted: int = cursor.rowcount
        return deleted


# --- misses ---------------------------------------------------------------------------------


def misses_detect(*, now: datetime | None = None, limit: int = MISS_BATCH) -> int:
    """Open (or append to) an incident for every unmuted environment past its deadline.

    One transaction per batch: the claimed rows stay locked until their incidents and new
    deadlines are committed together, so two detectors never report one miss twice.
    """
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            HeartbeatState.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("heartbeat", "heartbeat__service")
            .filter(muted=False, next_deadline__isnull=False, next_deadline__lte=now)
            .order_by("next_deadline")[:limit]
        )
        for state in due:
            heartbeat = state.heartbeat
            expected = state.next_expected_at or state.next_deadline or now
            event = EventData(
                summary=f"Heartbeat “{heartbeat.name}” ({state.environment}) missed its check-in",
                dedup_id=f"heartbeat:{state.pk}",
                description=(
                    f"No check-in from “{heartbeat.name}” in environment “{state.environment}” "
                    f"by {state.next_deadline:%Y-%m-%d %H:%M:%S} UTC (expected at "
                    f"{expected:%Y-%m-%d %H:%M:%S} UTC, timeout {state.timeout_seconds} s). "
                    + (
                        f"Last check-in {state.last_checkin_at:%Y-%m-%d %H:%M:%S} UTC."
                        if state.last_checkin_at
                        else "It has never checked in."
                    )
                ),
                source_url=heartbeat.link or "",
                urgency=heartbeat.incident_urgency,
                labels=[*heartbeat.labels, f"heartbeat:{heartbeat.name}"],
                payload={
                    "heartbeat": {
                        "id": heartbeat.pk,
                        "name": heartbeat.name,
                        "environment": state.environment,
                        "deadline": state.next_deadline.isoformat()
                        if state.next_deadline
                        else None,
                        "last_checkin_at": (
                            state.last_checkin_at.isoformat() if state.last_checkin_at else None
                        ),
                    }
                },
                received_at=now,
                processing={"source": "heartbeat"},
            )
            state.incident_id = incident_sink().open_or_append(
                service=heartbeat.service, event=event
            )
            state.missed_at = now
            # The next miss is the next run after the one just missed (never in the past: a
            # detector that was down reports one miss, not one per run it slept through).
            _schedule(state, max(expected, now - timedelta(seconds=state.timeout_seconds)))
            if state.next_deadline is not None and state.next_deadline <= now:
                _schedule(state, now)
            state.save(update_fields=["incident", "missed_at", "next_expected_at", "next_deadline"])
    return len(due)


# --- status ---------------------------------------------------------------------------------


class HealthStatus:
    UP = "up"
    LATE = "late"
    DOWN = "down"
    MUTED = "muted"
    WAITING = "waiting"


def state_status(state: HeartbeatState, now: datetime) -> str:
    """up (checked in, not yet expected again), late (past its expected time, within the
    timeout), down (missed), muted, or waiting (no check-in yet, not yet due)."""
    if state.muted:
        return HealthStatus.MUTED
    if state.missed_at is not None or (state.next_deadline and state.next_deadline <= now):
        return HealthStatus.DOWN
    if state.next_expected_at and state.next_expected_at <= now:
        return HealthStatus.LATE
    return HealthStatus.UP if state.last_checkin_at else HealthStatus.WAITING


def label_rename(label: Label, old: str, new: str | None) -> None:
    """Heartbeats keep their labels by name (the API v1 sends names): follow a label's rename,
    or drop it when it is deleted (`opsduty.services.label_renamer_register`)."""
    heartbeats = Heartbeat.objects.filter(
        organization_id=label.organization_id, labels__contains=[old]
    ).select_for_update()
    for heartbeat in heartbeats:
        renamed = [new if name == old else name for name in heartbeat.labels]
        heartbeat.labels = [name for name in dict.fromkeys(renamed) if name is not None]
        heartbeat.save(update_fields=["labels"])
