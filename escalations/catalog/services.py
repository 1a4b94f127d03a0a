"""Writes of services: create, update, delete, regenerate the routing key, maintenance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone

from escalations.models import EscalationPolicy
from incidents.maintenance import incident_maintenance_close, incident_maintenance_open
from opsduty.live import live_notice
from opsduty.models import Label, MaintenanceMode, Service, ServiceType, Team, User
from opsduty.queue import enqueue_or_sweep
from opsduty.routing_keys import routing_key_check_free, routing_key_new
from opsduty.selectors import service_maintenance_active
from opsduty.services import can_manage_team, labels_check


def _require_team_access(by: User, team: Team) -> None:
    if not can_manage_team(by, team):
        raise PermissionDenied(
            "Only owners and members of the owning team can manage its services."
        )


def _clean(service: Service) -> None:
    service.name = service.name.strip()
    if service.service_type not in ServiceType.values:
        raise ValidationError({"service_type": "Type must be technical or business."})
    service.full_clean(exclude=["routing_key"])
    clash = Service.objects.for_org(service.organization).filter(name=service.name)
    if clash.exclude(pk=service.pk).exists():
        raise ValidationError({"name": "A service with this name already exists."})


@transaction.atomic
def service_create(
    *,
    team: Team,
    by: User | None,
    name: str,
    service_type: str = ServiceType.TECHNICAL,
    description: str = "",
    slack_channel: str = "",
    routing_key: str | None = None,
    labels: list[Label] | None = None,
) -> Service:
    """Create a service owned by `team` with a fresh unguessable routing key.

    `routing_key` is only for fixed demo keys (seed_demo); everything else gets a random one.
    """
    if by is not None:
        _require_team_access(by, team)
    service = Service(
        organization_id=team.organization_id,
        team=team,
        name=name,
        service_type=service_type,
        description=description,
        slack_channel=slack_channel.strip(),
        routing_key=routing_key or routing_key_new(),
    )
    if routing_key:
        routing_key_check_free(routing_key)
    _clean(service)
    if labels:
        labels_check(organization=team.organization, team_id=team.pk, labels=labels)
    service.save()
    if labels:
        service.labels.set(labels)
    return service


class _Keep:
    """Marker: leave the service's escalation policy as it is."""


KEEP = _Keep()


def _check_policy(service: Service, policy: EscalationPolicy | None) -> None:
    """A service may only use an escalation policy of its own team."""
    if policy is None:
        return
    if policy.organization_id != service.organization_id:
        raise ValidationError({"escalation_policy": "Unknown escalation policy."})
    if policy.team_id != service.team_id:
        raise ValidationError(
            {
                "escalation_policy": f"“{policy.name}” belongs to team {policy.team.name}; "
                f"a service of {service.team.name} may only use that team's policies."
            }
        )


@transaction.atomic
def service_update(
    *,
    service: Service,
    by: User,
    name: str,
    service_type: str,
    description: str,
    slack_channel: str,
    team: Team,
    escalation_policy: EscalationPolicy | None | _Keep = KEEP,
    labels: list[Label] | None = None,
) -> Service:
    """Edit a service; moving it to another team needs access to both teams.

    The escalation policy (unchanged unless given) must belong to the service's team; so must
    its labels (unchanged unless given), unless they are organization labels.
    """
    _require_team_access(by, service.team)
    if team.organization_id != service.organization_id:
        raise ValidationError({"team": "Unknown team."})
    _require_team_access(by, team)
    service.name, service.service_type, service.team = name, service_type, team
    service.description, service.slack_channel = description, slack_channel.strip()
    if not isinstance(escalation_policy, _Keep):
        service.escalation_policy = escalation_policy
    _check_policy(service, service.escalation_policy)
    _clean(service)
    kept = list(service.labels.all()) if labels is None else labels
    labels_check(organization=service.organization, team_id=team.pk, labels=kept)
    service.save()
    if labels is not None:
        service.labels.set(labels)
    # Its team (who sees its incidents) or its policy (who is on call) may have changed.
    live_notice(organization_id=service.organization_id, oncall=True)
    return service


@transaction.atomic
def service_set_policy(
    *, service: Service, policy: EscalationPolicy | None, by: User | None
) -> Service:
    """Choose the service's escalation policy (None: nobody is paged); its own team's only."""
    if by is not None:
        _require_team_access(by, service.team)
    _check_policy(service, policy)
    service.escalation_policy = policy
    service.save(update_fields=["escalation_policy"])
    live_notice(organization_id=service.organization_id, oncall=True)
    return service


@transaction.atomic
def service_regenerate_routing_key(*, service: Service, by: User) -> Service:
    """Replace the routing key; senders using the old one get 404 from then on."""
    _require_team_access(by, service.team)
    service.routing_key = routing_key_new()
    service.save(update_fields=["routing_key"])
    return service


