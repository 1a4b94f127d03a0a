"""SCIM Users (docs/accounts.md, "SCIM provisioning"): the identity provider creates people
(role member, no password), finds them by userName, deactivates them the way Okta (PATCH
replace `active: false`) and Entra ID (PATCH `path: active`, "False") do, replaces them with
PUT and deprovisions them with DELETE; what a person notices: they can no longer sign in,
their session and API token end."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from opsduty.models import Role, User
from tests import factories
from tests.conftest import api_client_for, session_client_for
from tests.integrations.scim.conftest import ScimClient

pytestmark = pytest.mark.django_db

ADA = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "ada@a.example",
    "externalId": "00u1ada",
    "name": {"givenName": "Ada", "familyName": "Lovelace"},
    "emails": [{"value": "ada@a.example", "type": "work", "primary": True}],
    "active": True,
}


def _sign_in(user: User) -> int:
    response = Client().post(
        "/login/", {"domain": "org-a", "email": user.email, "password": factories.PASSWORD}
    )
    return response.status_code


def _is_scim_error(response: object, status: int) -> bool:
    body = response.json()  # type: ignore[attr-defined]
    return bool(
        response.status_code == status  # type: ignore[attr-defined]
        and body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
        and str(body["status"]) == str(status)
        and body.get("detail")
    )


def test_create_makes_a_member_without_password_listed_on_members(
    scim: ScimClient, owner_client: Client
) -> None:
    created = scim.post("/Users", ADA)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["userName"] == "ada@a.example" and body["active"] is True
    assert body["externalId"] == "00u1ada"
    person = User.objects.get(pk=int(body["id"]))
    assert person.role == Role.MEMBER and person.first_name == "Ada"
    assert not person.has_usable_password()
    assert "ada@a.example" in owner_client.get("/members/").content.decode()
    assert scim.get(f"/Users/{person.pk}").json()["name"]["familyName"] == "Lovelace"


def test_an_address_already_here_answers_409_uniqueness(scim: ScimClient, member: User) -> None:
    taken = scim.post(
        "/Users",
        {**ADA, "userName": member.email, "emails": [{"value": member.email, "primary": True}]},
    )
    assert _is_scim_error(taken, 409)
    assert taken.json()["scimType"] == "uniqueness"
    assert User.objects.filter(email=member.email).count() == 1


def test_filter_by_user_name_finds_the_person_and_nobody_else(
    scim: ScimClient, member: User, owner: User
) -> None:
    found = scim.get("/Users", filter=f'userName eq "{member.email.upper()}"').json()
    assert found["totalResults"] == 1
    assert found["Resources"][0]["id"] == str(member.pk)
    none = scim.get("/Users", filter='userName eq "nobody@a.example"').json()
    assert none["totalResults"] == 0 and none["Resources"] == []
    assert _is_scim_error(scim.get("/Users", filter='phoneNumbers eq "1"'), 400)


def test_okta_deactivation_ends_sign_in_session_and_token(scim: ScimClient, member: User) -> None:
    session = session_client_for(member)
    api = api_client_for(member)
    assert _sign_in(member) == 302
    patched = scim.patch(f"/Users/{member.pk}", [{"op": "replace", "value": {"active": False}}])
    assert patched.status_code == 200, patched.content
    assert patched.json()["active"] is False
    assert _sign_in(member) == 200  # the sign-in form again: refused
    assert session.get("/incidents/").status_code == 302  # signed out
    assert api.get("/api/v1/users/").status_code == 401  # token ended

    back = scim.patch(f"/Users/{member.pk}", [{"op": "replace", "value": {"active": True}}])
    assert back.json()["active"] is True
    assert _sign_in(member) == 302


def test_entra_deactivation_with_path_and_string_false(scim: ScimClient, member: User) -> None:
    patched = scim.patch(
        f"/Users/{member.pk}", [{"op": "Replace", "path": "active", "value": "False"}]
    )
    assert patched.status_code == 200, patched.content
    member.refresh_from_db()
    assert not member.is_active
    assert _sign_in(member) == 200
    scim.patch(f"/Users/{member.pk}", [{"op": "Replace", "path": "active", "value": "True"}])
    member.refresh_from_db()
    assert member.is_active


def test_entra_patches_an_address_and_names_by_path(scim: ScimClient, member: User) -> None:
    patched = scim.patch(
        f"/Users/{member.pk}",
        [
            {"op": "replace", "path": 'emails[type eq "work"].value', "value": "m2@a.example"},
            {"op": "replace", "path": "name.givenName", "value": "Mia"},
            {
                "op": "add",
                "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                "value": "Ops",
            },
        ],
    )
    assert patched.status_code == 200, patched.content
    member.refresh_from_db()
    assert member.email == "m2@a.example" and member.first_name == "Mia"


def test_put_replaces_the_person(scim: ScimClient, member: User) -> None:
    replaced = scim.put(
        f"/Users/{member.pk}",
        {
            **ADA,
            "userName": "mia@a.example",
            "emails": [{"value": "mia@a.example", "primary": True}],
            "name": {"givenName": "Mia", "familyName": "Moss"},
        },
    )
    assert replaced.status_code == 200, replaced.content
    member.refresh_from_db()
    assert (member.email, member.first_name, member.last_name) == ("mia@a.example", "Mia", "Moss")


def test_delete_deprovisions_deactivated_and_hidden_and_a_new_post_brings_them_back(
    scim: ScimClient, member: User, owner_client: Client
) -> None:
    assert scim.delete(f"/Users/{member.pk}").status_code == 204
    member.refresh_from_db()
    assert not member.is_active and member.deleted_at is None  # the account stays
    assert _sign_in(member) == 200
    assert _is_scim_error(scim.get(f"/Users/{member.pk}"), 404)
    assert scim.get("/Users", filter=f'userName eq "{member.email}"').json()["totalResults"] == 0
    assert "(deactivated)" in owner_client.get("/members/").content.decode()

    again = scim.post(
        "/Users", {**ADA, "userName": member.email, "emails": [{"value": member.email}]}
    )
    assert again.status_code == 201, again.content
    assert again.json()["id"] == str(member.pk)
    member.refresh_from_db()
    assert member.is_active


def test_the_last_active_owner_is_not_deactivated(scim: ScimClient, owner: User) -> None:
    refused = scim.patch(
        f"/Users/{owner.pk}", [{"op": "replace", "path": "active", "value": False}]
    )
    assert _is_scim_error(refused, 400)
    owner.refresh_from_db()
    assert owner.is_active


def test_bad_input_answers_scim_errors(scim: ScimClient, member: User) -> None:
    assert _is_scim_error(scim.post("/Users", {"schemas": ADA["schemas"]}), 400)
    not_an_address = {**ADA, "userName": "x", "emails": [{"value": "not an address"}]}
    assert _is_scim_error(scim.post("/Users", not_an_address), 400)
    assert _is_scim_error(
        scim.patch(f"/Users/{member.pk}", [{"op": "jump", "path": "active"}]), 400
    )
    assert _is_scim_error(scim.get("/Users/not-a-number"), 404)
    assert _is_scim_error(scim.get("/Nowhere"), 404)
    broken = scim.client.post("/scim/v2/Users", data="{", content_type="application/scim+json")
    assert broken.status_code == 400


def test_a_person_deleted_on_the_members_page_is_gone_from_scim_and_can_be_provisioned_anew(
    scim: ScimClient, owner_client: Client
) -> None:
    created = scim.post("/Users", ADA)
    person_id = created.json()["id"]
    page = owner_client.post(f"/members/{person_id}/delete/", {"confirm": "yes"}, follow=True)
    assert page.status_code == 200
    assert _is_scim_error(scim.get(f"/Users/{person_id}"), 404)
    assert scim.get("/Users", filter='userName eq "ada@a.example"').json()["totalResults"] == 0
    again = scim.post("/Users", ADA)  # the IdP's next sync: a new person, not the deleted one
    assert again.status_code == 201, again.content
    assert again.json()["id"] != person_id
    assert User.objects.get(pk=int(again.json()["id"])).email == "ada@a.example"


def _audit_rows(client: Client, text: str) -> list[dict[str, str]]:
    response = client.get("/settings/audit/export.csv", {"text": text})
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    return list(csv.DictReader(io.StringIO(body)))


def test_the_audit_log_names_scim_for_what_the_identity_provider_changed(
    scim: ScimClient, owner_client: Client
) -> None:
    person_id = scim.post("/Users", ADA).json()["id"]
    scim.patch(f"/Users/{person_id}", [{"op": "replace", "value": {"active": False}}])
    rows = _audit_rows(owner_client, "ada@a.example")
    made = [r for r in rows if r["action"] == "created" and "ada@a.example" in r["object"]]
    assert made and (made[0]["actor"], made[0]["channel"]) == ("SCIM", "scim")
    changed = [r for r in rows if r["changes"] == "Is active: True → False"]
    assert changed and (changed[0]["actor"], changed[0]["channel"]) == ("SCIM", "scim")
    # The token is recorded, never its value.
    token_rows = _audit_rows(owner_client, "SCIM token")
    assert token_rows and all(scim.token not in str(row) for row in token_rows)
