"""RelayCursorPagination: spec §4 semantics, on /api/v1/users/ and on throwaway views."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.db import models
from django.test import Client

from opsduty.api.base import OrgScopedListAPIView
from opsduty.api.pagination import encode_cursor
from opsduty.api.users import UserSchema
from opsduty.models import Organization, User
from tests.api.conftest import bulk_users, call_view, get_json

USERS = "/api/v1/users/"


class NewestUsersView(OrgScopedListAPIView[User]):
    """Newest first, like the incidents list."""

    model = User
    serializer_class = UserSchema
    ordering = "-id"


class UsersByLastNameView(OrgScopedListAPIView[User]):
    """A compound order with ties on the first field, broken by id."""

    model = User
    serializer_class = UserSchema
    ordering = ("last_name", "id")


class NoUsersView(OrgScopedListAPIView[User]):
    model = User
    serializer_class = UserSchema

    def get_base_queryset(self) -> models.QuerySet[User]:
        return User.objects.none()


def ids(body: dict[str, Any]) -> list[int]:
    return [item["id"] for item in body["items"]]


def page(client: Client, **params: Any) -> dict[str, Any]:
    status, body = get_json(client, USERS, **params)
    assert status == 200, body
    assert isinstance(body, dict)
    return body


def cursor_of(user: User) -> str:
    return encode_cursor([user.id])


@pytest.fixture
def uids(seven_users: list[User]) -> list[int]:
    return [u.id for u in seven_users]


# --- sizes and directions ------------------------------------------------------------------


def test_no_parameters_returns_everything_oldest_first_with_cursors(owner_api, uids):
    body = page(owner_api)
    assert ids(body) == uids
    assert body["page_info"] == {
        "has_next_page": False,
        "has_previous_page": False,
        "start_cursor": cursor_of(User.objects.get(id=uids[0])),
        "end_cursor": cursor_of(User.objects.get(id=uids[-1])),
    }


def test_first_takes_from_the_start_and_flags_a_next_page(owner_api, uids):
    body = page(owner_api, first=2)
    assert ids(body) == uids[:2]
    assert body["page_info"]["has_next_page"] is True
    assert body["page_info"]["has_previous_page"] is False


def test_after_continues_strictly_after_the_end_cursor(owner_api, uids):
    first = page(owner_api, first=2)
    body = page(owner_api, first=2, after=first["page_info"]["end_cursor"])
    assert ids(body) == uids[2:4]
    assert body["page_info"]["has_previous_page"] is True
    assert body["page_info"]["has_next_page"] is True


def test_last_takes_from_the_end_still_in_list_order(owner_api, uids):
    body = page(owner_api, last=2)
    assert ids(body) == uids[-2:]
    assert body["page_info"]["has_next_page"] is False
    assert body["page_info"]["has_previous_page"] is True


def test_last_with_before_returns_the_items_just_before_the_cursor(owner_api, seven_users, uids):
    body = page(owner_api, last=2, before=cursor_of(seven_users[4]))
    assert ids(body) == uids[2:4]
    assert body["page_info"]["has_previous_page"] is True
    assert body["page_info"]["has_next_page"] is True


def test_first_then_last_when_both_are_given(owner_api, uids):
    body = page(owner_api, first=3, last=2)
    assert ids(body) == uids[1:3]
    assert body["page_info"]["has_previous_page"] is True
    assert body["page_info"]["has_next_page"] is True


def test_after_and_before_bound_a_window(owner_api, seven_users, uids):
    body = page(owner_api, after=cursor_of(seven_users[0]), before=cursor_of(seven_users[4]))
    assert ids(body) == uids[1:4]


def test_flags_look_at_the_full_list_not_only_the_cursor_window(owner_api, seven_users, uids):
    # The window (after #0, before #3) is exhausted, but the full list has items after #2.
    body = page(owner_api, after=cursor_of(seven_users[0]), before=cursor_of(seven_users[3]))
    assert ids(body) == uids[1:3]
    assert body["page_info"]["has_next_page"] is True
    assert body["page_info"]["has_previous_page"] is True


def test_cursors_point_at_the_first_and_last_returned_items(owner_api, seven_users):
    body = page(owner_api, first=3, after=cursor_of(seven_users[1]))
    assert body["page_info"]["start_cursor"] == cursor_of(seven_users[2])
    assert body["page_info"]["end_cursor"] == cursor_of(seven_users[4])


# --- page_size (client <= 0.0.9) -------------------------------------------------------------


def test_page_size_alone_acts_as_first(owner_api, uids):
    assert ids(page(owner_api, page_size=3)) == uids[:3]


def test_page_size_with_only_before_acts_as_last(owner_api, seven_users, uids):
    assert ids(page(owner_api, page_size=2, before=cursor_of(seven_users[5]))) == uids[3:5]


def test_page_size_with_after_and_before_acts_as_first(owner_api, seven_users, uids):
    body = page(
        owner_api, page_size=2, after=cursor_of(seven_users[0]), before=cursor_of(seven_users[6])
    )
    assert ids(body) == uids[1:3]


def test_page_size_is_ignored_when_first_or_last_is_given(owner_api, uids):
    assert ids(page(owner_api, first=1, page_size=5)) == uids[:1]
    assert ids(page(owner_api, last=1, page_size=5)) == uids[-1:]


# --- defaults and clamping ---------------------------------------------------------------------


def test_default_page_is_50_from_the_start(owner_api, org_a: Organization):
    everyone = bulk_users(org_a, 60)
    body = page(owner_api)
    assert ids(body) == [u.id for u in everyone[:50]]
    assert body["page_info"]["has_next_page"] is True


def test_default_page_with_only_before_is_the_50_just_before(owner_api, org_a: Organization):
    everyone = bulk_users(org_a, 60)
    body = page(owner_api, before=cursor_of(everyone[-1]))
    assert ids(body) == [u.id for u in everyone[-51:-1]]
    assert body["page_info"]["has_previous_page"] is True
    assert body["page_info"]["has_next_page"] is True


def test_sizes_are_clamped_to_1_through_100(owner_api, org_a: Organization):
    everyone = bulk_users(org_a, 105)
    assert ids(page(owner_api, first=1000)) == [u.id for u in everyone[:100]]
    assert ids(page(owner_api, last=101)) == [u.id for u in everyone[-100:]]
    assert ids(page(owner_api, page_size=500)) == [u.id for u in everyone[:100]]
    assert ids(page(owner_api, first=0)) == [everyone[0].id]


# --- invalid input -----------------------------------------------------------------------------


def b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("first", "abc"),
        ("first", "-1"),
        ("last", "1.5"),
        ("last", "-3"),
        ("page_size", "ten"),
        ("after", "not a cursor!"),
        ("after", b64({"id": 1})),
        ("before", b64([1, 2])),
        ("before", b64(["abc"])),
        ("after", b64([None])),
        ("after", "%%%"),
    ],
)
def test_malformed_size_or_cursor_is_422_with_a_detail_list(owner_api, seven_users, param, value):
    status, body = get_json(owner_api, USERS, **{param: value})
    assert status == 422
    assert isinstance(body["detail"], list) and len(body["detail"]) == 1
    error = body["detail"][0]
    assert error["loc"] == ["query", param]
    assert error["type"] == "value_error"
    assert isinstance(error["msg"], str) and error["msg"]


# --- empty pages ---------------------------------------------------------------------------------


def test_empty_list_has_null_cursors_and_no_pages(owner):
    status, body, _ = call_view(NoUsersView, owner, data={"first": "5"})
    assert status == 200
    assert body == {
        "items": [],
        "page_info": {
            "has_next_page": False,
            "has_previous_page": False,
            "start_cursor": None,
            "end_cursor": None,
        },
    }


def test_page_after_the_last_item_is_empty_with_both_flags_false(owner_api, seven_users):
    body = page(owner_api, after=cursor_of(seven_users[-1]))
    assert body["items"] == []
    assert body["page_info"]["has_previous_page"] is False
    assert body["page_info"]["has_next_page"] is False
    assert body["page_info"]["start_cursor"] is None


# --- newest first and compound orders ----------------------------------------------------------


def test_descending_order_pages_newest_first(owner, uids):
    status, body, _ = call_view(NewestUsersView, owner, data={"first": "3"})
    assert status == 200
    assert ids(body) == uids[::-1][:3]
    assert body["page_info"]["has_next_page"] is True
    assert body["page_info"]["has_previous_page"] is False
    status, body, _ = call_view(
        NewestUsersView, owner, data={"first": "3", "after": body["page_info"]["end_cursor"]}
    )
    assert ids(body) == uids[::-1][3:6]


def test_descending_order_last_with_before(owner, seven_users, uids):
    newest_first = uids[::-1]
    before = encode_cursor([newest_first[4]])
    status, body, _ = call_view(NewestUsersView, owner, data={"last": "2", "before": before})
    assert ids(body) == newest_first[2:4]


def walk(fetch: Any, **size: str) -> list[int]:
    """Walk forward like the CLI's fetch_heartbeats: follow end_cursor while has_next_page."""
    seen: list[int] = []
    cursor: str | None = None
    for _ in range(100):
        params = dict(size, **({"after": cursor} if cursor else {}))
        body = fetch(params)
        seen += ids(body)
        if body["page_info"]["has_next_page"]:
            assert isinstance(body["page_info"]["end_cursor"], str)
            assert body["page_info"]["end_cursor"]
        cursor = body["page_info"]["end_cursor"] or None
        if not body["page_info"]["has_next_page"]:
            return seen
    raise AssertionError("the walk did not end")


