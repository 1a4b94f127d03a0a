"""Writes of services: create, update, delete, regenerate the routing key."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import ProtectedError

from escalations.models import Service, ServiceType, new_routing_key
from opsduty.models import Team, User
from opsduty.services import can_manage_team


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
        routing_key=routing_key or new_routing_key(),
    )
    _clean(service)
    service.save()
    return service


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
) -> Service:
    """Edit a service; moving it to another team needs access to both teams."""
    _require_team_access(by, service.team)
    if team.organization_id != service.organization_id:
        raise ValidationError({"team": "Unknown team."})
    _require_team_access(by, team)
    service.name, service.service_type, service.team = name, service_type, team
    service.description, service.slack_channel = description, slack_channel.strip()
    _clean(service)
    service.save()
    return service


@transaction.atomic
def service_regenerate_routing_key(*, service: Service, by: User) -> Service:
    """Replace the routing key; senders using the old one get 404 from then on."""
    _require_team_access(by, service.team)
    service.routing_key = new_routing_key()
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
