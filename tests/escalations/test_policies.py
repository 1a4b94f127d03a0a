"""Escalation policies through their services: validation of every step kind (good and bad
values), positions stay 0..n-1, delete refused while used, the team rule for a service's
policy, permissions (member of another team, stakeholder, outsider), selectors and 404s."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from escalations.catalog.services import service_set_policy, service_update
from escalations.models import EscalationPolicy, EscalationStep, StepKind
from escalations.policies import selectors
from escalations.policies import services as ps
from escalations.policies.text import step_describe
from opsduty.models import Organization, Role, Service, Team, User
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(org_a: Organization, owner: User, member: User, stakeholder: User) -> Team:
    team = factories.make_team(organization=org_a, name="Platform")
    for user in (owner, member, stakeholder):
        factories.add_member(team, user)
    return team


@pytest.fixture
def other_team(org_a: Organization) -> Team:
    return factories.make_team(organization=org_a, name="Payments")


@pytest.fixture
def policy(team: Team, member: User) -> EscalationPolicy:
    return ps.policy_create(team=team, by=member, name="Platform default")


def errors_of(excinfo: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return excinfo.value.message_dict


def add(policy: EscalationPolicy, kind: str, **fields: Any) -> EscalationStep:
    return ps.step_add(policy=policy, by=None, kind=kind, **fields)


def refused(policy: EscalationPolicy, kind: str, **fields: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as excinfo:
        add(policy, kind, **fields)
    return errors_of(excinfo)


# --- step kinds: good values --------------------------------------------------------------


def test_every_step_kind_with_good_values_is_stored_and_described(
    policy: EscalationPolicy, member: User, team: Team
) -> None:
    member.first_name = "Alice"
    member.save()
    add(policy, StepKind.NOTIFY, users=[member], teams=[team], channel="sms")
    add(policy, StepKind.WAIT, wait_minutes=7)
    add(policy, StepKind.NOTIFY_IF_EVENTS, teams=[team], events_count=3, window_minutes=10)
    add(
        policy,
        StepKind.NOTIFY_IF_TIME,
        users=[member],
        time_from=time(22, 0),
        time_to=time(6, 0),
        timezone="Europe/Oslo",
    )
    add(policy, StepKind.REPEAT, repeat_times=5)
    add(policy, StepKind.RESOLVE)
    steps = selectors.policy_steps(policy)
    assert [s.position for s in steps] == [0, 1, 2, 3, 4, 5]
    assert [step_describe(s) for s in steps] == [
        "Notify Alice and team Platform by SMS",
        "Wait 7 minutes",
        "Notify team Platform if the incident has 3 events or more within 10 minutes",
        "Notify Alice between 22:00 and 06:00 (Europe/Oslo); outside that window, "
        "pause until 22:00",
        "Repeat from step 1 (up to 5 times)",
        "Resolve the incident",
    ]


@pytest.mark.parametrize("minutes", [1, 5, 37, 1440])
def test_wait_takes_any_whole_number_of_minutes_up_to_a_day(
    policy: EscalationPolicy, minutes: int
) -> None:
    assert add(policy, StepKind.WAIT, wait_minutes=minutes).wait_minutes == minutes


def test_fields_of_other_kinds_are_not_stored(policy: EscalationPolicy, team: Team) -> None:
    step = add(policy, StepKind.WAIT, wait_minutes=5, events_count=3, teams=[team])
    step.refresh_from_db()
    assert step.events_count is None and list(step.teams.all()) == []


def test_update_changes_kind_and_clears_the_old_fields(
    policy: EscalationPolicy, team: Team, member: User
) -> None:
    step = add(policy, StepKind.NOTIFY, teams=[team])
    ps.step_update(step=step, by=member, kind=StepKind.WAIT, wait_minutes=3)
    step.refresh_from_db()
    assert (step.kind, step.wait_minutes, list(step.teams.all())) == ("wait", 3, [])


# --- step kinds: bad values ---------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1, 1441, 2.5, "5", None, True])
def test_wait_outside_1_to_1440_is_refused(policy: EscalationPolicy, value: Any) -> None:
    errors = refused(policy, StepKind.WAIT, wait_minutes=value)
    assert errors == {"wait_minutes": [ps.RANGE_MESSAGES["wait_minutes"][2]]}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"events_count": 0, "window_minutes": 10}, "events_count"),
        ({"events_count": 1001, "window_minutes": 10}, "events_count"),
        ({"events_count": 3, "window_minutes": 0}, "window_minutes"),
        ({"events_count": 3, "window_minutes": 1441}, "window_minutes"),
        ({"window_minutes": 10}, "events_count"),
    ],
)
def test_notify_if_events_bounds(
    policy: EscalationPolicy, team: Team, fields: dict[str, Any], field: str
) -> None:
    errors = refused(policy, StepKind.NOTIFY_IF_EVENTS, teams=[team], **fields)
    assert list(errors) == [field]


def test_notify_if_events_accepts_the_bounds(policy: EscalationPolicy, team: Team) -> None:
    add(policy, StepKind.NOTIFY_IF_EVENTS, teams=[team], events_count=1, window_minutes=1)
    add(policy, StepKind.NOTIFY_IF_EVENTS, teams=[team], events_count=1000, window_minutes=1440)


def test_notify_if_time_needs_a_real_zone_and_a_window(
    policy: EscalationPolicy, team: Team
) -> None:
    errors = refused(
        policy,
        StepKind.NOTIFY_IF_TIME,
        teams=[team],
        time_from=time(9),
        time_to=time(9),
        timezone="Mars/Olympus",
    )
    assert set(errors) == {"time_to", "timezone"}
    assert "another time" in errors["time_to"][0]
    errors = refused(policy, StepKind.NOTIFY_IF_TIME, teams=[team], timezone="UTC")
    assert set(errors) == {"time_from", "time_to"}


@pytest.mark.parametrize("value", [0, 6, None])
def test_repeat_is_at_most_five_times(policy: EscalationPolicy, value: Any) -> None:
    assert list(refused(policy, StepKind.REPEAT, repeat_times=value)) == ["repeat_times"]


def test_unknown_kind_channel_and_field_are_refused(policy: EscalationPolicy, team: Team) -> None:
    assert list(refused(policy, "page_everyone")) == ["kind"]
    assert list(refused(policy, StepKind.NOTIFY, teams=[team], channel="fax")) == ["channel"]
    assert list(refused(policy, StepKind.WAIT, wait_minutes=5, colour="red")) == ["colour"]


@pytest.mark.parametrize(
    "kind", [StepKind.NOTIFY, StepKind.NOTIFY_IF_EVENTS, StepKind.NOTIFY_IF_TIME]
)
def test_notify_steps_need_a_target(policy: EscalationPolicy, kind: str) -> None:
    fields = {"events_count": 1, "window_minutes": 5, "time_from": time(9)}
    fields |= {"time_to": time(17), "timezone": "UTC"}
    errors = refused(policy, kind, **{k: v for k, v in fields.items() if k in ps.KIND_FIELDS[kind]})
    assert errors == {"users": [ps.TARGET_MESSAGE]}


def test_schedule_targets_are_not_available_yet(policy: EscalationPolicy, team: Team) -> None:
    errors = refused(policy, StepKind.NOTIFY, teams=[team], schedule_id=1)
    assert errors == {"schedule_id": [ps.SCHEDULE_MESSAGE]}


def test_stakeholders_are_refused_as_targets(policy: EscalationPolicy, stakeholder: User) -> None:
    errors = refused(policy, StepKind.NOTIFY, users=[stakeholder])
    assert "stakeholders are never notified" in errors["users"][0]


def test_inactive_and_foreign_users_and_teams_are_refused(
    policy: EscalationPolicy, org_a: Organization, outsider: User, org_b: Organization
) -> None:
    inactive = factories.make_user(organization=org_a, role=Role.MEMBER, is_active=False)
    assert refused(policy, StepKind.NOTIFY, users=[inactive]) == {"users": ["Unknown user."]}
    assert refused(policy, StepKind.NOTIFY, users=[outsider]) == {"users": ["Unknown user."]}
    foreign_team = factories.make_team(organization=org_b)
    assert refused(policy, StepKind.NOTIFY, teams=[foreign_team]) == {"teams": ["Unknown team."]}


# --- positions ----------------------------------------------------------------------------


def _order(policy: EscalationPolicy) -> list[tuple[int, int]]:
    return [(s.position, s.wait_minutes or 0) for s in selectors.policy_steps(policy)]


def test_move_and_delete_keep_positions_dense(policy: EscalationPolicy, member: User) -> None:
    steps = [add(policy, StepKind.WAIT, wait_minutes=m) for m in (1, 2, 3, 4)]
    ps.step_move(step=steps[3], position=0, by=member)
    assert _order(policy) == [(0, 4), (1, 1), (2, 2), (3, 3)]
    ps.step_move(step=steps[3], position=99, by=member)
    assert _order(policy) == [(0, 1), (1, 2), (2, 3), (3, 4)]
    ps.step_delete(step=steps[1], by=member)
    assert _order(policy) == [(0, 1), (1, 3), (2, 4)]
    assert add(policy, StepKind.WAIT, wait_minutes=9).position == 3


def test_reorder_takes_the_full_new_order(policy: EscalationPolicy, member: User) -> None:
    a, b, c = (add(policy, StepKind.WAIT, wait_minutes=m) for m in (1, 2, 3))
    ps.step_reorder(policy=policy, step_ids=[c.pk, a.pk, b.pk], by=member)
    assert _order(policy) == [(0, 3), (1, 1), (2, 2)]
    for stale in ([c.pk, a.pk], [c.pk, a.pk, b.pk, 999], [a.pk, a.pk, b.pk]):
        with pytest.raises(ValidationError) as excinfo:
            ps.step_reorder(policy=policy, step_ids=stale, by=member)
        assert "reload" in errors_of(excinfo)["order"][0]
    assert _order(policy) == [(0, 3), (1, 1), (2, 2)]


# --- policies and services ----------------------------------------------------------------


def test_policy_names_are_unique_per_organization(team: Team, other_team: Team) -> None:
    ps.policy_create(team=team, by=None, name="Default")
    with pytest.raises(ValidationError) as excinfo:
        ps.policy_create(team=other_team, by=None, name=" Default ")
    assert errors_of(excinfo) == {"name": ["An escalation policy with this name already exists."]}


def test_delete_is_refused_while_a_service_uses_the_policy(
    policy: EscalationPolicy, team: Team, member: User
) -> None:
    add(policy, StepKind.WAIT, wait_minutes=5)
    service = factories.make_service(team=team, name="API")
    service_set_policy(service=service, policy=policy, by=member)
    with pytest.raises(ValidationError) as excinfo:
        ps.policy_delete(policy=policy, by=member)
    assert "“API”" in excinfo.value.messages[0]
    service_set_policy(service=service, policy=None, by=member)
    ps.policy_delete(policy=policy, by=member)
    assert not EscalationStep.objects.exists()


def test_a_service_may_only_use_a_policy_of_its_own_team(
    policy: EscalationPolicy, other_team: Team, owner: User
) -> None:
    service = factories.make_service(team=other_team, name="Checkout")
    with pytest.raises(ValidationError) as excinfo:
        service_set_policy(service=service, policy=policy, by=owner)
    assert "only use that team's policies" in errors_of(excinfo)["escalation_policy"][0]
    assert Service.objects.get(pk=service.pk).escalation_policy is None


def test_moving_a_service_to_another_team_needs_that_teams_policy(
    policy: EscalationPolicy, team: Team, other_team: Team, owner: User
) -> None:
    service = factories.make_service(team=team, name="API")
    service_set_policy(service=service, policy=policy, by=owner)
    fields: dict[str, Any] = {"name": "API", "service_type": "technical", "description": ""}
    with pytest.raises(ValidationError) as excinfo:
        service_update(service=service, by=owner, slack_channel="", team=other_team, **fields)
    assert "escalation_policy" in errors_of(excinfo)
    service.refresh_from_db()
    service_update(
        service=service,
        by=owner,
        slack_channel="",
        team=other_team,
        escalation_policy=None,
        **fields,
    )
    assert Service.objects.get(pk=service.pk).team == other_team


def test_a_used_policy_cannot_move_to_another_team(
    policy: EscalationPolicy, team: Team, other_team: Team, owner: User
) -> None:
    service = factories.make_service(team=team, name="API")
    service_set_policy(service=service, policy=policy, by=owner)
    with pytest.raises(ValidationError) as excinfo:
        ps.policy_update(policy=policy, by=owner, name="P", description="", team=other_team)
    assert "team" in errors_of(excinfo)


# --- permissions and selectors ------------------------------------------------------------


def test_members_of_another_team_and_stakeholders_cannot_manage(
    policy: EscalationPolicy, org_a: Organization, stakeholder: User
) -> None:
    stranger = factories.make_user(organization=org_a, role=Role.MEMBER)
    for user in (stranger, stakeholder):
        with pytest.raises(PermissionDenied):
            ps.step_add(policy=policy, by=user, kind=StepKind.WAIT, wait_minutes=5)
        with pytest.raises(PermissionDenied):
            ps.policy_delete(policy=policy, by=user)
        with pytest.raises(PermissionDenied):
            ps.policy_create(team=policy.team, by=user, name="Mine")


def test_visibility_follows_the_team_and_foreign_ids_are_404(
    policy: EscalationPolicy, owner: User, member: User, org_a: Organization, outsider: User
) -> None:
    stranger = factories.make_user(organization=org_a, role=Role.MEMBER)
    step = add(policy, StepKind.WAIT, wait_minutes=5)
    assert list(selectors.policy_list(user=owner)) == [policy]
    assert list(selectors.policy_list(user=member)) == [policy]
    assert list(selectors.policy_list(user=stranger)) == []
    for user in (stranger, outsider):
        with pytest.raises(Http404):
            selectors.policy_get(user=user, policy_id=policy.pk)
        with pytest.raises(Http404):
            selectors.step_get(user=user, step_id=step.pk)


def test_policy_steps_prefetches_targets(
    policy: EscalationPolicy, team: Team, member: User, django_assert_num_queries: Any
) -> None:
    for _ in range(3):
        add(policy, StepKind.NOTIFY, users=[member], teams=[team])
    with django_assert_num_queries(3):
        steps = selectors.policy_steps(policy)
        assert all(list(s.users.all()) and list(s.teams.all()) for s in steps)
