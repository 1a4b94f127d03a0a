"""Escalations (level 2+ by timeout, apart from manual escalation and reassignment) and the
responder load (interrupting channels only, the person's time zone and hours, 60 seconds)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine

from analytics.selectors import Filters, Scope, overview, responder_load
from analytics.services import analytics_rebuild, responder_notified
from escalations import engine
from escalations.catalog.services import service_set_policy
from escalations.engine.models import EscalationRun
from escalations.engine.paging import incident_escalate, incident_reassign
from escalations.models import Notification
from escalations.notifications.providers import Receipt, provider_register
from escalations.notifications.rules import RuleInput, notification_rules_replace
from escalations.notifications.services import notification_deliver, notify_user
from escalations.policies.models import EscalationPolicy, StepKind
from escalations.policies.services import policy_create, step_add
from incidents.models import Incident
from opsduty.models import Organization, Service, User
from tests import factories

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday, 11:00 in Oslo
DAY = date(2026, 3, 2)


@pytest.fixture
def service(org_a: Organization, member: User, owner: User) -> Service:
    team = factories.make_team(organization=org_a, name="Payments")
    factories.add_member(team, member)
    factories.add_member(team, owner)
    return factories.make_service(team=team, name="Checkout")


@pytest.fixture
def policy(service: Service, member: User, owner: User) -> EscalationPolicy:
    assert service.team is not None
    policy = policy_create(team=service.team, by=None, name="Payments")
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[member])
    step_add(policy=policy, by=None, kind=StepKind.WAIT, wait_minutes=5)
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[owner])
    service_set_policy(service=service, policy=policy, by=None)
    return policy


def _metrics(org: Organization) -> Any:
    return overview(Scope(org.pk, None), Filters(start=DAY, end=DAY))


def _paged(incident: Incident) -> set[str]:
    return set(incident.notifications.values_list("user__email", flat=True))


def _open(service: Service) -> Incident:
    with time_machine.travel(T0, tick=False):
        return factories.make_incident(service=service)


def test_reaching_level_two_by_timeout_counts_as_escalated(
    org_a: Organization, service: Service, policy: EscalationPolicy
) -> None:
    incident = _open(service)
    assert _metrics(org_a).escalated == 0  # level 1 is not an escalation
    run = EscalationRun.objects.get(incident=incident)
    with time_machine.travel(T0 + timedelta(minutes=6), tick=False):
        assert engine.services.run_fire(run_id=run.pk)
    assert _paged(incident) == {"member@a.example", "owner@a.example"}
    assert _metrics(org_a).escalated == 1
    before = _metrics(org_a).as_dict()
    analytics_rebuild(organizations=[org_a])
    assert _metrics(org_a).as_dict() == before


def test_escalating_by_hand_and_reassigning_are_not_timeouts(
    org_a: Organization, service: Service, policy: EscalationPolicy, member: User
) -> None:
    escalated_by_hand = _open(service)
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        incident_escalate(incident=escalated_by_hand, by=member)
    assert _paged(escalated_by_hand) == {"member@a.example", "owner@a.example"}  # by hand
    reassigned = _open(service)
    other = policy_create(team=service.team, by=None, name="Other")
    step_add(policy=other, by=None, kind=StepKind.NOTIFY, users=[member])
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        incident_reassign(incident=reassigned, by=member, policy=other)
    metrics = _metrics(org_a)
    assert (metrics.escalated, metrics.reassigned) == (0, 1)
    before = metrics.as_dict()
    analytics_rebuild(organizations=[org_a])
    assert _metrics(org_a).as_dict() == before


def _load(org: Organization, day: date = DAY) -> dict[int, tuple[int, int, int, int]]:
    return {
        load.user_id: (load.business, load.off, load.sleep, load.notifications)
        for load in responder_load(Scope(org.pk, None), Filters(start=day, end=day))
    }


def test_interruptions_count_once_within_60_seconds_in_the_persons_hours(
    org_a: Organization, member: User
) -> None:
    member.time_zone = "Asia/Tokyo"  # 10:00 UTC is 19:00 there: off hours
    member.save(update_fields=["time_zone"])
    for seconds in (0, 30, 80, 200):  # 0 and 30 are one interruption; 80 is 50 s after 30
        responder_notified(
            organization_id=org_a.pk, user_id=member.pk, at=T0 + timedelta(seconds=seconds)
        )
    assert _load(org_a) == {member.pk: (0, 2, 0, 4)}
    # 14:00 UTC is 23:00 in Tokyo: sleep hours.
    responder_notified(organization_id=org_a.pk, user_id=member.pk, at=T0 + timedelta(hours=4))
    assert _load(org_a) == {member.pk: (0, 2, 1, 5)}


def test_the_organizations_zone_when_the_person_has_none_and_business_hours(
    org_a: Organization, member: User
) -> None:
    org_a.time_zone = "Europe/Oslo"
    org_a.save(update_fields=["time_zone"])
    responder_notified(organization_id=org_a.pk, user_id=member.pk, at=T0)  # 11:00 Monday
    saturday = T0 + timedelta(days=5)
    responder_notified(organization_id=org_a.pk, user_id=member.pk, at=saturday)
    assert _load(org_a) == {member.pk: (1, 0, 0, 1)}
    assert _load(org_a, date(2026, 3, 7)) == {member.pk: (0, 1, 0, 1)}


class _Delivered:
    """A provider that accepts every message (the SMS gateway's part is not under test)."""

    def send(self, notification: Notification) -> Receipt:
        return Receipt(answer="sent")


@pytest.fixture
def sms_delivered() -> Any:
    previous = provider_register("sms", _Delivered())
    yield
    provider_register("sms", None)
    del previous


def test_delivered_notifications_on_interrupting_channels_count_and_email_does_not(
    org_a: Organization, service: Service, member: User, owner: User, sms_delivered: None
) -> None:
    notification_rules_replace(
        user=member, urgency="high", rules=[RuleInput(0, "email"), RuleInput(0, "sms")]
    )
    incident = _open(service)
    with time_machine.travel(T0, tick=False):
        rows = notify_user(incident=incident, user=member, reason="test", key_prefix="t")
        for row in rows:
            notification_deliver(notification_id=row.pk)
    statuses = dict(Notification.objects.filter(incident=incident).values_list("channel", "status"))
    assert statuses == {"email": "sent", "sms": "sent"}
    assert _load(org_a) == {member.pk: (1, 0, 0, 1)}  # the SMS, not the email
    before = _load(org_a)
    analytics_rebuild(organizations=[org_a])
    assert _load(org_a) == before


def test_a_member_filtering_on_another_team_sees_no_ones_load(
    org_a: Organization, member: User, owner: User
) -> None:
    other_team = factories.make_team(organization=org_a, name="Elsewhere")
    factories.add_member(other_team, owner)
    responder_notified(organization_id=org_a.pk, user_id=owner.pk, at=T0)
    member_scope = Scope(org_a.pk, ())  # a member of no team
    filters = Filters(start=DAY, end=DAY, team_id=other_team.pk)
    assert responder_load(member_scope, filters) == []
    assert [load.user_id for load in responder_load(Scope(org_a.pk, None), filters)] == [owner.pk]
