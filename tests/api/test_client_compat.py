"""The real public client, opsduty-client 0.1.0, against a live server (spec §1.1, §4, §3.9)."""

from __future__ import annotations

import pytest
from opsduty_client import AuthenticatedClient
from opsduty_client.api.users import opsduty_api_v1_users_list_users as list_users
from opsduty_client.models.opsduty_api_v1_users_list_users_response_401 import (
    OpsdutyApiV1UsersListUsersResponse401,
)
from opsduty_client.models.opsduty_api_v1_users_list_users_response_422 import (
    OpsdutyApiV1UsersListUsersResponse422,
)
from opsduty_client.models.paged_user_schema import PagedUserSchema
from opsduty_client.types import Unset

from opsduty import services
from opsduty.models import Organization
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def org(transactional_db: None) -> Organization:
    organization = factories.make_organization(domain="live", name="Live")
    for i in range(5):
        factories.make_user(organization=organization, email=f"u{i}@live.example", first_name="")
    factories.make_user(email="stranger@elsewhere.example")  # another organization
    return organization


def client_for(live_server, token: str) -> AuthenticatedClient:
    return AuthenticatedClient(
        base_url=live_server.url, token=token, raise_on_unexpected_status=True
    )


def test_client_walks_every_page_with_first_and_after(live_server, org):
    user = org.users.order_by("id").first()
    token = services.api_token_create(user=user)
    emails: list[str] = []
    after: str | None = None
    with client_for(live_server, token) as client:
        while True:
            page = list_users.sync(client=client, first=2, after=after)
            assert isinstance(page, PagedUserSchema)
            emails += [u.email for u in page.items]
            assert all(u.first_name == "" for u in page.items)
            if not page.page_info.has_next_page:
                break
            assert isinstance(page.page_info.end_cursor, str)
            after = page.page_info.end_cursor
    assert emails == [f"u{i}@live.example" for i in range(5)]


def test_client_pages_back_with_last_and_before(live_server, org):
    token = services.api_token_create(user=org.users.order_by("id").first(), scope="api")
    with client_for(live_server, token) as client:
        page = list_users.sync(client=client, last=2)
        assert isinstance(page, PagedUserSchema)
        assert [u.email for u in page.items] == ["u3@live.example", "u4@live.example"]
        assert page.page_info.has_previous_page is True
        assert not isinstance(page.page_info.start_cursor, Unset)
        earlier = list_users.sync(client=client, last=2, before=page.page_info.start_cursor)
        assert isinstance(earlier, PagedUserSchema)
        assert [u.email for u in earlier.items] == ["u1@live.example", "u2@live.example"]


def test_client_parses_401_and_422_bodies(live_server, org):
    with client_for(live_server, "not-a-token") as client:
        denied = list_users.sync(client=client)
        assert isinstance(denied, OpsdutyApiV1UsersListUsersResponse401)
        assert isinstance(denied.detail, str)
    token = services.api_token_create(user=org.users.order_by("id").first())
    with client_for(live_server, token) as client:
        invalid = list_users.sync(client=client, after="garbage")
        assert isinstance(invalid, OpsdutyApiV1UsersListUsersResponse422)
        assert invalid.detail[0]["loc"] == ["query", "after"]
