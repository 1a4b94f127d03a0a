"""The diagnostics selector: each finding appears when it should and goes when fixed, the
queries stay bounded as the organization grows, and another organization is never read."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from escalations.catalog.services import service_set_policy
from escalations.diagnostics.selectors import diagnostics_for
from escalations.models import (
    EscalationPolicy,
    EscalationStep,
    Frequency,
    Rotation,
    Schedule,
    ScheduleLayer,
    StepKind,
)
from escalations.notifications.rules import RuleInput, notification_rules_replace
from escalations.policies import services as ps
from escalations.schedules import services as ss
from escalations.schedules.selectors import oncall_forget
from opsduty.models import Organization, Role, Team, User
from tests import factories

pytestmark = pytest.mark.django_db

PHONE = "+15550100"
# Schedules are built at CREATED (layers start in the future) and diagnosed at NOW:
# Tuesday 2027-01-05 13:00 in Oslo; the first shifts are on Wednesday 2027-01-06.
CREATED = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)
NOW = datetime(2027, 1, 5, 12, 0, tzinfo=UTC)
OSLO = ZoneInfo("Europe/Oslo")


@pytest.fixture(autouse=True)
def _fresh_oncall_cache() -> None:
    oncall_forget()


@pytest.fixture
def team(org_a: Organization, member: User) -> Team:
    team = factories.make_team(organization=org_a, name="Platform")
    factories.add_member(team, member)
    return team


@pytest.fixture
def team_b(org_b: Organization) -> Team:
    return factories.make_team(organization=org_b, name="Bravo")


@pytest.fixture
def policy(team: Team, member: User) -> EscalationPolicy:
    policy = ps.policy_create(team=team, by=None, name="Platform default")
    ps.step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[member])
    return policy


def _notify_step(policy: EscalationPolicy, **targets: object) -> EscalationStep:
    return ps.step_add(policy=policy, by=None, kind=StepKind.NOTIFY, **targets)


def _schedule(team: Team, name: str, zone: str) -> Schedule:
    with time_machine.travel(CREATED, tick=False):
        return ss.schedule_create(team=team, by=None, name=name, timezone_name=zone)


def _daily_layer(
    schedule: Schedule, groups: list[list[User]], *, shift_minutes: int
) -> ScheduleLayer:
    """Daily shifts from Wednesday 2027-01-06 09:00 (schedule's zone) of `shift_minutes`."""
    with time_machine.travel(CREATED, tick=False):
        return ss.layer_create(
            schedule=schedule,
            by=None,
            data=ss.LayerInput(
                name="Days",
                rotation=Rotation.PLAIN,
                groups=groups,
                frequency=Frequency.DAILY,
                start_date=date(2027, 1, 6),
                handoff_time=time(9, 0),
                shift_minutes=shift_minutes,
            ),
        )


def test_service_without_policy_is_listed_until_it_gets_one(
    org_a: Organization, team: Team, policy: EscalationPolicy
) -> None:
    service = factories.make_service(team=team, name="API")
    assert diagnostics_for(organization=org_a).services_without_policy == [service]
    service_set_policy(service=service, policy=policy, by=None)
    assert diagnostics_for(organization=org_a).services_without_policy == []


def test_policy_used_by_no_service_is_informational(
    org_a: Organization, team: Team, policy: EscalationPolicy
) -> None:
    found = diagnostics_for(organization=org_a)
    assert found.unused_policies == [policy]
    assert found.problem_count == len(found.users_without_contact)  # not counted as a problem
    service_set_policy(service=factories.make_service(team=team), policy=policy, by=None)
    assert diagnostics_for(organization=org_a).unused_policies == []


def test_step_whose_only_user_becomes_a_stakeholder_pages_nobody(
    org_a: Organization, policy: EscalationPolicy, member: User
) -> None:
    assert diagnostics_for(organization=org_a).unreachable_steps == []
    member.role = Role.STAKEHOLDER
    member.save(update_fields=["role"])
    [finding] = diagnostics_for(organization=org_a).unreachable_steps
    assert finding.policy == policy and "stakeholders or deactivated" in finding.reason
    member.role = Role.MEMBER
    member.save(update_fields=["role"])
    assert diagnostics_for(organization=org_a).unreachable_steps == []


def test_step_whose_only_user_is_deactivated_pages_nobody(
    org_a: Organization, policy: EscalationPolicy, member: User
) -> None:
    member.is_active = False
    member.save(update_fields=["is_active"])
    assert len(diagnostics_for(organization=org_a).unreachable_steps) == 1


def test_team_target_needs_a_pageable_member(
    org_a: Organization, team: Team, policy: EscalationPolicy, stakeholder: User
) -> None:
    empty = factories.make_team(organization=org_a, name="Night crew")
    factories.add_member(empty, stakeholder)
    step = _notify_step(policy, teams=[empty])
    [finding] = diagnostics_for(organization=org_a).unreachable_steps
    assert finding.step == step and "no pageable members in Night crew" in finding.reason
    factories.add_member(empty, factories.make_user(organization=org_a))
    assert diagnostics_for(organization=org_a).unreachable_steps == []


def test_team_with_one_pageable_member_is_enough(
    org_a: Organization, team: Team, member: User, stakeholder: User
) -> None:
    factories.add_member(team, stakeholder)
    policy = ps.policy_create(team=team, by=None, name="Team page")
    _notify_step(policy, teams=[team])
    assert diagnostics_for(organization=org_a).unreachable_steps == []


def test_step_without_targets_pages_nobody(
    org_a: Organization, policy: EscalationPolicy, member: User
) -> None:
    # Cannot be saved through the services today; older or imported rows can hold it.
    bare = EscalationStep.objects.create(
        organization=org_a, policy=policy, position=5, kind=StepKind.NOTIFY_IF_EVENTS
    )
    reasons = {f.step: f.reason for f in diagnostics_for(organization=org_a).unreachable_steps}
    assert reasons == {bare: "it targets nobody"}
    bare.users.add(member)
    assert diagnostics_for(organization=org_a).unreachable_steps == []


def test_step_with_only_a_schedule_pages_nobody_until_the_schedule_has_a_layer(
    org_a: Organization, team: Team, policy: EscalationPolicy, member: User
) -> None:
    with time_machine.travel(CREATED, tick=False):
        schedule = ss.schedule_create(team=team, by=None, name="Primary", timezone_name="UTC")
    step = _notify_step(policy, schedule_id=schedule.pk)
    [finding] = diagnostics_for(organization=org_a, now=NOW).unreachable_steps
    assert finding.step == step and finding.reason == "its schedule “Primary” has no layers"
    _daily_layer(schedule, [[member]], shift_minutes=24 * 60)
    assert diagnostics_for(organization=org_a, now=NOW).unreachable_steps == []


def test_a_deleted_layer_leaves_the_schedule_without_layers(
    org_a: Organization, team: Team, policy: EscalationPolicy, member: User
) -> None:
    schedule = _schedule(team, "Primary", "UTC")
    layer = _daily_layer(schedule, [[member]], shift_minutes=24 * 60)
    step = _notify_step(policy, schedule_id=schedule.pk)
    assert diagnostics_for(organization=org_a, now=NOW).unreachable_steps == []
    with time_machine.travel(NOW, tick=False):
        ss.layer_delete(layer=layer, by=None)  # started: ends now, its history stays
    [finding] = diagnostics_for(organization=org_a, now=NOW).unreachable_steps
    assert finding.step == step and "has no layers" in finding.reason


def test_schedule_gaps_of_the_next_14_days_are_listed_in_the_schedules_zone(
    org_a: Organization, team: Team, policy: EscalationPolicy, member: User
) -> None:
    schedule = _schedule(team, "Office hours", "Europe/Oslo")
    _daily_layer(schedule, [[member]], shift_minutes=8 * 60)  # 09:00-17:00 every day
    _notify_step(policy, schedule_id=schedule.pk)
    found = diagnostics_for(organization=org_a, now=NOW)
    [finding] = found.schedule_gaps
    assert finding.schedule == schedule and finding.policies == [policy]
    assert found.unreachable_steps == []  # a schedule with a layer is a target
    gaps = [(f"{start:%m-%d %H:%M}", f"{end:%m-%d %H:%M}") for start, end in finding.gaps]
    # From now until the first shift, then every night until 14 days from now (Oslo time).
    assert gaps[0] == ("01-05 13:00", "01-06 09:00")
    assert gaps[1] == ("01-06 17:00", "01-07 09:00")
    assert gaps[-1] == ("01-18 17:00", "01-19 09:00")
    assert len(gaps) == 14
    assert all(start.utcoffset() == timedelta(hours=1) for start, _ in finding.gaps)
    assert all(str(start.tzinfo) == "Europe/Oslo" for start, _ in finding.gaps)
    assert found.problem_count == 1 + len(found.users_without_contact)


def test_schedule_gap_ends_where_an_override_covers_it(
    org_a: Organization, team: Team, policy: EscalationPolicy, member: User
) -> None:
    schedule = _schedule(team, "Primary", "UTC")
    _daily_layer(schedule, [[member]], shift_minutes=24 * 60)
    _notify_step(policy, schedule_id=schedule.pk)
    [finding] = diagnostics_for(organization=org_a, now=NOW).schedule_gaps
    assert finding.gaps == [(NOW, datetime(2027, 1, 6, 9, tzinfo=UTC))]
    with time_machine.travel(NOW, tick=False):
        ss.override_create(
            schedule=schedule, by=None, user=member, start=NOW, end=finding.gaps[0][1]
        )
    assert diagnostics_for(organization=org_a, now=NOW).schedule_gaps == []


def test_schedules_no_policy_notifies_are_not_checked_for_gaps(
    org_a: Organization, team: Team, member: User
) -> None:
    schedule = _schedule(team, "Spare", "UTC")
    _daily_layer(schedule, [[member]], shift_minutes=60)
    assert diagnostics_for(organization=org_a, now=NOW).schedule_gaps == []


def test_a_schedule_without_layers_is_one_14_day_gap(
    org_a: Organization, team: Team, policy: EscalationPolicy
) -> None:
    schedule = _schedule(team, "Empty", "Europe/Oslo")
    _notify_step(policy, schedule_id=schedule.pk)
    [finding] = diagnostics_for(organization=org_a, now=NOW).schedule_gaps
    assert finding.gaps == [(NOW.astimezone(OSLO), (NOW + timedelta(days=14)).astimezone(OSLO))]


def test_another_organizations_schedule_gaps_are_never_listed(
    org_a: Organization, team_b: Team, outsider: User
) -> None:
    factories.add_member(team_b, outsider)
    theirs = ps.policy_create(team=team_b, by=None, name="Bravo policy")
    _notify_step(theirs, schedule_id=_schedule(team_b, "Bravo", "UTC").pk)
    assert diagnostics_for(organization=org_a, now=NOW).schedule_gaps == []
    assert len(diagnostics_for(organization=team_b.organization, now=NOW).schedule_gaps) == 1


def test_wait_and_repeat_steps_are_never_flagged(org_a: Organization, team: Team) -> None:
    policy = ps.policy_create(team=team, by=None, name="Only waits")
    ps.step_add(policy=policy, by=None, kind=StepKind.WAIT, wait_minutes=5)
    ps.step_add(policy=policy, by=None, kind=StepKind.REPEAT, repeat_times=1)
    assert diagnostics_for(organization=org_a).unreachable_steps == []


def test_user_without_phone_for_default_sms_rules_until_they_add_one(
    org_a: Organization, owner: User, member: User, stakeholder: User
) -> None:
    owner.phone_number = PHONE
    owner.save(update_fields=["phone_number"])
    found = diagnostics_for(organization=org_a).users_without_contact
    assert [p.user for p in found] == [member]  # stakeholders are never paged
    assert found[0].problems == ["SMS and Voice call rules but no phone number"]
    member.phone_number = PHONE
    member.save(update_fields=["phone_number"])
    assert diagnostics_for(organization=org_a).users_without_contact == []


def test_queries_stay_bounded_as_the_organization_grows(
    org_a: Organization, team: Team, policy: EscalationPolicy
) -> None:
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            diagnostics_for(organization=org_a)
        return len(queries)

    _notify_step(policy, teams=[team])  # every prefetch has rows to load from the start
    before = count()
    for number in range(5):
        crew = factories.make_team(organization=org_a, name=f"Crew {number}")
        factories.add_member(crew, factories.make_user(organization=org_a))
        extra = ps.policy_create(team=crew, by=None, name=f"Extra {number}")
        _notify_step(extra, teams=[crew], users=[factories.make_user(organization=org_a)])
        factories.make_service(team=crew)
    assert count() == before


def test_another_organizations_objects_are_never_listed(
    org_a: Organization, org_b: Organization, outsider: User, team_b: Team
) -> None:
    factories.make_service(team=team_b, name="Bravo service")
    theirs = ps.policy_create(team=team_b, by=None, name="Bravo policy")
    factories.add_member(team_b, outsider)
    step = _notify_step(theirs, users=[outsider])
    outsider.role = Role.STAKEHOLDER
    outsider.save(update_fields=["role"])
    found = diagnostics_for(organization=org_a)
    assert found.services_without_policy == [] and found.unused_policies == []
    assert found.unreachable_steps == [] and found.users_without_contact == []
    assert [f.step for f in diagnostics_for(organization=org_b).unreachable_steps] == [step]


def test_person_with_sms_rules_and_an_unverified_number_is_listed_until_verified(
    org_a: Organization, owner: User, member: User, stakeholder: User
) -> None:
    for user in (owner, member, stakeholder):
        user.phone_number = PHONE
        user.phone_verified_at = NOW if user is owner else None
        user.save(update_fields=["phone_number", "phone_verified_at"])
    found = diagnostics_for(organization=org_a)
    assert [p.user for p in found.unverified_phones] == [member]  # stakeholders: never paged
    assert found.unverified_phones[0].problems == [
        "SMS and Voice call rules but the phone number is not verified"
    ]
    assert found.users_without_contact == [] and found.problem_count == 1
    member.phone_verified_at = NOW
    member.sms_stopped_at = NOW
    member.save(update_fields=["phone_verified_at", "sms_stopped_at"])
    [stopped] = diagnostics_for(organization=org_a).unverified_phones
    assert stopped.problems == ["SMS rules but they answered STOP to our SMS"]


def test_email_only_rules_need_no_verified_number(org_a: Organization, member: User) -> None:
    member.phone_number = PHONE
    member.save(update_fields=["phone_number"])
    for urgency in ("high", "low"):
        notification_rules_replace(
            user=member, urgency=urgency, rules=[RuleInput(delay_minutes=0, channel="email")]
        )
    assert diagnostics_for(organization=org_a).unverified_phones == []
