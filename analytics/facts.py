"""The definitions, in one place: an incident's fact computed from the incident and its log.

`FACT_SELECT` is the direct query over the incidents. The upkeep runs it for one incident
after each change that matters (services.py), `rebuild_analytics` runs it for all of them,
and the property test compares the rollups with it. What it says:

- day: the incident's creation date in the organization's time zone (DST included);
- ack_seconds: created -> the first acknowledgement *by a person* (an acknowledge signal from
  a monitoring tool is not one); an acknowledgement after an unacknowledge does not move it;
- resolve_seconds: created -> resolved, only while it is resolved (a reopened incident that
  is open again has none; resolved again, the last resolve counts);
- auto_resolved: resolved by the system (an event, a policy's resolve step) and never
  acknowledged by a person; resolved_without_ack: resolved by a person, never acknowledged;
- escalated: a notify step of escalation level 2 or later ran because its wait ran out (not
  because someone pressed Escalate); reassigned: a person reassigned it to another policy;
- policy: the escalation run's policy (after a reassignment, the new one), else the
  service's.
"""

from __future__ import annotations

from escalations.engine.models import EscalationRun
from incidents.models import Incident, IncidentLogEntry, LogAction
from opsduty.models import Organization, Service

__all__ = ["FACT_COLUMNS", "FACT_SELECT", "FACT_SELECT_FEW", "UPKEEP_ACTIONS"]

_I = Incident._meta.db_table
_L = IncidentLogEntry._meta.db_table
_S = Service._meta.db_table
_O = Organization._meta.db_table
_R = EscalationRun._meta.db_table

FACT_COLUMNS = (
    "incident_id",
    "organization_id",
    "service_id",
    "team_id",
    "policy_id",
    "day",
    "urgency",
    "created_at",
    "ack_seconds",
    "resolve_seconds",
    "auto_resolved",
    "resolved_without_ack",
    "escalated",
    "reassigned",
)

# The aggregates of an incident's log lines that the fact needs.
_LOG_AGGREGATES = f"""
           MIN(e.created_at) FILTER (
               WHERE e.action = '{LogAction.ACKNOWLEDGED.value}' AND e.actor_id IS NOT NULL
           ) AS ack_first_at,
           -- [id, 1 if by the system else 0] of the last resolve
           MAX(ARRAY[e.id, CASE WHEN e.actor_id IS NULL THEN 1 ELSE 0 END]) FILTER (
               WHERE e.action = '{LogAction.RESOLVED.value}'
           ) AS last_resolve,
           BOOL_OR(
               (e.data ->> 'level')::int >= 2
               AND NOT COALESCE((e.data ->> 'manual')::boolean, false)
           ) FILTER (WHERE e.action = '{LogAction.ESCALATION.value}') AS escalated,
           BOOL_OR(e.data ? 'policy' AND e.actor_id IS NOT NULL) FILTER (
               WHERE e.action = '{LogAction.ESCALATION.value}'
           ) AS reassigned
"""
_LOG_ACTIONS = (
    f"e.action IN ('{LogAction.ACKNOWLEDGED.value}', '{LogAction.RESOLVED.value}',"
    f" '{LogAction.ESCALATION.value}')"
)
# The log read through one grouped subquery: for a whole organization (a rebuild) one pass
# over the log, joined by hash, instead of three index scans per incident; for one incident
# (`i.id = %s`) PostgreSQL pushes the id into it.
_LOG_GROUPED = f"""LEFT JOIN (
    SELECT e.incident_id, {_LOG_AGGREGATES}
    FROM {_L} e WHERE {_LOG_ACTIONS}
    GROUP BY e.incident_id
) l ON l.incident_id = i.id"""  # noqa: S608 - our table names
# ...or per incident: for a few incidents (`i.id = ANY(%s)`, the upkeep of a batch) the
# grouped subquery is planned as a pass over the whole log (40 ms at 45,000 lines, growing
# with it); a lateral join reads only their lines, by the log's incident index.
_LOG_LATERAL = f"""LEFT JOIN LATERAL (
    SELECT {_LOG_AGGREGATES}
    FROM {_L} e WHERE e.incident_id = i.id AND {_LOG_ACTIONS}
) l ON true"""  # noqa: S608 - our table names

# `{where}` filters `i` (the incidents); the columns are FACT_COLUMNS, in order.
_FACT_SELECT = """
SELECT i.id, i.organization_id, i.service_id, COALESCE(s.team_id, 0),
       COALESCE(r.policy_id, s.escalation_policy_id, 0),
       (i.created_at AT TIME ZONE o.time_zone)::date, i.urgency, i.created_at,
       EXTRACT(EPOCH FROM l.ack_first_at - i.created_at)::float8,
       CASE WHEN i.status = 'resolved' AND i.resolved_at IS NOT NULL
            THEN EXTRACT(EPOCH FROM i.resolved_at - i.created_at)::float8 END,
       (i.status = 'resolved' AND l.ack_first_at IS NULL AND l.last_resolve[2] = 1),
       (i.status = 'resolved' AND l.ack_first_at IS NULL AND l.last_resolve[2] = 0),
       COALESCE(l.escalated, false),
       COALESCE(l.reassigned, false)
FROM {incidents} i
JOIN {services} s ON s.id = i.service_id
JOIN {organizations} o ON o.id = i.organization_id
LEFT JOIN {runs} r ON r.incident_id = i.id
{log}
WHERE {{where}}
"""
_TABLES = {"incidents": _I, "services": _S, "organizations": _O, "runs": _R}
FACT_SELECT = _FACT_SELECT.format(log=_LOG_GROUPED, **_TABLES)
# The same for a few incidents given by id (`{where}` names them).
FACT_SELECT_FEW = _FACT_SELECT.format(log=_LOG_LATERAL, **_TABLES)


# Log lines after which an incident's fact may have changed.
UPKEEP_ACTIONS = frozenset(
    {
        LogAction.CREATED,
        LogAction.ACKNOWLEDGED,
        LogAction.RESOLVED,
        LogAction.REOPENED,
        LogAction.URGENCY,
    }
)
