"""Schedules with injected time: validation, immutable history, overrides, the on-call
cache, and the escalation engine's schedule targets."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError

from escalations.catalog.services import service_set_policy
from escalations.engine.targets import service_oncall
from escalations.models import (
    EscalationRun,
    Notification,
    Schedule,
    ScheduleLayer,
    ScheduleOverride,
    StepKind,
)
from escalations.policies.services import policy_create, step_add
from escalations.schedules import selectors
from escalations.schedules.services import (
    LayerInput,
    layer_create,
    layer_delete,
    layer_move,
    layer_update,
    override_create,
    override_delete,
    schedule_create,
    schedule_delete,
    schedule_update,
)
from incidents.models import IncidentLogEntry
from opsduty.models import Organization, Service, Team, User
from tests import factories

pytestmark = pytest.mark.django_db

# Sunday 2027-01-03 12:00 UTC (13:00 in Oslo); layers start Monday 2027-01-04 09:00 Oslo.
NOW = datetime(2027, 1, 3, 12, 0, tzinfo=UTC)
MONDAY = date(2027, 1, 4)
FIRST_HANDOFF = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)  # 09:00 in Oslo (UTC+1)


@pytest.fixture
def alice(org_a: Organization) -> User:
    return factories.make_user(organization=org_a, email="alice@a.example", first_name="Alice")


@pytest.fixture
def bob(org_a: Organization) -> User:
    return factories.make_user(organization=org_a, email="bob@a.example", first_name="Bob")


@pytest.fixture
def team(org_a: Organization, owner: User, alice: User, bob: User, stakeholder: User) -> Team:
    team = factories.make_team(organization=org_a, name="Platform")
    for user in (owner, alice, bob, stakeholder):
        factories.add_member(team, user)
    return team


@pytest.fixture
def schedule(team: Team) -> Schedule:
    return schedule_create(team=team, by=None, name="Primary", timezone_name="Europe/Oslo")


def _daily(*groups: list[User], **changes: object) -> LayerInput:
    data = LayerInput(
        name="Daily",
        rotation="rolling",
        groups=[list(group) for group in groups],
        frequency="daily",
        start_date=MONDAY,
        handoff_time=time(9, 0),
        shift_minutes=24 * 60,
    )
    for name, value in changes.items():
        setattr(data, name, value)
    return data


def _layer(schedule: Schedule, data: LayerInput) -> ScheduleLayer:
    with time_machine.travel(NOW, tick=False):
        return layer_create(schedule=schedule, by=None, data=data)


def _oncall(schedule: Schedule, at: datetime) -> list[str]:
    fresh = Schedule.objects.get(pk=schedule.pk)
    return [user.email for user in selectors.oncall_users(fresh, at)]


def _errors(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return exc.value.message_dict


# --- validation -----------------------------------------------------------------------------


def test_bad_layers_get_a_message_per_field(schedule: Schedule, alice: User) -> None:
    with time_machine.travel(NOW, tick=False), pytest.raises(ValidationError) as exc:
        layer_create(
            schedule=schedule,
            by=None,
            data=_daily([alice], start_date=date(2027, 1, 2), shift_minutes=0, interval=0),
        )
    errors = _errors(exc)
    assert "zero-length" in errors["shift_minutes"][0]
    assert "interval" in errors
    assert not ScheduleLayer.objects.exists()
    with time_machine.travel(NOW, tick=False), pytest.raises(ValidationError) as exc:
        layer_create(schedule=schedule, by=None, data=_daily([alice], start_date=date(2027, 1, 2)))
    assert "future" in _errors(exc)["start"][0]


def test_people_outside_the_team_and_stakeholders_cannot_be_on_call(
    schedule: Schedule, org_a: Organization, stakeholder: User, outsider: User
) -> None:
    stranger = factories.make_user(organization=org_a, email="stranger@a.example")
    for user in (stranger, stakeholder, outsider):
        with time_machine.travel(NOW, tick=False), pytest.raises(ValidationError) as exc:
            layer_create(schedule=schedule, by=None, data=_daily([user]))
        assert "groups" in _errors(exc)
        with time_machine.travel(NOW, tick=False), pytest.raises(ValidationError):
            override_create(
                schedule=schedule, by=None, user=user, start=NOW, end=NOW + timedelta(hours=1)
            )


def test_unknown_timezone_and_duplicate_names_are_refused(team: Team, schedule: Schedule) -> None:
    with pytest.raises(ValidationError) as exc:
        schedule_create(team=team, by=None, name="Other", timezone_name="Mars/Olympus")
    assert "timezone" in _errors(exc)
    with pytest.raises(ValidationError) as exc:
        schedule_create(team=team, by=None, name="Primary", timezone_name="UTC")
    assert "already exists" in _errors(exc)["name"][0]


def test_only_the_team_may_edit(schedule: Schedule, org_a: Organization, alice: User) -> None:
    outsider_member = factories.make_user(organization=org_a, email="x@a.example")
    with time_machine.travel(NOW, tick=False), pytest.raises(PermissionDenied):
        layer_create(schedule=schedule, by=outsider_member, data=_daily([alice]))
    layer = _layer(schedule, _daily([alice]))
    assert layer.created_by is None


# --- who is on call and history -------------------------------------------------------------


def test_rolling_daily_layer_hands_off_at_nine_local(
    schedule: Schedule, alice: User, bob: User
) -> None:
    _layer(schedule, _daily([alice], [bob]))
    assert _oncall(schedule, NOW) == []  # before the first shift
    assert _oncall(schedule, FIRST_HANDOFF) == [alice.email]
    assert _oncall(schedule, FIRST_HANDOFF + timedelta(hours=23, minutes=59)) == [alice.email]
    assert _oncall(schedule, FIRST_HANDOFF + timedelta(days=1)) == [bob.email]
    assert _oncall(schedule, FIRST_HANDOFF + timedelta(days=2)) == [alice.email]


def test_editing_a_layer_never_changes_past_shifts(
    schedule: Schedule, alice: User, bob: User, owner: User
) -> None:
    layer = _layer(schedule, _daily([alice], [bob]))
    window = (FIRST_HANDOFF, FIRST_HANDOFF + timedelta(days=6))
    later = FIRST_HANDOFF + timedelta(days=3, hours=2)  # Thursday 11:00 Oslo
    with time_machine.travel(later, tick=False):
        before = selectors.schedule_shifts(schedule, *window)
        # Replace the rotation with the owner alone, from now on.
        updated = layer_update(layer=layer, by=None, data=_daily([owner]))
        after = selectors.schedule_shifts(schedule, *window)
    assert updated.pk != layer.pk and updated.lineage == layer.pk  # a new version
    # Up to the edit, who was on call is exactly as it was (the running shift cut at `later`).
    past_before = [(s.start, min(s.end, later), s.users) for s in before if s.start < later]
    past_after = [(s.start, min(s.end, later), s.users) for s in after if s.start < later]
    assert past_before == past_after and len(past_before) == 4
    # The running shift is cut at the edit, and the owner takes over from then on.
    assert _oncall(schedule, later - timedelta(minutes=1)) == [bob.email]
    assert _oncall(schedule, later) == [owner.email]
    assert _oncall(schedule, later + timedelta(days=1)) == [owner.email]


def test_deleting_a_layer_keeps_its_past(schedule: Schedule, alice: User) -> None:
    layer = _layer(schedule, _daily([alice]))
    yesterday = FIRST_HANDOFF + timedelta(hours=1)
    with time_machine.travel(FIRST_HANDOFF + timedelta(days=1), tick=False):
        layer_delete(layer=layer, by=None)
    assert _oncall(schedule, yesterday) == [alice.email]
    assert _oncall(schedule, FIRST_HANDOFF + timedelta(days=1, hours=1)) == []
    # A layer that never started leaves nothing behind.
    other = _layer(schedule, _daily([alice], name="Unused"))
    with time_machine.travel(NOW, tick=False):
        layer_delete(layer=other, by=None)
    assert not ScheduleLayer.objects.filter(lineage=other.pk).exists()


def test_higher_layer_wins_and_moving_it_applies_from_now(
    schedule: Schedule, alice: User, bob: User
) -> None:
    low = _layer(schedule, _daily([alice], name="Low"))
    _layer(schedule, _daily([bob], name="High"))
    assert _oncall(schedule, FIRST_HANDOFF) == [bob.email]
    moment = FIRST_HANDOFF + timedelta(days=2)
    with time_machine.travel(moment, tick=False):
        layer_move(layer=low, by=None, up=True)
    assert _oncall(schedule, FIRST_HANDOFF + timedelta(hours=1)) == [bob.email]  # the past
    assert _oncall(schedule, moment + timedelta(hours=1)) == [alice.email]


def test_overrides_win_merge_and_delete(schedule: Schedule, alice: User, bob: User) -> None:
    _layer(schedule, _daily([alice]))
    start = FIRST_HANDOFF + timedelta(hours=2)
    with time_machine.travel(NOW, tick=False):
        first = override_create(
            schedule=schedule, by=None, user=bob, start=start, end=start + timedelta(hours=4)
        )
        override_create(
            schedule=schedule,
            by=None,
            user=alice,
            start=start + timedelta(hours=2),
            end=start + timedelta(hours=6),
        )
    assert _oncall(schedule, start + timedelta(hours=1)) == [bob.email]
    assert _oncall(schedule, start + timedelta(hours=3)) == sorted([alice.email, bob.email])
    # A running override ends now; the rotation takes the time back.
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        override_delete(override=first, by=None)
    assert ScheduleOverride.objects.get(pk=first.pk).end == start + timedelta(hours=1)
    assert _oncall(schedule, start + timedelta(minutes=30)) == [bob.email]  # the past stays
    assert _oncall(schedule, start + timedelta(hours=1, minutes=30)) == [alice.email]
    # An override that is over cannot be deleted.
    with time_machine.travel(start + timedelta(days=2), tick=False), pytest.raises(ValidationError):
        override_delete(override=ScheduleOverride.objects.get(pk=first.pk), by=None)


def test_overrides_cannot_rewrite_the_past(schedule: Schedule, alice: User) -> None:
    with time_machine.travel(NOW, tick=False):
        with pytest.raises(ValidationError) as exc:
            override_create(
                schedule=schedule,
                by=None,
                user=alice,
                start=NOW - timedelta(hours=1),
                end=NOW + timedelta(hours=1),
            )
        assert "past" in _errors(exc)["start"][0]
        with pytest.raises(ValidationError) as exc:
            override_create(schedule=schedule, by=None, user=alice, start=NOW, end=NOW)
        assert "after" in _errors(exc)["end"][0]
        # A start a moment ago (a client's clock) is moved to now.
        override = override_create(
            schedule=schedule,
            by=None,
            user=alice,
            start=NOW - timedelta(seconds=20),
            end=NOW + timedelta(hours=1),
        )
    assert override.start == NOW


def test_every_write_invalidates_the_oncall_cache(
    schedule: Schedule, alice: User, bob: User
) -> None:
    _layer(schedule, _daily([alice]))
    at = FIRST_HANDOFF + timedelta(hours=3)
    assert _oncall(schedule, at) == [alice.email]  # cached now
    version = Schedule.objects.get(pk=schedule.pk).version
    with time_machine.travel(NOW, tick=False):
        override_create(schedule=schedule, by=None, user=bob, start=at, end=at + timedelta(hours=1))
    assert Schedule.objects.get(pk=schedule.pk).version > version
    assert _oncall(schedule, at) == [bob.email]


def test_timezone_change_applies_from_now_on(schedule: Schedule, alice: User) -> None:
    _layer(schedule, _daily([alice], shift_minutes=60))
    assert _oncall(schedule, FIRST_HANDOFF) == [alice.email]
    moment = FIRST_HANDOFF + timedelta(days=1, hours=2)
    with time_machine.travel(moment, tick=False):
        schedule_update(
            schedule=schedule, by=None, name="Primary", description="", timezone_name="UTC"
        )
    assert _oncall(schedule, FIRST_HANDOFF) == [alice.email]  # 09:00 Oslo, the past
    assert _oncall(schedule, datetime(2027, 1, 6, 9, 30, tzinfo=UTC)) == [alice.email]  # 09 UTC
    assert _oncall(schedule, datetime(2027, 1, 6, 8, 30, tzinfo=UTC)) == []


def test_a_schedule_used_by_a_policy_cannot_be_deleted(team: Team, schedule: Schedule) -> None:
    policy = policy_create(team=team, by=None, name="P")
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, schedule_id=schedule.pk)
    with pytest.raises(ValidationError, match="“P”"):
        schedule_delete(schedule=schedule, by=None)
    assert Schedule.objects.filter(pk=schedule.pk).exists()


def test_policy_steps_refuse_another_organizations_schedule(
    team: Team, org_b: Organization
) -> None:
    other_team = factories.make_team(organization=org_b, name="B")
    foreign = schedule_create(team=other_team, by=None, name="Theirs")
    policy = policy_create(team=team, by=None, name="P")
    with pytest.raises(ValidationError) as exc:
        step_add(policy=policy, by=None, kind=StepKind.NOTIFY, schedule_id=foreign.pk)
    assert _errors(exc)["schedule_id"] == ["Unknown schedule."]


# --- the engine and "on call now" -----------------------------------------------------------


@pytest.fixture
def service(team: Team, schedule: Schedule, owner: User) -> Service:
    service = factories.make_service(team=team, name="API")
    policy = policy_create(team=team, by=None, name="Default")
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, schedule_id=schedule.pk)
    step_add(policy=policy, by=None, kind=StepKind.WAIT, wait_minutes=5)
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[owner])
    service_set_policy(service=service, policy=policy, by=None)
    return Service.objects.get(pk=service.pk)


def test_a_schedule_step_notifies_whoever_is_on_call(
    service: Service, schedule: Schedule, alice: User, bob: User
) -> None:
    _layer(schedule, _daily([alice], [bob]))
    with time_machine.travel(FIRST_HANDOFF + timedelta(days=1, hours=1), tick=False):
        incident = factories.make_incident(service=service)
    notified = {n.user_id for n in Notification.objects.filter(incident=incident)}
    assert notified == {bob.pk}
    assert EscalationRun.objects.get(incident=incident).step_index == 2


def test_a_schedule_step_with_nobody_on_call_says_so(service: Service, schedule: Schedule) -> None:
    with time_machine.travel(NOW, tick=False):
        incident = factories.make_incident(service=service)
    assert not Notification.objects.filter(incident=incident).exists()
    messages = list(
        IncidentLogEntry.objects.filter(incident=incident).values_list("message", flat=True)
    )
    assert any("nobody is on call in schedule “Primary”" in m for m in messages)


def test_service_oncall_follows_the_first_notify_step(
    service: Service, schedule: Schedule, alice: User
) -> None:
    assert service_oncall(service, FIRST_HANDOFF) == []
    _layer(schedule, _daily([alice]))
    assert [u.email for u in service_oncall(service, FIRST_HANDOFF)] == [alice.email]


def test_service_oncall_never_lists_stakeholders(
    team: Team, owner: User, alice: User, bob: User, stakeholder: User
) -> None:
    service = factories.make_service(team=team, name="Checkout")
    policy = policy_create(team=team, by=None, name="Team first")
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, teams=[team])
    service_set_policy(service=service, policy=policy, by=None)
    service = Service.objects.get(pk=service.pk)
    # The team has the owner, alice, bob and a stakeholder; the stakeholder is never paged.
    emails = {u.email for u in service_oncall(service, FIRST_HANDOFF)}
    assert emails == {owner.email, alice.email, bob.email}


def test_the_next_oncall_change_is_the_next_handoff(
    service: Service, schedule: Schedule, alice: User, bob: User
) -> None:
    from escalations.engine.targets import service_oncall_next_change

    _layer(schedule, _daily([alice], [bob]))
    fresh = Schedule.objects.get(pk=schedule.pk)
    # Before the first shift: when it starts; during a shift: when it ends.
    assert selectors.oncall_next_change(fresh, NOW) == FIRST_HANDOFF
    in_shift = FIRST_HANDOFF + timedelta(hours=3)
    assert selectors.oncall_next_change(fresh, in_shift) == FIRST_HANDOFF + timedelta(days=1)
    assert service_oncall_next_change(service, in_shift) == FIRST_HANDOFF + timedelta(days=1)


def test_an_empty_schedule_never_changes_by_itself(schedule: Schedule) -> None:
    assert selectors.oncall_next_change(Schedule.objects.get(pk=schedule.pk), NOW) is None
