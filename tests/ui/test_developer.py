"""Developer settings: OAuth2 applications of the organization (owners only)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlparse

import pytest
from django.contrib.auth.hashers import check_password, identify_hasher
from django.test import Client
from oauth2_provider.models import AccessToken, Application

from opsduty.models import User

pytestmark = pytest.mark.django_db

REDIRECT = "http://127.0.0.1:8765/callback"


def _app_of(user: User, name: str = "Theirs") -> Application:
    return Application.objects.create(
        name=name,
        user=user,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT,
    )


def test_owner_sees_developer_settings_with_endpoints_and_token_command(
    owner: User, owner_client: Client
) -> None:
    response = owner_client.get("/settings/developer/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "http://testserver/oauth2/authorize/" in content
    assert "http://testserver/oauth2/token/" in content
    assert "<code>api</code>" in content and "<code>api:v1</code>" in content
    assert "python manage.py create_api_token --org org-a --email owner@a.example" in content


def test_navigation_links_developer_settings_for_owners_only(
    owner_client: Client, member_client: Client
) -> None:
    assert 'href="/settings/developer/"' in owner_client.get("/members/").content.decode()
    assert 'href="/settings/developer/"' not in member_client.get("/members/").content.decode()


def test_members_and_stakeholders_get_403(
    member: User, member_client: Client, stakeholder_client: Client
) -> None:
    for client in (member_client, stakeholder_client):
        assert client.get("/settings/developer/").status_code == 403
        response = client.post(
            "/settings/developer/applications/create/",
            {"name": "x", "redirect_uris": REDIRECT, "client_type": "public"},
        )
        assert response.status_code == 403
    assert not Application.objects.exists()


def test_owner_creates_an_application_and_sees_the_secret_once(
    owner: User, owner_client: Client
) -> None:
    response = owner_client.post(
        "/settings/developer/applications/create/",
        {"name": "Grafana", "redirect_uris": REDIRECT, "client_type": "confidential"},
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    raw_secret = response.context["client_secret"]
    application = Application.objects.get(name="Grafana")
    content = response.content.decode()
    assert raw_secret in content
    assert application.client_id in content
    assert "/oauth2/authorize/" in content and "/oauth2/token/" in content
    assert application.user == owner
    assert application.authorization_grant_type == Application.GRANT_AUTHORIZATION_CODE
    assert application.client_type == Application.CLIENT_CONFIDENTIAL
    # Stored hashed, yet the shown raw secret checks against it.
    assert application.client_secret != raw_secret
    identify_hasher(application.client_secret)
    assert check_password(raw_secret, application.client_secret)
    # Never shown again.
    listing = owner_client.get("/settings/developer/").content.decode()
    assert application.client_id in listing
    assert raw_secret not in listing


def test_shown_secret_and_pkce_get_a_token(owner: User, owner_client: Client) -> None:
    response = owner_client.post(
        "/settings/developer/applications/create/",
        {"name": "Script", "redirect_uris": REDIRECT, "client_type": "confidential"},
    )
    raw_secret = response.context["client_secret"]
    application: Application = response.context["application"]
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    authorize = owner_client.post(
        "/oauth2/authorize/",
        {
            "client_id": application.client_id,
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": "api:v1",
            "state": "s1",
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
            "allow": "true",
        },
    )
    assert authorize.status_code == 302, authorize.content
    code = parse_qs(urlparse(authorize["Location"]).query)["code"][0]
    token_request = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": application.client_id,
        "code_verifier": verifier,
    }
    wrong = Client().post("/oauth2/token/", {**token_request, "client_secret": "not the secret"})
    assert wrong.status_code == 401
    token = Client().post("/oauth2/token/", {**token_request, "client_secret": raw_secret})
    assert token.status_code == 200, token.content
    assert token.json()["scope"] == "api:v1"
    assert AccessToken.objects.filter(application=application, user=owner).exists()


def test_public_client_is_created_without_showing_a_secret(owner_client: Client) -> None:
    response = owner_client.post(
        "/settings/developer/applications/create/",
        {"name": "CLI", "redirect_uris": REDIRECT, "client_type": "public"},
    )
    assert response.status_code == 200
    assert response.context["application"].client_type == Application.CLIENT_PUBLIC
    assert response.context["client_secret"] not in response.content.decode()


@pytest.mark.parametrize("uris", ["not a url", "ftp://files.example/cb", "   "])
def test_invalid_redirect_uris_are_form_errors(owner_client: Client, uris: str) -> None:
    response = owner_client.post(
        "/settings/developer/applications/create/",
        {"name": "Bad", "redirect_uris": uris, "client_type": "confidential"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["redirect_uris"]
    assert not Application.objects.exists()


def test_list_shows_only_the_organizations_applications(
    owner: User, member: User, outsider: User, owner_client: Client, outsider_client: Client
) -> None:
    _app_of(member, "Made by a former owner")
    _app_of(outsider, "Bravo app")
    content = owner_client.get("/settings/developer/").content.decode()
    assert "Made by a former owner" in content
    assert "Bravo app" not in content
    outsider_page = outsider_client.get("/settings/developer/").content.decode()
    assert "Bravo app" in outsider_page
    assert "Made by a former owner" not in outsider_page


def test_owner_deletes_an_application_of_the_organization(
    owner: User, member: User, owner_client: Client
) -> None:
    application = _app_of(member)
    url = f"/settings/developer/applications/{application.pk}/delete/"
    confirm = owner_client.get(url)
    assert confirm.status_code == 200
    assert application.client_id in confirm.content.decode()
    assert Application.objects.filter(pk=application.pk).exists()
    response = owner_client.post(url)
    assert response.status_code == 302
    assert response["Location"] == "/settings/developer/"
    assert not Application.objects.filter(pk=application.pk).exists()


def test_foreign_application_delete_answers_404(
    owner: User, outsider: User, owner_client: Client, outsider_client: Client
) -> None:
    theirs = _app_of(outsider)
    ours = _app_of(owner, "Ours")
    assert (
        owner_client.get(f"/settings/developer/applications/{theirs.pk}/delete/").status_code == 404
    )
    assert (
        owner_client.post(f"/settings/developer/applications/{theirs.pk}/delete/").status_code
        == 404
    )
    assert (
        outsider_client.post(f"/settings/developer/applications/{ours.pk}/delete/").status_code
        == 404
    )
    assert Application.objects.filter(pk__in=[theirs.pk, ours.pk]).count() == 2


def test_member_cannot_delete_an_application(owner: User, member_client: Client) -> None:
    application = _app_of(owner)
    response = member_client.post(f"/settings/developer/applications/{application.pk}/delete/")
    assert response.status_code == 403
    assert Application.objects.filter(pk=application.pk).exists()


def test_application_of_a_user_without_organization_is_never_listed(owner_client: Client) -> None:
    orphan = Application.objects.create(
        name="Orphan",
        user=None,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT,
    )
    assert "Orphan" not in owner_client.get("/settings/developer/").content.decode()
    assert (
        owner_client.post(f"/settings/developer/applications/{orphan.pk}/delete/").status_code
        == 404
    )


def test_the_create_api_token_application_is_listed_and_explained(
    owner: User, member: User, owner_client: Client
) -> None:
    from opsduty import services

    services.api_token_create(user=member)
    content = owner_client.get("/settings/developer/").content.decode()
    assert services.API_ACCESS_APPLICATION_NAME in content
    assert "deleting it revokes them" in content
