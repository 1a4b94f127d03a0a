"""Attach / detach (the parent keeps the group's state) and the archive."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from incidents import services
from incidents.ingest import services as ingest
from incidents.models import Incident, LogAction, Status
from opsduty.events import EventData
from opsduty.models import Service, User

pytestmark = pytest.mark.django_db


def _new(service: Service, summary: str = "x") -> Incident:
    return ingest.ingest_event(service=service, event=EventData(summary=summary))


def test_attached_incident_follows_its_parent(service: Service, member: User) -> None:
    parent, child = _new(service), _new(service)
    services.incident_acknowledge(incident=parent, by=member)
    services.incident_attach(incident=child, parent=parent, by=member)
    child.refresh_from_db()
    assert (child.parent_id, child.status) == (parent.pk, Status.ACKNOWLEDGED)
    services.incident_resolve(incident=parent, by=member)
    child.refresh_from_db()
    assert child.status == Status.RESOLVED
    assert child.log.filter(action=LogAction.ATTACHED).exists()


def test_attached_incident_refuses_its_own_status_actions(service: Service, member: User) -> None:
    parent, child = _new(service), _new(service)
    services.incident_attach(incident=child, parent=parent, by=member)
    for action in (services.incident_acknowledge, services.incident_unacknowledge):
        with pytest.raises(ValidationError):
            action(incident=child, by=member)
    with pytest.raises(ValidationError):
        services.incident_silence(incident=child, by=member, minutes=5)
    services.incident_detach(incident=child, by=member)
    services.incident_acknowledge(incident=child, by=member)
    child.refresh_from_db()
    assert (child.parent_id, child.status) == (None, Status.ACKNOWLEDGED)


@pytest.mark.parametrize("case", ["self", "resolved_parent", "nested", "has_children"])
def test_invalid_attachments_are_refused(service: Service, member: User, case: str) -> None:
    a, b, c = _new(service), _new(service), _new(service)
    if case == "self":
        target, parent = a, a
    elif case == "resolved_parent":
        services.incident_resolve(incident=b, by=member)
        target, parent = a, b
    elif case == "nested":
        services.incident_attach(incident=b, parent=c, by=member)
        target, parent = a, b
    else:
        services.incident_attach(incident=b, parent=a, by=member)
        target, parent = a, c
    with pytest.raises(ValidationError):
        services.incident_attach(incident=target, parent=parent, by=member)
    target.refresh_from_db()
    assert target.parent_id in (None, c.pk if case == "nested" else None)


def test_cannot_attach_across_organizations(service: Service, member: User, outsider: User) -> None:
    from escalations.catalog import services as escalation_services
    from tests import factories

    team_b = factories.make_team(organization=outsider.organization)
    foreign = _new(escalation_services.service_create(team=team_b, by=None, name="B"))
    with pytest.raises(ValidationError):
        services.incident_attach(incident=_new(service), parent=foreign, by=member)


def test_archive_hides_old_incidents_and_resolves_open_ones(service: Service, owner: User) -> None:
    now = timezone.now()
    with time_machine.travel(now - timedelta(days=10), tick=False):
        old_open = _new(service, "old open")
        old_resolved = _new(service, "old resolved")
        services.incident_resolve(incident=old_resolved, by=owner)
    recent = _new(service, "recent")
    archived = services.incidents_archive(
        organization=service.organization, before=now - timedelta(days=1), by=owner
    )
    assert archived == 2
    old_open.refresh_from_db()
    recent.refresh_from_db()
    assert old_open.status == Status.RESOLVED and old_open.archived_at is not None
    assert old_open.log.filter(action=LogAction.ARCHIVED).exists()
    assert recent.archived_at is None and recent.status == Status.TRIGGERED
    from incidents.selectors import incident_list

    assert [i.pk for i in incident_list(user=owner)] == [recent.pk]


def test_only_owners_archive(service: Service, member: User) -> None:
    with pytest.raises(PermissionDenied):
        services.incidents_archive(
            organization=service.organization, before=timezone.now() - timedelta(days=1), by=member
        )


@pytest.mark.django_db
def test_archive_leaves_an_ongoing_maintenance_incident_open(service: Service, owner: User) -> None:
    from escalations.catalog.services import service_maintenance_start

    with time_machine.travel(timezone.now() - timedelta(hours=2), tick=False):
        child = _new(service, "before maintenance")
        service_maintenance_start(
            service=service, by=owner, mode="maintenance", duration_minutes=240
        )
    maintenance = Incident.objects.get(service=service, is_maintenance=True)
    child.refresh_from_db()
    assert child.parent_id == maintenance.pk
    archived = services.incidents_archive(
        organization=service.organization, before=timezone.now(), by=owner
    )
    assert archived == 1  # the child; maintenance is still on
    maintenance.refresh_from_db()
    assert (maintenance.status, maintenance.archived_at) == (Status.TRIGGERED, None)
    child.refresh_from_db()
    assert child.status == Status.RESOLVED and child.archived_at is not None
    later = _new(service, "during maintenance")  # still collected by the maintenance incident
    assert later.parent_id == maintenance.pk
