"""Owners deactivate, reactivate and delete people (docs/accounts.md): a page first warns where
the person is on duty (escalation steps, schedules, overrides), and diagnostics then shows the
gap; a deactivated person can no longer sign in, use a token or be paged, and reactivating
undoes it; deleting removes their personal data while incidents keep naming "a deleted
user"; nobody removes themselves, and the organization keeps an active owner."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from escalations.models import NotificationRule, StepKind
from escalations.policies import services as ps
from escalations.schedules import services as ss
from escalations.schedules.models import Frequency, Rotation, Schedule
from escalations.schedules.selectors import schedule_gaps
from incidents import services as incident_services
from opsduty import services
from opsduty.models import Organization, Role, Team, User
from tests import factories
from tests.conftest import api_client_for, session_client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(org_a: Organization, member: User) -> Team:
    team = factories.make_team(organization=org_a, name="Platform")
    factories.add_member(team, member)
    return team


def _duties(team: Team, member: User) -> Schedule:
    policy = ps.policy_create(team=team, by=None, name="Platform default")
    ps.step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[member])
    schedule = ss.schedule_create(team=team, by=None, name="Primary", timezone_name="UTC")
    ps.step_add(policy=policy, by=None, kind=StepKind.NOTIFY, schedule_id=schedule.pk)
    ss.layer_create(
        schedule=schedule,
        by=None,
        data=ss.LayerInput(
            name="Days",
            rotation=Rotation.PLAIN,
            groups=[[member]],
            frequency=Frequency.DAILY,
            start_date=timezone.now().date() + timedelta(days=1),
            handoff_time=time(9, 0),
            shift_minutes=24 * 60,
        ),
    )
    return schedule


def _gap_hours(schedule: Schedule) -> float:
    now = timezone.now()
    found = schedule_gaps(schedule, now, now + timedelta(days=14))
    return sum((end - start).total_seconds() for start, end in found) / 3600


def test_deactivating_warns_where_they_are_on_duty_and_diagnostics_shows_the_gap(
    org_a: Organization, owner: User, member: User, owner_client: Client, team: Team
) -> None:
    schedule = _duties(team, member)
    covered_gap = _gap_hours(schedule)
    assert covered_gap < 34  # until the layer's first shift, tomorrow 09:00
    member_session = session_client_for(member)
    member_api = api_client_for(member)
    assert member_api.get("/api/v1/users/").status_code == 200

    warning = owner_client.get(f"/members/{member.pk}/deactivate/").content.decode()
    assert "escalation policy “Platform default”, step 1" in warning
    assert "schedule “Primary”" in warning
    # Without the confirmation (a stray POST), nothing happens.
    owner_client.post(f"/members/{member.pk}/deactivate/")
    member.refresh_from_db()
    assert member.is_active

    page = owner_client.post(
        f"/members/{member.pk}/deactivate/", {"confirm": "yes"}, follow=True
    ).content.decode()
    assert "is deactivated" in page and "(deactivated)" in page
    assert member_session.get("/incidents/").status_code == 302  # signed out
    assert member_api.get("/api/v1/users/").status_code == 401  # token gone
    refused = Client().post(
        "/login/", {"domain": "org-a", "email": member.email, "password": factories.PASSWORD}
    )
    assert refused.status_code == 200  # the form again
    diagnostics = owner_client.get("/settings/diagnostics/").content.decode()
    assert "Platform default" in diagnostics and "deactivated" in diagnostics
    assert "Primary" in diagnostics.split('id="diag-schedules"')[1]
    assert _gap_hours(schedule) > 14 * 24 - 1  # their shifts page nobody: all of it

    owner_client.post(f"/members/{member.pk}/reactivate/")
    signed = Client().post(
        "/login/", {"domain": "org-a", "email": member.email, "password": factories.PASSWORD}
    )
    assert signed.status_code == 302


def test_deleting_removes_personal_data_and_incidents_name_a_deleted_user(
    org_a: Organization, owner: User, member: User, owner_client: Client, team: Team
) -> None:
    member.first_name, member.last_name, member.phone_number = "Mia", "Member", "+15550100123"
    member.save()
    NotificationRule.objects.create(
        organization=org_a,
        user=member,
        channel="email",
        urgency="high",
        position=0,
        delay_minutes=0,
    )
    incident = factories.make_incident(
        service=factories.make_service(team=team, name="API"), summary="Disk full"
    )
    incident_services.incident_acknowledge(incident=incident, by=member)
    assert "Mia Member" in owner_client.get(f"/incidents/{incident.pk}/").content.decode()

    owner_client.post(f"/members/{member.pk}/delete/", {"confirm": "yes"}, follow=True)
    member.refresh_from_db()
    assert (member.first_name, member.last_name, member.phone_number) == ("", "", "")
    assert member.email.endswith("@deleted.invalid") and not member.has_usable_password()
    assert not member.is_active and member.deleted_at is not None
    assert not member.teams.exists()
    assert not NotificationRule.objects.filter(user=member).exists()
    incident_page = owner_client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "a deleted user" in incident_page and "Mia" not in incident_page
    assert "member@a.example" not in owner_client.get("/members/").content.decode()
    refused = owner_client.post(f"/members/{member.pk}/reactivate/", follow=True)
    assert "cannot come back" in refused.content.decode()


def test_nobody_removes_themselves_and_an_active_owner_always_remains(
    org_a: Organization, owner: User, owner_client: Client
) -> None:
    page = owner_client.post(f"/members/{owner.pk}/delete/", {"confirm": "yes"}, follow=True)
    assert "cannot delete yourself" in page.content.decode()
    factories.make_user(organization=org_a, email="m2@a.example", role=Role.MEMBER)
    other = factories.make_user(organization=org_a, email="o2@a.example", role=Role.OWNER)
    stale_other = User.objects.get(pk=other.pk)
    services.user_deactivate(user=other, by=owner)
    # The other owner's request, read before they were deactivated, arrives after it.
    with pytest.raises(ValidationError, match="at least one owner"):
        services.user_deactivate(user=owner, by=stale_other)
    owner.refresh_from_db()
    assert owner.is_active
    # With nobody else active, the last person stays too.
    lone = factories.make_organization(domain="lone")
    first = factories.make_user(organization=lone, email="a@lone.example", role=Role.OWNER)
    second = factories.make_user(organization=lone, email="b@lone.example", role=Role.OWNER)
    services.user_deactivate(user=second, by=first)
    with pytest.raises(ValidationError, match="at least one person"):
        services.user_delete(user=first, by=User.objects.get(pk=second.pk))


def test_only_owners_remove_people(member: User, owner: User, member_client: Client) -> None:
    assert member_client.get(f"/members/{owner.pk}/deactivate/").status_code == 403
    response = member_client.post(f"/members/{owner.pk}/delete/", {"confirm": "yes"})
    assert response.status_code == 403
    owner.refresh_from_db()
    assert owner.is_active and owner.deleted_at is None
