"""The one writer of incident log lines (`IncidentLogEntry`), for every app.

Every change to an incident writes a line here (state, urgency, labels, notes, attach,
escalation steps, paging, notifications), so this is also where open pages hear of it
(`incidents/live/publish.py`, after commit).

Plain SQL: opening an incident writes several lines in the transaction that opens it, and
building the ORM insert cost more than its round trip (as for the pipeline's queries).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from django.db import connection
from django.utils import timezone

from incidents import hooks
from incidents.live.publish import incident_changed
from incidents.models import IncidentLogEntry
from opsduty import rawsql

if TYPE_CHECKING:
    from incidents.models import Incident
    from opsduty.models import User

# One line, or a batch's lines (`hooks.batch`, the drain) in order, in one statement. The
# lines go as one JSON document: psycopg escapes each element of a text array with a regular
# expression, which cost the worker more than the statement (0.4 ms a paged incident).
_INSERT_SQL = (
    f"INSERT INTO {IncidentLogEntry._meta.db_table}"  # noqa: S608 - our table name, values bound
    " (organization_id, incident_id, actor_id, action, message, data, created_at)"
    " SELECT o, i, a, k, m, d, t FROM ROWS FROM (json_to_recordset(%s::json)"
    " AS (o bigint, i bigint, a bigint, k text, m text, d jsonb, t timestamptz))"
    " WITH ORDINALITY AS l(o, i, a, k, m, d, t, n) ORDER BY n"
)


def incident_log_write(
    *,
    incident: Incident,
    action: str,
    message: str,
    actor: User | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Append one line to the incident's log, in the caller's transaction (in a batch, at its
    end, before the subscribers' gathered work, which may read the lines)."""
    row = {
        "o": incident.organization_id,
        "i": incident.pk,
        "a": actor.pk if actor is not None else None,
        "k": action,
        "m": message,
        "d": data or {},
        "t": timezone.now(),
    }
    batch = hooks.batch_scratch("log", _rows_insert)
    if batch is not None:
        batch.setdefault("rows", []).append(row)
        held = hooks.batch_scratch(hooks.OPEN_INCIDENTS)
        if held:
            held.pop((incident.service_id, incident.dedup_id), None)
    else:
        _rows_insert({"rows": [row]})
    incident_changed(incident)
    hooks.log_publish(hooks.LogLine(incident=incident, action=action, actor=actor, data=data or {}))


def _rows_insert(batch: dict[str, list[dict[str, Any]]]) -> None:
    rows = batch.get("rows", [])
    if rows:
        with connection.cursor() as cursor:
            cursor.execute(_INSERT_SQL, [orjson.dumps(rows).decode()])


# Run for every change; safe as a generic plan (opsduty/rawsql.py).
rawsql.prepared(_INSERT_SQL)
