"""Personal API tokens in the UI: /profile/tokens/ (everyone, their own) and /settings/tokens/
(owners, the whole organization). The token is shown once; revoking answers 401 at the API."""

from __future__ import annotations

import re
from datetime import UTC, timedelta

import pytest
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken

from opsduty.models import ApiToken, User
from opsduty.services import MAX_API_TOKENS, api_token_issue

pytestmark = pytest.mark.django_db

PAGE = "/profile/tokens/"
ORG_PAGE = "/settings/tokens/"
SERVICES = "/api/v1/services/"


def _create(client: Client, **data: str) -> tuple[str, ApiToken]:
    response = client.post(PAGE, {"name": "Grafana sync", "scope": "api:v1", **data})
    assert response.status_code == 200, response.content[:500]
    assert "no-store" in response["Cache-Control"]
    content = response.content.decode()
    match = re.search(r'id="token-value" value="([^"]+)"', content)
    assert match, content
    return match.group(1), ApiToken.objects.get(name=data.get("name", "Grafana sync"))


def _bearer(raw: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_created_token_is_shown_once_and_works_at_the_api(
    owner: User, owner_client: Client
) -> None:
    raw, token = _create(owner_client)
    again = owner_client.get(PAGE).content.decode()
    assert raw not in again
    assert "Grafana sync" in again

    assert _bearer(raw).get(SERVICES).status_code == 200
    assert token.user == owner
    assert token.access_token.scope == "api:v1"
    assert token.never_expires


def test_the_token_is_stored_as_a_checksum_only(owner: User, owner_client: Client) -> None:
    raw, token = _create(owner_client)
    stored = AccessToken.objects.get(pk=token.access_token_id)
    assert stored.token == ""
    assert raw not in str(AccessToken.objects.filter(pk=stored.pk).values().get())


def test_list_shows_created_expiry_scope_and_last_use(owner: User, owner_client: Client) -> None:
    day = (timezone.now() + timedelta(days=30)).date()
    raw, token = _create(owner_client, name="Nightly export", expires=day.isoformat(), scope="api")
    row = _row(owner_client.get(PAGE).content.decode(), token)
    assert "Nightly export" in row
    assert f"{day:%Y-%m-%d} 00:00 UTC" in row
    assert "<code>api</code>" in row
    assert "Never used" in row

    assert _bearer(raw).get(SERVICES).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None
    row = _row(owner_client.get(PAGE).content.decode(), token)
    assert "Never used" not in row
    assert f"{token.last_used_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC" in row


def _row(content: str, token: ApiToken) -> str:
    match = re.search(rf'<tr data-token="{token.pk}">(.*?)</tr>', content, re.S)
    assert match, content
    return match.group(1)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": ""}, "name", "This field is required."),
        ({"name": "x" * 101}, "name", "at most 100 characters"),
        ({"name": "ok", "expires": "2020-01-01"}, "expires", "Choose a day after today (UTC)."),
        ({"name": "ok", "expires": "2100-01-01"}, "expires", "Must be a date from 1970-01-01"),
        ({"name": "ok", "expires": "soon"}, "expires", "Enter a date, e.g. 2027-06-30."),
        ({"name": "ok", "scope": "admin"}, "scope", "Select a valid choice."),
    ],
)
def test_refused_input_is_shown_at_its_field_and_kept(
    owner_client: Client, data: dict[str, str], field: str, message: str
) -> None:
    response = owner_client.post(PAGE, {"scope": "api:v1", **data})
    assert response.status_code == 422
    assert message in " ".join(response.context["form"].errors[field])
    content = response.content.decode()
    assert message.replace("'", "&#x27;") in content
    if data.get("name"):
        assert f'value="{data["name"]}"' in content
    if data.get("expires") and field != "expires":
        assert f'value="{data["expires"]}"' in content
    assert 'id="token-value"' not in content
    assert not ApiToken.objects.exists()


def test_revoke_asks_then_makes_the_token_answer_401(owner: User, owner_client: Client) -> None:
    raw, token = _create(owner_client)
    confirm = owner_client.get(f"/profile/tokens/{token.pk}/revoke/")
    assert confirm.status_code == 200
    assert "Revoke token “Grafana sync”?" in confirm.content.decode()
    assert _bearer(raw).get(SERVICES).status_code == 200  # GET changed nothing

    response = owner_client.post(f"/profile/tokens/{token.pk}/revoke/", follow=True)
    assert response.redirect_chain[-1][0] == PAGE
    assert "Token “Grafana sync” revoked" in response.content.decode()
    assert _bearer(raw).get(SERVICES).status_code == 401
    assert not ApiToken.objects.exists()
    assert not AccessToken.objects.filter(pk=token.access_token_id).exists()


