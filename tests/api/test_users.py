"""GET /api/v1/users/ and the API's one scoping mechanism (opsduty.api.base)."""

from __future__ import annotations

import pytest

from opsduty.api.base import OrgScopedRetrieveAPIView
from opsduty.api.users import UserSchema
from opsduty.models import User
from tests import factories
from tests.api.conftest import call_view, get_json

USERS = "/api/v1/users/"


def test_lists_the_callers_organization_oldest_first_as_user_schema(owner_api, owner, member):
    factories.make_user(organization=owner.organization, email="x@a.example", first_name="")
    status, body = get_json(owner_api, USERS)
    assert status == 200
    assert [u["email"] for u in body["items"]] == [
        "owner@a.example",
        "member@a.example",
        "x@a.example",
    ]
    first = body["items"][0]
    assert first == {
        "id": owner.id,
        "email": "owner@a.example",
        "first_name": owner.first_name,
        "last_name": owner.last_name,
    }
    blank = body["items"][2]
    assert blank["first_name"] == ""  # a string, never null
    assert all(isinstance(u[k], str) for u in body["items"] for k in ("first_name", "last_name"))


def test_outsider_sees_only_their_own_organization(outsider_api, outsider, owner, member):
    status, body = get_json(outsider_api, USERS)
    assert status == 200
    assert [u["id"] for u in body["items"]] == [outsider.id]
    assert {owner.id, member.id}.isdisjoint(u["id"] for u in body["items"])


def test_org_a_never_sees_org_b(owner_api, outsider, owner, member):
    status, body = get_json(owner_api, USERS)
    assert outsider.id not in [u["id"] for u in body["items"]]
    assert {u["id"] for u in body["items"]} == {owner.id, member.id}


def test_cursor_from_another_organization_reveals_nothing(owner_api, outsider_api, owner, member):
    # Org A's end cursor replayed by org B still pages over org B only.
    _, page_a = get_json(owner_api, USERS, first=1)
    _, body = get_json(outsider_api, USERS, after=page_a["page_info"]["end_cursor"])
    assert {owner.id, member.id}.isdisjoint(u["id"] for u in body["items"])


def test_deactivated_users_are_not_listed(owner_api, member):
    User.objects.filter(pk=member.pk).update(is_active=False)
    _, body = get_json(owner_api, USERS)
    assert member.id not in [u["id"] for u in body["items"]]


def test_api_scope_token_sees_the_same_list(owner, member):
    from tests.conftest import api_client_for

    _, body = get_json(api_client_for(owner, scope="api"), USERS)
    assert [u["id"] for u in body["items"]] == [owner.id, member.id]


class UserDetailView(OrgScopedRetrieveAPIView[User]):
    model = User
    serializer_class = UserSchema


def test_get_object_answers_own_ids(owner, member):
    status, body, _ = call_view(UserDetailView, owner, url_kwargs={"pk": member.pk})
    assert status == 200
    assert body["email"] == "member@a.example"


@pytest.mark.parametrize("which", ["foreign", "unknown"])
def test_get_object_answers_404_for_foreign_and_unknown_ids(owner, outsider, which):
    pk = outsider.pk if which == "foreign" else outsider.pk + 1000
    status, body, _ = call_view(UserDetailView, owner, url_kwargs={"pk": pk})
    assert (status, body) == (404, {"detail": "Not found."})


def test_views_set_request_organization_from_the_token(owner, outsider):
    seen = {}

    class Spy(UserDetailView):
        def get(self, request, *args, **kwargs):
            seen["request"] = request.organization
            seen["view"] = self.organization
            return super().get(request, *args, **kwargs)

    call_view(Spy, outsider, url_kwargs={"pk": outsider.pk})
    assert seen == {"request": outsider.organization, "view": outsider.organization}
