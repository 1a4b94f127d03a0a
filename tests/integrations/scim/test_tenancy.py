"""SCIM tenancy (invariant 1): a SCIM token of one organization sees nothing of another, for
every method (404, the other organization's rows untouched); a missing, wrong, rotated or
revoked token, or one of a closed organization, answers 401."""

from __future__ import annotations

import pytest
from django.utils import timezone

from integrations.scim.services import scim_token_issue, scim_token_revoke
from opsduty.models import Organization, Team, User
from tests import factories
from tests.integrations.scim.conftest import ScimClient

pytestmark = pytest.mark.django_db

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


@pytest.fixture
def b_team(org_b: Organization, outsider: User) -> Team:
    team = factories.make_team(organization=org_b, name="B team")
    factories.add_member(team, outsider)
    return team


def test_a_token_of_org_a_cannot_read_or_change_org_b(
    scim: ScimClient, outsider: User, b_team: Team, member: User
) -> None:
    user_url, group_url = f"/Users/{outsider.pk}", f"/Groups/team-{b_team.pk}"
    assert scim.get(user_url).status_code == 404
    assert scim.get(group_url).status_code == 404
    put_user = {"schemas": [USER], "userName": "x@b.example", "emails": [{"value": "x@b.example"}]}
    assert scim.put(user_url, put_user).status_code == 404
    assert scim.put(group_url, {"schemas": [GROUP], "displayName": "Mine"}).status_code == 404
    deactivate = [{"op": "replace", "path": "active", "value": False}]
    assert scim.patch(user_url, deactivate).status_code == 404
    add_member = [{"op": "add", "path": "members", "value": [{"value": str(member.pk)}]}]
    assert scim.patch(group_url, add_member).status_code == 404
    assert scim.delete(user_url).status_code == 404
    assert scim.delete(group_url).status_code == 404

    outsider.refresh_from_db()
    b_team.refresh_from_db()
    assert outsider.is_active and outsider.email == "outsider@b.example"
    assert b_team.name == "B team"
    assert list(b_team.memberships.values_list("user_id", flat=True)) == [outsider.pk]

    listed = scim.get("/Users").json()["Resources"]
    assert str(outsider.pk) not in {u["id"] for u in listed}
    assert scim.get("/Users", filter=f'userName eq "{outsider.email}"').json()["totalResults"] == 0
    assert scim.get("/Groups", filter='displayName eq "B team"').json()["totalResults"] == 0
    # A's group cannot take B's person either.
    foreign = scim.post(
        "/Groups",
        {"schemas": [GROUP], "displayName": "A", "members": [{"value": str(outsider.pk)}]},
    )
    assert foreign.status_code == 400


def test_org_b_token_sees_only_org_b(scim_b: ScimClient, member: User, outsider: User) -> None:
    ids = {u["id"] for u in scim_b.get("/Users").json()["Resources"]}
    assert ids == {str(outsider.pk)}
    assert scim_b.get(f"/Users/{member.pk}").status_code == 404


def test_missing_wrong_rotated_revoked_and_closed_tokens_answer_401(
    owner: User, org_a: Organization
) -> None:
    old = scim_token_issue(organization=org_a, by=owner).raw
    assert ScimClient(old).get("/Users").status_code == 200
    new = scim_token_issue(organization=org_a, by=owner).raw  # rotation
    refused = ScimClient(old).get("/Users")
    assert refused.status_code == 401
    assert refused.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert refused["WWW-Authenticate"].startswith("Bearer")
    assert ScimClient(new).get("/Users").status_code == 200
    assert ScimClient("scim_" + "x" * 43).get("/Users").status_code == 401
    assert ScimClient("").get("/Users").status_code == 401
    assert (
        ScimClient(new).client.get("/scim/v2/Users", HTTP_AUTHORIZATION="Basic abc").status_code
        == 401
    )

    scim_token_revoke(organization=org_a, by=owner)
    assert ScimClient(new).get("/Users").status_code == 401

    newest = scim_token_issue(organization=org_a, by=owner).raw
    Organization.objects.filter(pk=org_a.pk).update(closed_at=timezone.now())
    assert ScimClient(newest).get("/Users").status_code == 401