def test_members_see_and_revoke_only_their_own(
    owner: User, member: User, member_client: Client
) -> None:
    owners = api_token_issue(user=owner, name="Owner's deploy bot")
    mine = api_token_issue(user=member, name="Member laptop")
    content = member_client.get(PAGE).content.decode()
    assert "Member laptop" in content and "Owner&#x27;s deploy bot" not in content

    url = f"/profile/tokens/{owners.token.pk}/revoke/"
    assert member_client.get(url).status_code == 404
    assert member_client.post(url).status_code == 404
    assert _bearer(owners.raw).get(SERVICES).status_code == 200
    assert member_client.get(ORG_PAGE).status_code == 403
    assert _bearer(mine.raw).get(SERVICES).status_code == 200


def test_stakeholders_have_tokens_too(stakeholder: User, stakeholder_client: Client) -> None:
    raw, _ = _create(stakeholder_client)
    assert _bearer(raw).get(SERVICES).status_code == 200
    assert stakeholder_client.get(ORG_PAGE).status_code == 403


def test_owner_sees_every_token_of_the_organization_and_revokes_a_members(
    owner: User, member: User, outsider: User, owner_client: Client
) -> None:
    members = api_token_issue(user=member, name="Member laptop")
    outsiders = api_token_issue(user=outsider, name="Outsider secret bot")
    content = owner_client.get(ORG_PAGE).content.decode()
    assert "Member laptop" in content and member.email in content
    assert "Outsider secret bot" not in content
    assert "Member laptop" not in owner_client.get(PAGE).content.decode()  # not the owner's own

    confirm = owner_client.get(f"/profile/tokens/{members.token.pk}/revoke/?back=organization")
    assert f"The token of {member.get_full_name()}" in confirm.content.decode()
    response = owner_client.post(
        f"/profile/tokens/{members.token.pk}/revoke/", {"back": "organization"}
    )
    assert response.status_code == 302 and response["Location"] == ORG_PAGE
    assert _bearer(members.raw).get(SERVICES).status_code == 401
    assert _bearer(outsiders.raw).get(SERVICES).status_code == 200


def test_another_organizations_token_is_404_even_for_an_owner(
    owner_client: Client, outsider: User
) -> None:
    outsiders = api_token_issue(user=outsider, name="Outsider secret bot")
    url = f"/profile/tokens/{outsiders.token.pk}/revoke/"
    assert owner_client.get(url).status_code == 404
    assert owner_client.post(url).status_code == 404
    assert "Outsider secret bot" not in owner_client.get(ORG_PAGE).content.decode()
    assert _bearer(outsiders.raw).get(SERVICES).status_code == 200


def test_developer_settings_link_the_organizations_tokens(owner_client: Client) -> None:
    content = owner_client.get("/settings/developer/").content.decode()
    assert f'href="{ORG_PAGE}"' in content and f'href="{PAGE}"' in content


def test_sign_in_is_required(client: Client) -> None:
    for url in (PAGE, ORG_PAGE):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_the_profile_links_the_tokens_page(member_client: Client) -> None:
    assert f'href="{PAGE}"' in member_client.get("/profile/").content.decode()


def test_one_person_may_hold_at_most_fifty_live_tokens(member: User, member_client: Client) -> None:
    for i in range(MAX_API_TOKENS - 1):
        api_token_issue(user=member, name=f"job {i}")
    expired = api_token_issue(user=member, name="old job").token
    AccessToken.objects.filter(pk=expired.access_token_id).update(
        expires=timezone.now() - timedelta(days=1)
    )  # an expired token does not count
    _create(member_client, name="the fiftieth")
    response = member_client.post(PAGE, {"name": "one too many", "scope": "api:v1"})
    assert response.status_code == 422
    content = response.content.decode()
    assert "the most one person may have" in content and 'value="one too many"' in content
    assert 'id="token-value"' not in content
    assert not ApiToken.objects.filter(name="one too many").exists()