@transaction.atomic
def service_delete(*, service: Service, by: User) -> None:
    """Delete a service that has no incidents (incidents are history: archive them instead)."""
    _require_team_access(by, service.team)
    try:
        service.delete()
    except ProtectedError as error:
        kinds = {type(obj).__name__ for obj in error.protected_objects}
        if kinds <= {"Incident"}:
            message = "This service has incidents; it cannot be deleted while they exist."
        else:
            # Routing rules (default service) and their routes point at it.
            message = "Routing rules send events to this service; change them first."
        raise ValidationError(message) from None


# --- maintenance ---------------------------------------------------------------------------

MAINTENANCE_DEFAULT_MINUTES = 60
MAINTENANCE_MAX_MINUTES = 24 * 60
MODE_MESSAGE = "Mode must be 'debug' or 'maintenance'."
DURATION_MESSAGE = (
    f"Duration must be a whole number of minutes from 1 to {MAINTENANCE_MAX_MINUTES} (24 hours)."
)


def _validate_maintenance(mode: object, duration_minutes: object) -> None:
    if mode not in MaintenanceMode.values:
        raise ValidationError({"mode": MODE_MESSAGE})
    valid = type(duration_minutes) is int and 1 <= duration_minutes <= MAINTENANCE_MAX_MINUTES
    if not valid:
        raise ValidationError({"duration_minutes": DURATION_MESSAGE})


def _lock_service(service: Service) -> Service:
    return Service.objects.select_for_update().get(pk=service.pk)


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _maintenance_end(service: Service, reason: str) -> None:
    """Clear the locked service's maintenance and close its maintenance incident, if any."""
    service.maintenance_mode = None
    service.maintenance_window_start = service.maintenance_window_end = None
    service.save(update_fields=_MAINTENANCE_FIELDS)
    incident_maintenance_close(service=service, reason=reason)


_MAINTENANCE_FIELDS = ["maintenance_mode", "maintenance_window_start", "maintenance_window_end"]


@transaction.atomic
def service_maintenance_start(
    *, service: Service, by: User, mode: str, duration_minutes: int
) -> Service:
    """Put the service in maintenance for `duration_minutes`; refused while already in it."""
    _require_team_access(by, service.team)
    _validate_maintenance(mode, duration_minutes)
    service, now = _lock_service(service), timezone.now()
    if service_maintenance_active(service, now):
        assert service.maintenance_window_end is not None
        raise ValidationError(
            f"{service.name} is already in maintenance until "
            f"{_utc(service.maintenance_window_end)}; stop it before starting another."
        )
    if service.maintenance_mode:  # expired, not yet swept: end it properly first
        _maintenance_end(service, "Maintenance window ended")
    end = now + timedelta(minutes=duration_minutes)
    service.maintenance_mode, service.maintenance_window_start = mode, now
    service.maintenance_window_end = end
    service.save(update_fields=_MAINTENANCE_FIELDS)
    if mode == MaintenanceMode.MAINTENANCE:
        incident_maintenance_open(service=service, by=by, until=end)
    transaction.on_commit(lambda: _schedule_maintenance_end(service.pk, end))
    return service


def _schedule_maintenance_end(service_id: int, due: datetime) -> None:
    enqueue_or_sweep("escalations.maintenance_expire", (service_id,), eta=due)


@transaction.atomic
def service_maintenance_stop(*, service: Service, by: User) -> Service:
    """End maintenance early; a no-op when the service is not in maintenance."""
    _require_team_access(by, service.team)
    service = _lock_service(service)
    if service.maintenance_mode:
        active = service_maintenance_active(service, timezone.now())
        reason = f"Maintenance stopped by {by.get_full_name()}" if active else "Maintenance ended"
        _maintenance_end(service, reason)
    return service


@transaction.atomic
def service_maintenance_expire(*, service_id: int, now: datetime | None = None) -> bool:
    """End a due maintenance (system). Exactly once: only a still-set, due window ends.

    The ETA task and the sweeper may both call this; SKIP LOCKED plus the state check make
    the second call a no-op, as does a maintenance stopped or restarted in the meantime.
    """
    now = now or timezone.now()
    service = (
        Service.objects.select_for_update(skip_locked=True)
        .filter(pk=service_id, maintenance_mode__isnull=False, maintenance_window_end__lte=now)
        .first()
    )
    if service is None:
        return False
    assert service.maintenance_window_end is not None
    _maintenance_end(service, f"Maintenance window ended at {_utc(service.maintenance_window_end)}")
    return True


def service_maintenances_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Ids of services whose maintenance window has ended (for the sweeper)."""
    now = now or timezone.now()
    return list(
        Service.objects.filter(maintenance_mode__isnull=False, maintenance_window_end__lte=now)
        .order_by("maintenance_window_end")
        .values_list("id", flat=True)[:limit]
    )
