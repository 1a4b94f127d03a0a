"""SCIM Groups are teams (docs/accounts.md, "SCIM provisioning"): created with members, their
members added and removed by PATCH (also Okta's and Entra ID's `members[value eq "..."]`
path), replaced by PUT (Okta's group push), deleted; what people notice: the team page and
the API show the members."""

from __future__ import annotations

import pytest
from django.test import Client

from opsduty.models import Organization, Team, User
from tests import factories
from tests.integrations.scim.conftest import ScimClient

pytestmark = pytest.mark.django_db

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


@pytest.fixture
def ben(org_a: Organization) -> User:
    return factories.make_user(organization=org_a, email="ben@a.example", first_name="Ben")


def _listed(client: Client, team_id: str) -> str:
    """The members list of the team's page (not its add-a-member form)."""
    page = client.get(f"/teams/{team_id.removeprefix('team-')}/").content.decode()
    return page.split('<ul class="member-list">', 1)[-1].split("</ul>", 1)[0]


def _members(team_id: str) -> set[int]:
    team = Team.objects.get(pk=int(team_id.removeprefix("team-")))
    return set(team.memberships.values_list("user_id", flat=True))


def test_create_a_team_with_members_shown_on_the_team_page(
    scim: ScimClient, member: User, owner_client: Client
) -> None:
    created = scim.post(
        "/Groups",
        {"schemas": [GROUP], "displayName": "SRE", "members": [{"value": str(member.pk)}]},
    )
    assert created.status_code == 201, created.content
    group = created.json()
    assert group["id"].startswith("team-") and group["displayName"] == "SRE"
    assert member.email in _listed(owner_client, group["id"])
    user = scim.get(f"/Users/{member.pk}").json()
    assert user["groups"][0]["value"] == group["id"] and user["groups"][0]["display"] == "SRE"


def test_patch_adds_and_removes_members_with_filtered_paths(
    scim: ScimClient, member: User, ben: User, owner_client: Client
) -> None:
    group = scim.post("/Groups", {"schemas": [GROUP], "displayName": "SRE"}).json()
    gid = group["id"]
    added = scim.patch(
        f"/Groups/{gid}",
        [
            {
                "op": "add",
                "path": "members",
                "value": [{"value": str(member.pk)}, {"value": str(ben.pk)}],
            }
        ],
    )
    assert added.status_code == 200, added.content
    assert _members(gid) == {member.pk, ben.pk}

    # Okta's removal, by a filtered path without a value.
    removed = scim.patch(
        f"/Groups/{gid}", [{"op": "remove", "path": f'members[value eq "{member.pk}"]'}]
    )
    assert removed.status_code == 200, removed.content
    assert _members(gid) == {ben.pk}
    listed = _listed(owner_client, gid)
    assert ben.email in listed and member.email not in listed

    # Entra ID's removal: path `members` and the values to remove.
    scim.patch(
        f"/Groups/{gid}",
        [{"op": "Remove", "path": "members", "value": [{"value": str(ben.pk)}]}],
    )
    assert _members(gid) == set()


def test_put_replaces_members_and_renames(scim: ScimClient, member: User, ben: User) -> None:
    gid = scim.post(
        "/Groups",
        {"schemas": [GROUP], "displayName": "SRE", "members": [{"value": str(member.pk)}]},
    ).json()["id"]
    replaced = scim.put(
        f"/Groups/{gid}",
        {"schemas": [GROUP], "displayName": "SRE EU", "members": [{"value": str(ben.pk)}]},
    )
    assert replaced.status_code == 200, replaced.content
    assert _members(gid) == {ben.pk}
    assert Team.objects.get(pk=int(gid.removeprefix("team-"))).name == "SRE EU"


def test_delete_removes_the_team_and_keeps_its_people(scim: ScimClient, member: User) -> None:
    gid = scim.post(
        "/Groups",
        {"schemas": [GROUP], "displayName": "SRE", "members": [{"value": str(member.pk)}]},
    ).json()["id"]
    assert scim.delete(f"/Groups/{gid}").status_code == 204
    assert not Team.objects.filter(pk=int(gid.removeprefix("team-"))).exists()
    assert User.objects.filter(pk=member.pk, is_active=True).exists()
    assert scim.get(f"/Groups/{gid}").status_code == 404


def test_a_taken_name_is_409_and_a_foreign_member_400(
    scim: ScimClient, org_a: Organization, outsider: User
) -> None:
    factories.make_team(organization=org_a, name="SRE")
    taken = scim.post("/Groups", {"schemas": [GROUP], "displayName": "SRE"})
    assert taken.status_code == 409 and taken.json()["scimType"] == "uniqueness"
    foreign = scim.post(
        "/Groups",
        {"schemas": [GROUP], "displayName": "Ops", "members": [{"value": str(outsider.pk)}]},
    )
    assert foreign.status_code == 400
    assert not Team.objects.filter(name="Ops").exists()


def test_filter_by_display_name(scim: ScimClient, org_a: Organization) -> None:
    team = factories.make_team(organization=org_a, name="Database")
    found = scim.get("/Groups", filter='displayName eq "Database"').json()
    assert [g["id"] for g in found["Resources"]] == [f"team-{team.pk}"]
