"""Members list (everyone, own organization only) and role changes (owners, htmx or not)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from opsduty.models import Role, Team, User
from tests import factories
from tests.ui.helpers import HTMX

pytestmark = pytest.mark.django_db


def test_members_list_shows_only_the_own_organization_oldest_first(
    owner: User, member: User, outsider: User, owner_client: Client, outsider_client: Client
) -> None:
    content = owner_client.get("/members/").content.decode()
    assert content.index("owner@a.example") < content.index("member@a.example")
    assert "outsider@b.example" not in content
    assert "Org A" in content
    outsider_page = outsider_client.get("/members/").content.decode()
    assert "outsider@b.example" in outsider_page
    assert "owner@a.example" not in outsider_page


def test_members_list_shows_name_role_and_teams(
    owner: User, member: User, team_a: Team, team_b: Team, member_client: Client
) -> None:
    factories.add_member(team_a, member)
    response = member_client.get("/members/")
    assert response.status_code == 200
    content = response.content.decode()
    assert member.get_full_name() in content
    assert f'href="/teams/{team_a.pk}/">Platform</a>' in content
    assert "Bravo secret team" not in content
    assert re.search(r'data-label="Role">\s*Member\s*</td>', content)
    assert re.search(r'data-label="Role">\s*Owner\s*</td>', content)


def test_members_and_stakeholders_see_the_list_read_only(
    owner: User, member_client: Client, stakeholder_client: Client
) -> None:
    for client in (member_client, stakeholder_client):
        content = client.get("/members/").content.decode()
        assert "owner@a.example" in content
        assert 'name="role"' not in content
        assert "Only owners can change roles." in content


def test_owner_sees_role_controls(owner: User, member: User, owner_client: Client) -> None:
    content = owner_client.get("/members/").content.decode()
    assert f'action="/members/{member.pk}/role/"' in content
    assert f'<label for="role-{member.pk}"' in content


def test_owner_changes_a_role_without_js(owner: User, member: User, owner_client: Client) -> None:
    response = owner_client.post(f"/members/{member.pk}/role/", {"role": Role.STAKEHOLDER})
    assert response.status_code == 302
    assert response["Location"] == "/members/"
    member.refresh_from_db()
    assert member.role == Role.STAKEHOLDER
    assert "is now Stakeholder" in owner_client.get("/members/").content.decode()


def test_owner_role_change_over_htmx_returns_the_row(
    owner: User, member: User, owner_client: Client
) -> None:
    response = owner_client.post(f"/members/{member.pk}/role/", {"role": Role.OWNER}, headers=HTMX)
    assert response.status_code == 200
    content = response.content.decode()
    assert content.lstrip().startswith(f'<tr id="member-{member.pk}">')
    assert "<html" not in content
    assert '<option value="owner" selected>' in content
    assert 'hx-swap-oob="innerHTML"' in content and "is now Owner" in content
    member.refresh_from_db()
    assert member.role == Role.OWNER


def test_the_last_owner_cannot_be_demoted(owner: User, member: User, owner_client: Client) -> None:
    response = owner_client.post(f"/members/{owner.pk}/role/", {"role": Role.MEMBER}, follow=True)
    assert response.status_code == 200
    assert "The organization must keep at least one owner." in response.content.decode()
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_the_last_owner_error_over_htmx_is_shown_in_the_row(
    owner: User, owner_client: Client
) -> None:
    response = owner_client.post(
        f"/members/{owner.pk}/role/", {"role": Role.STAKEHOLDER}, headers=HTMX
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert "The organization must keep at least one owner." in content
    assert '<option value="owner" selected>' in content
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_owner_demoting_themselves_reloads_the_page_over_htmx(
    owner: User, member: User, owner_client: Client
) -> None:
    member.role = Role.OWNER
    member.save(update_fields=["role"])
    response = owner_client.post(f"/members/{owner.pk}/role/", {"role": Role.MEMBER}, headers=HTMX)
    assert response.status_code == 204
    assert response["HX-Refresh"] == "true"
    owner.refresh_from_db()
    assert owner.role == Role.MEMBER


def test_members_and_stakeholders_cannot_change_roles(
    owner: User, member: User, member_client: Client, stakeholder_client: Client
) -> None:
    for client in (member_client, stakeholder_client):
        response = client.post(f"/members/{member.pk}/role/", {"role": Role.OWNER})
        assert response.status_code == 403
        assert "You cannot do that" in response.content.decode()
    member.refresh_from_db()
    assert member.role == Role.MEMBER


def test_unknown_role_is_refused_with_a_message(
    owner: User, member: User, owner_client: Client
) -> None:
    response = owner_client.post(f"/members/{member.pk}/role/", {"role": "admin"}, follow=True)
    assert "Choose one of the roles" in response.content.decode()
    member.refresh_from_db()
    assert member.role == Role.MEMBER


def test_owner_cannot_change_the_role_of_another_organizations_user(
    owner: User, outsider: User, owner_client: Client
) -> None:
    response = owner_client.post(f"/members/{outsider.pk}/role/", {"role": Role.STAKEHOLDER})
    assert response.status_code == 404
    outsider.refresh_from_db()
    assert outsider.role == Role.OWNER


def test_outsider_cannot_change_roles_in_org_a(
    owner: User, member: User, outsider_client: Client
) -> None:
    response = outsider_client.post(f"/members/{member.pk}/role/", {"role": Role.OWNER})
    assert response.status_code == 404
    member.refresh_from_db()
    assert member.role == Role.MEMBER


def test_role_change_needs_post(owner: User, member: User, owner_client: Client) -> None:
    assert owner_client.get(f"/members/{member.pk}/role/").status_code == 405


def test_member_gets_404_not_403_for_a_foreign_user_id(
    outsider: User, member_client: Client
) -> None:
    response = member_client.post(f"/members/{outsider.pk}/role/", {"role": Role.MEMBER})
    assert response.status_code == 404
