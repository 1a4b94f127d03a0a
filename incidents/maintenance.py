"""The maintenance incident: opened when a service enters maintenance mode `maintenance`,
resolved when it ends. `escalations.catalog.services` calls these under the service's row lock.

While maintenance lasts the service's open incidents, and those `ingest_event` opens, are
attached to it (they keep their own status; acknowledging them is refused). When it ends,
the still-open children are detached first, so they stand alone and escalate normally, and
then the maintenance incident is resolved; children resolved meanwhile stay attached to it.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from django.db import transaction

from incidents import hooks
from incidents.ingest.services import attach_to_maintenance, incident_number_next
from incidents.models import Incident, LogAction, Status, Urgency
from incidents.services import actor_name, log_line, status_set
from opsduty.models import Service, User


def _maintenance_incident(service: Service) -> Incident | None:
    return (
        Incident.objects.select_for_update(no_key=True)
        .filter(service=service, is_maintenance=True)
        .exclude(status=Status.RESOLVED)
        .first()
    )


@transaction.atomic
def incident_maintenance_open(*, service: Service, by: User | None, until: datetime) -> Incident:
    """Open the maintenance incident of `service` and attach its open incidents to it.

    The caller holds the service's row lock. `incident_number_next` (the organization's counter row)
    comes before collecting the open incidents: see `services._join_service_maintenance`.
    """
    incident = Incident.objects.create(
        organization_id=service.organization_id,
        service=service,
        number=incident_number_next(service.organization_id),
        summary=f"Maintenance of {service.name} until {until:%Y-%m-%d %H:%M} UTC",
        urgency=Urgency.LOW,
        dedup_id=f"maintenance:{secrets.token_hex(12)}",
        is_maintenance=True,
    )
    log_line(
        incident,
        None,
        LogAction.CREATED,
        f"Maintenance incident #{incident.number} opened: maintenance started by {actor_name(by)}, "
        f"until {until:%Y-%m-%d %H:%M} UTC",
        until=until.isoformat(),
    )
    hooks.publish(hooks.StatusChange(incident, None, Status.TRIGGERED, None))
    children = (
        Incident.objects.select_for_update(no_key=True)
        .filter(service=service, parent=None, is_maintenance=False)
        .exclude(status=Status.RESOLVED)
        .order_by("id")
    )
    for child in children:
        attach_to_maintenance(child, incident)
    return incident


@transaction.atomic
def incident_maintenance_close(*, service: Service, reason: str) -> Incident | None:
    """Detach the still-open children and resolve the maintenance incident (the system).

    The caller holds the service's row lock; a no-op when there is no open one.
    """
    incident = _maintenance_incident(service)
    if incident is None:
        return None
    children = (
        Incident.objects.select_for_update(no_key=True)
        .filter(parent=incident)
        .exclude(status=Status.RESOLVED)
        .order_by("id")
    )
    for child in children:
        child.parent = None
        child.save(update_fields=["parent"])
        log_line(
            child,
            None,
            LogAction.DETACHED,
            f"Detached from maintenance incident #{incident.number}: maintenance ended, "
            "it escalates normally again",
        )
        log_line(incident, None, LogAction.DETACHED, f"#{child.number} detached: still open")
    log_line(incident, None, LogAction.MAINTENANCE, reason)
    status_set(incident, Status.RESOLVED, None, LogAction.RESOLVED)
    return incident
