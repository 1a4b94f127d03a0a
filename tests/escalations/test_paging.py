"""Reassign and direct paging with injected time: the new policy restarts at step 1 and
survives later restarts; pages reach users and team members once per minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError

from escalations.catalog.services import service_set_policy
from escalations.engine import services as engine
from escalations.engine.models import EscalationRun, RunState
from escalations.engine.paging import (
    incident_escalate,
    incident_page,
    incident_reassign,
    paging_targets_get,
)
from escalations.notifications.models import Notification, NotificationStatus
from escalations.notifications.services import notification_deliver
from escalations.policies.models import EscalationPolicy, StepKind
from escalations.policies.services import policy_create, step_add
from incidents import services as incident_services
from incidents.models import Incident, IncidentLogEntry
from opsduty.models import Organization, Role, Service, Team, User
from tests import factories

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def team(org_a: Organization, owner: User, member: User) -> Team:
    team = factories.make_team(organization=org_a, name="Platform")
    factories.add_member(team, owner)
    factories.add_member(team, member)
    return team


@pytest.fixture
def service(team: Team) -> Service:
    return factories.make_service(team=team, name="API")


@pytest.fixture
def policy(team: Team, service: Service, member: User) -> EscalationPolicy:
    policy = policy_create(team=team, by=None, name="Default")
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[member])
    service_set_policy(service=service, policy=policy, by=None)
    return policy


@pytest.fixture
def night(team: Team, owner: User) -> EscalationPolicy:
    """Another policy of the same team: notify the owner, then wait."""
    policy = policy_create(team=team, by=None, name="Night")
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[owner])
    step_add(policy=policy, by=None, kind=StepKind.WAIT, wait_minutes=10)
    return policy


@pytest.fixture
def db_team(org_a: Organization) -> Team:
    team = factories.make_team(organization=org_a, name="Databases")
    factories.add_member(team, factories.make_user(organization=org_a, email="dba@a.example"))
    factories.add_member(
        team,
        factories.make_user(organization=org_a, email="watch@a.example", role=Role.STAKEHOLDER),
    )
    return team


def _open(service: Service) -> Incident:
    with time_machine.travel(START, tick=False):
        return factories.make_incident(service=service)


def _run(incident: Incident) -> EscalationRun:
    return EscalationRun.objects.get(incident=incident)


def _fire(incident: Incident, at: datetime) -> bool:
    with time_machine.travel(at, tick=False):
        return engine.run_fire(run_id=_run(incident).pk)


def _notified(incident: Incident) -> list[str]:
    rows = Notification.objects.filter(incident=incident).select_related("user")
    return sorted({n.user.email for n in rows})


def _at(when: datetime, fn: Any, **kwargs: Any) -> Any:
    with time_machine.travel(when, tick=False):
        return fn(**kwargs)


# --- reassign ---------------------------------------------------------------------------------


def test_reassign_restarts_at_step_one_with_the_new_policy(
    policy: EscalationPolicy, night: EscalationPolicy, service: Service, owner: User, member: User
) -> None:
    incident = _open(service)
    assert _notified(incident) == [member.email]  # step 1 ran with the incident
    later = START + timedelta(minutes=3)
    _at(later, incident_reassign, incident=incident, by=member, policy=night)
    run = _run(incident)
    assert (run.policy_id, run.policy_overridden) == (night.pk, True)
    # Restarted at step 1 of "Night" at once: the owner is notified, then the wait.
    assert (run.state, run.step_index) == (RunState.ACTIVE, 2)
    assert _notified(incident) == sorted([member.email, owner.email])
    assert run.due_at == later + timedelta(minutes=10)
    assert IncidentLogEntry.objects.filter(
        incident=incident,
        actor=member,
        message=f"Reassigned to policy “Night” by {member.get_full_name()}",
    ).exists()


def test_reassigned_policy_survives_silence_expiry(
    policy: EscalationPolicy, night: EscalationPolicy, service: Service, member: User
) -> None:
    incident = _open(service)
    _at(START, incident_reassign, incident=incident, by=member, policy=night)
    _at(START, incident_services.incident_silence, incident=incident, by=member, minutes=10)
    assert _run(incident).state == RunState.STOPPED
    later = START + timedelta(minutes=10)
    assert _at(later, incident_services.incident_silence_expire, incident_id=incident.pk)
    run = _run(incident)
    assert (run.policy_id, run.state, run.step_index, run.due_at) == (
        night.pk,
        RunState.ACTIVE,
        2,
        later + timedelta(minutes=10),
    )


def test_reassign_while_acknowledged_takes_effect_when_triggered_again(
    policy: EscalationPolicy, night: EscalationPolicy, service: Service, member: User
) -> None:
    incident = _open(service)
    _at(START, incident_services.incident_acknowledge, incident=incident, by=member)
    _at(START, incident_reassign, incident=incident, by=member, policy=night)
    assert _run(incident).state != RunState.ACTIVE  # nothing runs while acknowledged
    later = START + timedelta(minutes=2)
    _at(later, incident_services.incident_unacknowledge, incident=incident, by=member)
    run = _run(incident)
    assert (run.policy_id, run.state, run.due_at) == (
        night.pk,
        RunState.ACTIVE,
        later + timedelta(minutes=10),
    )


def test_reassign_refuses_another_teams_policy(
    policy: EscalationPolicy, service: Service, member: User, db_team: Team
) -> None:
    foreign = policy_create(team=db_team, by=None, name="DB on call")
    incident = _open(service)
    with pytest.raises(ValidationError, match="belongs to team Databases"):
        incident_reassign(incident=incident, by=member, policy=foreign)
    assert _run(incident).policy_id == policy.pk and not _run(incident).policy_overridden


def test_reassign_refuses_a_resolved_incident(
    policy: EscalationPolicy, night: EscalationPolicy, service: Service, member: User
) -> None:
    incident = _open(service)
    incident_services.incident_resolve(incident=incident, by=member)
    with pytest.raises(ValidationError, match="resolved incident cannot be reassigned"):
        incident_reassign(incident=incident, by=member, policy=night)


def test_reassign_refuses_a_stakeholder(
    policy: EscalationPolicy,
    night: EscalationPolicy,
    service: Service,
    stakeholder: User,
    team: Team,
) -> None:
    factories.add_member(team, stakeholder)
    incident = _open(service)
    with pytest.raises(PermissionDenied):
        incident_reassign(incident=incident, by=stakeholder, policy=night)


# --- direct paging ----------------------------------------------------------------------------


def test_page_notifies_users_and_team_members_but_not_stakeholders(
    service: Service, owner: User, member: User, db_team: Team, org_a: Organization
) -> None:
    incident = _open(service)
    gone = factories.make_user(organization=org_a, email="gone@a.example", is_active=False)
    factories.add_member(db_team, gone)
    paged = _at(START, incident_page, incident=incident, by=owner, users=[member], teams=[db_team])
    assert [user.email for user in paged] == [member.email, "dba@a.example"]
    assert _notified(incident) == sorted([member.email, "dba@a.example"])
    entry = IncidentLogEntry.objects.get(incident=incident, message__startswith="Paged ")
    assert entry.actor == owner
    assert entry.message.endswith(f"by {owner.get_full_name()}")
    assert not EscalationRun.objects.filter(incident=incident, policy_overridden=True).exists()


def test_page_is_idempotent_within_the_minute(service: Service, owner: User, member: User) -> None:
    incident = _open(service)
    _at(START, incident_page, incident=incident, by=owner, users=[member], teams=[])
    first = Notification.objects.filter(incident=incident).count()
    _at(
        START + timedelta(seconds=40),
        incident_page,
        incident=incident,
        by=owner,
        users=[member],
        teams=[],
    )
    assert first > 0
    assert Notification.objects.filter(incident=incident).count() == first
    _at(
        START + timedelta(minutes=1),
        incident_page,
        incident=incident,
        by=owner,
        users=[member],
        teams=[],
    )
    assert Notification.objects.filter(incident=incident).count() == 2 * first


def test_page_refused_when_nobody_is_pageable(
    service: Service, owner: User, stakeholder: User
) -> None:
    incident = _open(service)
    with pytest.raises(ValidationError, match="Nobody to page"):
        incident_page(incident=incident, by=owner, users=[stakeholder], teams=[])
    assert _notified(incident) == []


def test_page_refused_for_a_resolved_incident(service: Service, owner: User, member: User) -> None:
    incident = _open(service)
    incident_services.incident_resolve(incident=incident, by=owner)
    with pytest.raises(ValidationError, match="resolved incident cannot be paged"):
        incident_page(incident=incident, by=owner, users=[member], teams=[])


def test_a_page_on_an_acknowledged_incident_is_delivered(
    service: Service, owner: User, member: User
) -> None:
    incident = _open(service)
    incident_services.incident_acknowledge(incident=incident, by=owner)
    with time_machine.travel(START + timedelta(hours=1), tick=False):
        incident_page(incident=incident, by=owner, users=[member], teams=[])
        notification = Notification.objects.filter(incident=incident).order_by("due_at").first()
    assert notification is not None
    with time_machine.travel(notification.due_at, tick=False):
        assert notification_deliver(notification_id=notification.pk) != NotificationStatus.CANCELLED


def test_paging_targets_refuse_another_organizations_ids(
    org_a: Organization, outsider: User, member: User
) -> None:
    with pytest.raises(ValidationError, match=f"Unknown users: {outsider.pk}"):
        paging_targets_get(organization=org_a, user_ids=[member.pk, outsider.pk], team_ids=[])


# --- escalate now -----------------------------------------------------------------------------


@pytest.fixture
def ladder(team: Team, service: Service, member: User, owner: User) -> EscalationPolicy:
    """Notify the member, wait 30 minutes, notify the owner."""
    policy = policy_create(team=team, by=None, name="Ladder")
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[member])
    step_add(policy=policy, by=None, kind=StepKind.WAIT, wait_minutes=30)
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[owner])
    service_set_policy(service=service, policy=policy, by=None)
    return policy


def test_escalate_pages_the_next_step_now_instead_of_after_the_wait(
    ladder: EscalationPolicy, service: Service, owner: User, member: User
) -> None:
    incident = _open(service)
    assert _notified(incident) == [member.email]
    later = START + timedelta(minutes=2)
    number = _at(later, incident_escalate, incident=incident, by=member, expected_step=3)
    assert number == 3
    assert _notified(incident) == sorted([member.email, owner.email])  # 28 minutes early
    assert _run(incident).state == RunState.FINISHED
    messages = list(
        IncidentLogEntry.objects.filter(incident=incident)
        .order_by("id")
        .values_list("message", flat=True)
    )
    escalated = messages.index(f"Escalated by {member.get_full_name()}: the next step runs now.")
    assert messages[escalated + 1] == f"Step 3: notifying {owner.get_full_name()}."
    # The task scheduled for the end of the wait finds nothing left to do.
    assert not _fire(incident, START + timedelta(minutes=30))


def test_escalate_twice_from_the_same_page_moves_on_once(
    ladder: EscalationPolicy, service: Service, member: User, owner: User
) -> None:
    incident = _open(service)
    _at(START, incident_escalate, incident=incident, by=member, expected_step=3)
    paged = Notification.objects.filter(incident=incident, user=owner).count()
    assert paged >= 1  # one row per notification rule
    with pytest.raises(ValidationError, match="Nothing to escalate to"):
        incident_escalate(incident=incident, by=owner, expected_step=3)
    assert Notification.objects.filter(incident=incident, user=owner).count() == paged


def test_escalate_with_a_stale_step_is_refused_and_pages_nobody(
    policy: EscalationPolicy, night: EscalationPolicy, service: Service, member: User
) -> None:
    # "Night" + a third step: notify the owner, wait 10, notify the member; step 3 is next.
    step_add(policy=night, by=None, kind=StepKind.NOTIFY, users=[member])
    incident = _open(service)
    _at(START, incident_reassign, incident=incident, by=member, policy=night)
    before = Notification.objects.filter(incident=incident).count()
    with pytest.raises(ValidationError, match="moved on already"):
        incident_escalate(incident=incident, by=member, expected_step=5)
    assert Notification.objects.filter(incident=incident).count() == before


def test_escalate_is_refused_unless_triggered(
    ladder: EscalationPolicy, service: Service, member: User, owner: User
) -> None:
    incident = _open(service)
    incident_services.incident_acknowledge(incident=incident, by=member)
    with pytest.raises(ValidationError, match="Only a triggered incident can be escalated"):
        incident_escalate(incident=incident, by=member)
    incident_services.incident_resolve(incident=incident, by=member)
    with pytest.raises(ValidationError, match="resolved incident cannot be escalated"):
        incident_escalate(incident=incident, by=member)
    assert not Notification.objects.filter(incident=incident, user=owner).exists()


def test_escalate_is_refused_to_a_stakeholder_and_without_a_policy(
    service: Service, stakeholder: User, team: Team, member: User
) -> None:
    factories.add_member(team, stakeholder)
    incident = _open(service)  # the service has no policy
    with pytest.raises(PermissionDenied):
        incident_escalate(incident=incident, by=stakeholder)
    with pytest.raises(ValidationError, match="Nothing to escalate to"):
        incident_escalate(incident=incident, by=member)
