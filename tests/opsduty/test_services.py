"""The tenancy core's services: organizations, users, roles and teams."""

from __future__ import annotations

import pytest
from django.contrib.auth import SESSION_KEY, get_user
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client

from opsduty import services
from opsduty.models import Organization, Role, TeamMembership, User
from tests import factories

pytestmark = pytest.mark.django_db


def test_organization_domain_is_unique_and_validated() -> None:
    services.organization_create(name="Acme", domain="Acme")
    assert Organization.objects.get(domain="acme").name == "Acme"
    with pytest.raises(ValidationError):
        services.organization_create(name="Acme 2", domain="acme")
    with pytest.raises(ValidationError):
        services.organization_create(name="Bad", domain="no spaces!")


def test_email_is_unique_per_organization_only(org_a: Organization, org_b: Organization) -> None:
    services.user_create(organization=org_a, email="Same@Example.test", password="x-Long-pass-123")
    with pytest.raises(ValidationError):
        services.user_create(
            organization=org_a, email="same@example.test", password="x-Long-pass-123"
        )
    other = services.user_create(
        organization=org_b, email="same@example.test", password="x-Long-pass-123"
    )
    assert other.email == "same@example.test"
    assert User.objects.filter(email="same@example.test").count() == 2


def test_user_create_applies_password_validators(org_a: Organization) -> None:
    with pytest.raises(ValidationError):
        services.user_create(organization=org_a, email="weak@example.test", password="12345678")
    assert not User.objects.filter(email="weak@example.test").exists()


def test_owner_changes_roles(owner: User, member: User) -> None:
    services.user_set_role(user=member, role=Role.STAKEHOLDER, by=owner)
    member.refresh_from_db()
    assert member.role == Role.STAKEHOLDER


def test_members_cannot_change_roles(owner: User, member: User) -> None:
    with pytest.raises(PermissionDenied):
        services.user_set_role(user=owner, role=Role.MEMBER, by=member)
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_owner_of_another_org_cannot_change_roles(member: User, outsider: User) -> None:
    with pytest.raises(PermissionDenied):
        services.user_set_role(user=member, role=Role.OWNER, by=outsider)


def test_last_owner_cannot_be_demoted(owner: User) -> None:
    with pytest.raises(ValidationError):
        services.user_set_role(user=owner, role=Role.MEMBER, by=owner)
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_an_owner_can_step_down_when_another_remains(owner: User, org_a: Organization) -> None:
    second = factories.make_user(organization=org_a, role=Role.OWNER)
    services.user_set_role(user=owner, role=Role.MEMBER, by=owner)
    owner.refresh_from_db()
    assert owner.role == Role.MEMBER
    assert second.role == Role.OWNER


def test_team_management_permissions(owner: User, member: User, org_a: Organization) -> None:
    team = services.team_create(organization=org_a, name="Platform", by=owner)
    with pytest.raises(PermissionDenied):
        services.team_create(organization=org_a, name="Other", by=member)
    # A member outside the team cannot add themselves ...
    with pytest.raises(PermissionDenied):
        services.team_add_member(team=team, user=member, by=member)
    services.team_add_member(team=team, user=member, by=owner)
    # ... but once in it they manage it; adding twice is a no-op.
    services.team_add_member(team=team, user=member, by=member)
    assert TeamMembership.objects.filter(team=team).count() == 1
    services.team_remove_member(team=team, user=member, by=member)
    assert not TeamMembership.objects.filter(team=team).exists()


def test_stakeholders_do_not_manage_teams(owner: User, org_a: Organization) -> None:
    stakeholder = factories.make_user(organization=org_a, role=Role.STAKEHOLDER)
    team = services.team_create(organization=org_a, name="Payments", by=owner)
    services.team_add_member(team=team, user=stakeholder, by=owner)
    assert not services.can_manage_team(stakeholder, team)


def test_team_cannot_take_a_user_of_another_org(owner: User, outsider: User) -> None:
    team = services.team_create(organization=owner.organization, name="Platform", by=owner)
    with pytest.raises(ValidationError):
        services.team_add_member(team=team, user=outsider, by=owner)
    assert not TeamMembership.objects.exists()


def test_team_names_are_unique_per_org(owner: User, outsider: User) -> None:
    services.team_create(organization=owner.organization, name="Platform", by=owner)
    with pytest.raises(ValidationError):
        services.team_create(organization=owner.organization, name="Platform", by=owner)
    services.team_create(organization=outsider.organization, name="Platform", by=outsider)


def test_sign_out_everywhere_invalidates_existing_sessions(member: User) -> None:
    client = Client()
    client.force_login(member)
    assert client.session[SESSION_KEY] == str(member.pk)
    services.user_sign_out_everywhere(user=member)
    request = type("R", (), {"session": client.session})()
    assert not get_user(request).is_authenticated