def walk_back(fetch: Any, size: int) -> list[int]:
    """Walk backward from the end with last/before; return ids in list order."""
    seen: list[int] = []
    body = fetch({"last": str(size)})
    while True:
        seen = ids(body) + seen
        if not body["page_info"]["has_previous_page"]:
            return seen
        body = fetch({"last": str(size), "before": body["page_info"]["start_cursor"]})


@pytest.mark.parametrize("size", [{"page_size": "2"}, {"first": "2"}])
def test_cli_walk_ascending_visits_every_item_once(owner_api, uids, size):
    assert walk(lambda params: page(owner_api, **params), **size) == uids
    assert walk_back(lambda params: page(owner_api, **params), 2) == uids


@pytest.mark.parametrize("size", [{"page_size": "2"}, {"first": "2"}])
def test_cli_walk_descending_visits_every_item_once(owner, uids, size):
    def fetch(params: dict[str, str]) -> dict[str, Any]:
        body: dict[str, Any] = call_view(NewestUsersView, owner, data=params)[1]
        return body

    assert walk(fetch, **size) == uids[::-1]
    assert walk_back(fetch, 2) == uids[::-1]


def test_compound_order_with_ties_visits_every_item_once(owner, seven_users):
    for index, user in enumerate(seven_users):
        user.last_name = ["Berg", "Aas", "Berg"][index % 3]
        user.save(update_fields=["last_name"])
    expected = [u.id for u in sorted(seven_users, key=lambda u: (u.last_name, u.id))]

    def fetch(params: dict[str, str]) -> dict[str, Any]:
        body: dict[str, Any] = call_view(UsersByLastNameView, owner, data=params)[1]
        return body

    assert walk(fetch, first="2") == expected
    assert walk_back(fetch, 3) == expected
