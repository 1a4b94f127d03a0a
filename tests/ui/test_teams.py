"""Teams: list, create, detail, add/remove members (htmx or not), delete; permissions, tenancy."""

from __future__ import annotations

import pytest
from django.test import Client

from opsduty.models import Organization, Team, TeamMembership, User
from tests import factories
from tests.ui.helpers import HTMX

pytestmark = pytest.mark.django_db


def _is_member(team: Team, user: User) -> bool:
    return TeamMembership.objects.filter(team=team, user=user).exists()


# --- list and create ------------------------------------------------------------------------


def test_team_list_shows_own_teams_with_member_counts(
    owner: User, member: User, team_a: Team, team_b: Team, member_client: Client
) -> None:
    factories.add_member(team_a, owner)
    factories.add_member(team_a, member)
    content = member_client.get("/teams/").content.decode()
    assert "Platform" in content
    assert "2 members" in content
    assert "Bravo secret team" not in content


def test_outsider_team_list_shows_only_their_teams(
    team_a: Team, team_b: Team, outsider_client: Client
) -> None:
    content = outsider_client.get("/teams/").content.decode()
    assert "Bravo secret team" in content
    assert "Platform" not in content


def test_only_owners_see_the_create_form(
    owner_client: Client, member_client: Client, stakeholder_client: Client
) -> None:
    assert 'action="/teams/create/"' in owner_client.get("/teams/").content.decode()
    for client in (member_client, stakeholder_client):
        assert 'action="/teams/create/"' not in client.get("/teams/").content.decode()


def test_owner_creates_a_team(owner: User, org_a: Organization, owner_client: Client) -> None:
    response = owner_client.post("/teams/create/", {"name": "  Payments "})
    team = Team.objects.get(organization=org_a, name="Payments")
    assert response.status_code == 302
    assert response["Location"] == f"/teams/{team.pk}/"


def test_duplicate_team_name_is_a_form_error(
    owner: User, team_a: Team, org_a: Organization, owner_client: Client
) -> None:
    response = owner_client.post("/teams/create/", {"name": "Platform"})
    assert response.status_code == 200
    assert response.context["form"].errors["name"] == ["A team named “Platform” already exists."]
    assert "already exists" in response.content.decode()
    assert Team.objects.filter(organization=org_a, name="Platform").count() == 1


def test_same_team_name_in_another_organization_is_fine(
    team_b: Team, outsider: User, outsider_client: Client, team_a: Team
) -> None:
    response = outsider_client.post("/teams/create/", {"name": "Platform"})
    assert response.status_code == 302
    assert Team.objects.filter(name="Platform").count() == 2


def test_empty_team_name_is_a_form_error(owner_client: Client) -> None:
    response = owner_client.post("/teams/create/", {"name": "   "})
    assert response.status_code == 200
    assert response.context["form"].errors["name"]
    assert not Team.objects.exists()


def test_members_and_stakeholders_cannot_create_teams(
    member_client: Client, stakeholder_client: Client
) -> None:
    for client in (member_client, stakeholder_client):
        response = client.post("/teams/create/", {"name": "Rogue"})
        assert response.status_code == 403
        assert "You cannot do that" in response.content.decode()
    assert not Team.objects.filter(name="Rogue").exists()


# --- detail ---------------------------------------------------------------------------------


