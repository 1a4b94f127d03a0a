"""The Diagnostics page through the Django test client: owners only (nav link and 403), each
finding shown with its fix link and gone once fixed, and never another organization's."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from escalations.catalog.services import service_set_policy
from escalations.models import EscalationPolicy, Frequency, Rotation, StepKind
from escalations.policies import services as ps
from escalations.schedules import services as ss
from escalations.schedules.selectors import oncall_forget
from opsduty.models import Role, Team, User
from tests import factories

pytestmark = pytest.mark.django_db

URL = "/settings/diagnostics/"


@pytest.fixture
def team(team_a: Team, owner: User, member: User) -> Team:
    factories.add_member(team_a, member)
    for user in (owner, member):
        user.phone_number = "+15550100"
        user.phone_verified_at = datetime(2026, 1, 1, tzinfo=UTC)
        user.save(update_fields=["phone_number", "phone_verified_at"])
    return team_a


@pytest.fixture
def policy(team: Team, member: User) -> EscalationPolicy:
    policy = ps.policy_create(team=team, by=None, name="Platform default")
    ps.step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[member])
    return policy


def page(client: Client) -> str:
    response = client.get(URL)
    assert response.status_code == 200
    return response.content.decode()


def test_owner_sees_the_page_and_the_nav_link(owner_client: Client, team: Team) -> None:
    content = page(owner_client)
    assert 'aria-current="page">Diagnostics' in content
    assert "No problems found" in content
    assert "Schedule gaps in the next 14 days <small>(0)</small>" in content


def test_members_and_stakeholders_get_403_and_no_link(
    member_client: Client, stakeholder_client: Client
) -> None:
    for client in (member_client, stakeholder_client):
        assert client.get(URL).status_code == 403
        assert f'href="{URL}"' not in client.get("/members/").content.decode()


def test_anonymous_is_sent_to_sign_in(client: Client) -> None:
    response = client.get(URL)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_service_without_policy_links_to_its_edit_page(
    owner_client: Client, team: Team, policy: EscalationPolicy
) -> None:
    service = factories.make_service(team=team, name="Checkout API")
    content = page(owner_client)
    assert "Checkout API" in content and f"/services/{service.pk}/edit/" in content
    assert "1 problem found." in content
    service_set_policy(service=service, policy=policy, by=None)
    assert f"/services/{service.pk}/edit/" not in page(owner_client)


def test_unreachable_step_links_to_the_step_editor(
    owner_client: Client, policy: EscalationPolicy, member: User
) -> None:
    step = policy.steps.get()
    assert f"/escalation-steps/{step.pk}/edit/" not in page(owner_client)
    member.role = Role.STAKEHOLDER
    member.save(update_fields=["role"])
    content = page(owner_client)
    assert f"/escalation-steps/{step.pk}/edit/" in content
    assert "its users are stakeholders or deactivated" in content


def test_unused_policy_is_listed_for_information(
    owner_client: Client, team: Team, policy: EscalationPolicy
) -> None:
    content = page(owner_client)
    assert f"/escalation-policies/{policy.pk}/" in content and "No problems found" in content
    service_set_policy(service=factories.make_service(team=team), policy=policy, by=None)
    assert f"/escalation-policies/{policy.pk}/" not in page(owner_client)


def test_user_without_phone_links_to_their_rules(
    owner_client: Client, team: Team, member: User, owner: User
) -> None:
    member.phone_number = ""
    member.save(update_fields=["phone_number"])
    content = page(owner_client)
    assert f"/users/{member.pk}/notification-rules/" in content
    assert "SMS and Voice call rules but no phone number" in content
    owner.phone_number = ""
    owner.save(update_fields=["phone_number"])
    assert "Fix in your profile" in page(owner_client)


def test_other_organizations_objects_are_never_listed(
    owner_client: Client, outsider_client: Client, team: Team, team_b: Team, outsider: User
) -> None:
    factories.make_service(team=team_b, name="Bravo hidden service")
    theirs = ps.policy_create(team=team_b, by=None, name="Bravo hidden policy")
    factories.add_member(team_b, outsider)
    ps.step_add(policy=theirs, by=None, kind=StepKind.NOTIFY, teams=[team_b])
    mine = page(owner_client)
    assert "Bravo hidden" not in mine and "outsider@b.example" not in mine
    theirs_page = page(outsider_client)
    assert "Bravo hidden service" in theirs_page and "Platform" not in theirs_page


def test_schedule_gaps_show_local_times_and_link_the_policy(
    owner_client: Client, team: Team, policy: EscalationPolicy, member: User, owner: User
) -> None:
    oncall_forget()
    with time_machine.travel(datetime(2027, 1, 1, 12, tzinfo=UTC), tick=False):
        schedule = ss.schedule_create(
            team=team, by=None, name="Office hours", timezone_name="Europe/Oslo"
        )
        ss.layer_create(
            schedule=schedule,
            by=None,
            data=ss.LayerInput(
                name="Days",
                rotation=Rotation.PLAIN,
                groups=[[member]],
                frequency=Frequency.DAILY,
                start_date=date(2027, 1, 6),
                handoff_time=time(9, 0),
                shift_minutes=8 * 60,
            ),
        )
    ps.step_add(policy=policy, by=None, kind=StepKind.NOTIFY, schedule_id=schedule.pk)
    with time_machine.travel(datetime(2027, 1, 5, 12, tzinfo=UTC), tick=False):
        owner_client.force_login(owner)  # a session from today would have expired by then
        content = page(owner_client)
    assert "Schedule gaps in the next 14 days <small>(1)</small>" in content
    assert "Office hours" in content and f"/escalation-policies/{policy.pk}/" in content
    # Wednesday 17:00 to Thursday 09:00 in Oslo (16:00 to 08:00 UTC).
    assert "Wed 6 Jan 17:00</time> to" in content and "Thu 7 Jan 09:00 CET</time>" in content
    assert 'datetime="2027-01-06T16:00:00+00:00"' in content
    assert "and 4 more" in content  # 14 gaps, the first 10 shown


def test_unverified_phone_is_listed_with_a_link_to_their_rules(
    owner_client: Client, team: Team, member: User
) -> None:
    member.phone_verified_at = None
    member.save(update_fields=["phone_verified_at"])
    content = page(owner_client)
    assert "Phone numbers SMS and voice cannot use <small>(1)</small>" in content
    assert "SMS and Voice call rules but the phone number is not verified" in content
    assert f'href="{reverse("user_notification_rules", kwargs={"user_id": member.pk})}"' in content