def test_team_detail_lists_members_and_addable_users(
    owner: User, member: User, outsider: User, team_a: Team, owner_client: Client
) -> None:
    factories.add_member(team_a, member)
    response = owner_client.get(f"/teams/{team_a.pk}/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "member@a.example" in content
    choices = {u.pk for u in response.context["add_form"].fields["user"].queryset}
    assert choices == {owner.pk}  # not the member already in, never the outsider


def test_foreign_team_id_answers_404(
    owner: User, team_a: Team, team_b: Team, owner_client: Client, outsider_client: Client
) -> None:
    response = owner_client.get(f"/teams/{team_b.pk}/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()
    assert "Bravo secret team" not in response.content.decode()
    assert outsider_client.get(f"/teams/{team_a.pk}/").status_code == 404
    assert owner_client.get("/teams/999999/").status_code == 404


def test_member_outside_the_team_sees_it_read_only(
    owner: User, team_a: Team, member_client: Client
) -> None:
    factories.add_member(team_a, owner)
    response = member_client.get(f"/teams/{team_a.pk}/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "owner@a.example" in content
    assert "/members/add/" not in content
    assert "/remove/" not in content
    assert "/delete/" not in content


# --- add and remove members -----------------------------------------------------------------


def test_owner_adds_a_member_without_js(member: User, team_a: Team, owner_client: Client) -> None:
    response = owner_client.post(f"/teams/{team_a.pk}/members/add/", {"user": member.pk})
    assert response.status_code == 302
    assert response["Location"] == f"/teams/{team_a.pk}/"
    assert _is_member(team_a, member)


def test_add_member_over_htmx_returns_the_members_section(
    member: User, team_a: Team, owner_client: Client
) -> None:
    response = owner_client.post(
        f"/teams/{team_a.pk}/members/add/", {"user": member.pk}, headers=HTMX
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert content.lstrip().startswith('<section id="team-members"')
    assert "<html" not in content
    assert "member@a.example" in content
    assert "added to Platform" in content  # the message, swapped out of band
    assert _is_member(team_a, member)


def test_cannot_add_a_user_of_another_organization(
    outsider: User, team_a: Team, owner_client: Client
) -> None:
    response = owner_client.post(
        f"/teams/{team_a.pk}/members/add/", {"user": outsider.pk}, follow=True
    )
    assert response.status_code == 200
    assert "Choose a person of this organization" in response.content.decode()
    assert not TeamMembership.objects.filter(user=outsider).exists()


def test_team_member_can_add_and_remove_members(
    member: User, stakeholder: User, team_a: Team, member_client: Client
) -> None:
    factories.add_member(team_a, member)
    assert (
        member_client.post(f"/teams/{team_a.pk}/members/add/", {"user": stakeholder.pk}).status_code
        == 302
    )
    assert _is_member(team_a, stakeholder)
    assert (
        member_client.post(f"/teams/{team_a.pk}/members/{stakeholder.pk}/remove/").status_code
        == 302
    )
    assert not _is_member(team_a, stakeholder)


def test_member_outside_the_team_and_stakeholders_cannot_manage_it(
    member: User, stakeholder: User, team_a: Team, member_client: Client, stakeholder_client: Client
) -> None:
    factories.add_member(team_a, stakeholder)  # a stakeholder in the team still cannot manage it
    for client in (member_client, stakeholder_client):
        response = client.post(f"/teams/{team_a.pk}/members/add/", {"user": member.pk})
        assert response.status_code == 403
        response = client.post(f"/teams/{team_a.pk}/members/{stakeholder.pk}/remove/")
        assert response.status_code == 403
    assert not _is_member(team_a, member)
    assert _is_member(team_a, stakeholder)


def test_owner_removes_a_member_over_htmx(member: User, team_a: Team, owner_client: Client) -> None:
    factories.add_member(team_a, member)
    response = owner_client.post(f"/teams/{team_a.pk}/members/{member.pk}/remove/", headers=HTMX)
    assert response.status_code == 200
    content = response.content.decode()
    assert content.lstrip().startswith('<section id="team-members"')
    assert "removed from Platform" in content
    assert not _is_member(team_a, member)


def test_member_leaving_their_team_over_htmx_reloads_the_page(
    member: User, team_a: Team, member_client: Client
) -> None:
    factories.add_member(team_a, member)
    response = member_client.post(f"/teams/{team_a.pk}/members/{member.pk}/remove/", headers=HTMX)
    assert response.status_code == 204
    assert response["HX-Refresh"] == "true"
    assert not _is_member(team_a, member)


def test_foreign_ids_in_member_urls_answer_404(
    owner: User,
    member: User,
    outsider: User,
    team_a: Team,
    team_b: Team,
    owner_client: Client,
    outsider_client: Client,
) -> None:
    factories.add_member(team_b, outsider)
    factories.add_member(team_a, member)
    assert (
        owner_client.post(f"/teams/{team_b.pk}/members/add/", {"user": member.pk}).status_code
        == 404
    )
    assert owner_client.post(f"/teams/{team_b.pk}/members/{outsider.pk}/remove/").status_code == 404
    assert owner_client.post(f"/teams/{team_a.pk}/members/{outsider.pk}/remove/").status_code == 404
    assert (
        outsider_client.post(f"/teams/{team_a.pk}/members/{member.pk}/remove/").status_code == 404
    )
    assert _is_member(team_b, outsider)
    assert _is_member(team_a, member)


# --- delete ---------------------------------------------------------------------------------


def test_owner_deletes_a_team_after_confirmation(
    member: User, team_a: Team, owner_client: Client
) -> None:
    factories.add_member(team_a, member)
    confirm = owner_client.get(f"/teams/{team_a.pk}/delete/")
    assert confirm.status_code == 200
    assert "Delete team “Platform”?" in confirm.content.decode()
    assert Team.objects.filter(pk=team_a.pk).exists()  # GET changes nothing
    response = owner_client.post(f"/teams/{team_a.pk}/delete/")
    assert response.status_code == 302
    assert response["Location"] == "/teams/"
    assert not Team.objects.filter(pk=team_a.pk).exists()
    assert User.objects.filter(pk=member.pk).exists()


def test_a_team_that_owns_a_service_is_not_deleted(team_a: Team, owner_client: Client) -> None:
    factories.make_service(team=team_a, name="API")
    response = owner_client.post(f"/teams/{team_a.pk}/delete/")
    assert response.status_code == 422
    assert "This team still owns services" in response.content.decode()
    assert Team.objects.filter(pk=team_a.pk).exists()


def test_team_member_cannot_delete_the_team(
    member: User, team_a: Team, member_client: Client
) -> None:
    factories.add_member(team_a, member)
    assert member_client.get(f"/teams/{team_a.pk}/delete/").status_code == 403
    assert member_client.post(f"/teams/{team_a.pk}/delete/").status_code == 403
    assert Team.objects.filter(pk=team_a.pk).exists()


def test_foreign_team_delete_answers_404(
    team_a: Team, team_b: Team, owner_client: Client, outsider_client: Client
) -> None:
    assert owner_client.post(f"/teams/{team_b.pk}/delete/").status_code == 404
    assert outsider_client.post(f"/teams/{team_a.pk}/delete/").status_code == 404
    assert Team.objects.filter(pk__in=[team_a.pk, team_b.pk]).count() == 2
