"""OAuth2 authorization code + PKCE (S256) end to end, and the tokens' two-year lifetime."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

from opsduty.models import User

REDIRECT_URI = "http://127.0.0.1:8765/callback"
USERS = "/api/v1/users/"
TWO_YEARS = timedelta(days=730)


@pytest.fixture
def app_and_secret(owner: User) -> tuple[Application, str]:
    secret = secrets.token_urlsafe(32)
    app = Application.objects.create(
        name="opsduty cli",
        user=owner,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT_URI,
        client_secret=secret,  # stored hashed; the raw value is what the client sends
    )
    return app, secret


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize(
    browser: Client, app: Application, challenge: str | None, scope: str
) -> dict[str, Any]:
    """GET the consent page, then POST allow=True; return the redirect's query."""
    params = {
        "client_id": app.client_id,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": scope,
        "state": "xyz",
    }
    if challenge is not None:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    page = browser.get("/oauth2/authorize/", params)
    if page.status_code == 200:
        page = browser.post("/oauth2/authorize/", {**params, "allow": True})
    assert page.status_code == 302, page.content[:300]
    location = urlsplit(page["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def token_request(app: Application, secret: str, **data: str) -> Any:
    basic = base64.b64encode(f"{app.client_id}:{secret}".encode()).decode()
    return Client().post("/oauth2/token/", data, HTTP_AUTHORIZATION=f"Basic {basic}")


def code_flow(owner: User, app: Application, secret: str, scope: str = "api:v1") -> dict[str, Any]:
    browser = Client()
    browser.force_login(owner)
    verifier, challenge = pkce_pair()
    query = authorize(browser, app, challenge, scope)
    assert query["state"] == "xyz"
    response = token_request(
        app,
        secret,
        grant_type="authorization_code",
        code=query["code"],
        redirect_uri=REDIRECT_URI,
        code_verifier=verifier,
    )
    assert response.status_code == 200, response.content
    tokens: dict[str, Any] = json.loads(response.content)
    return tokens


def test_code_flow_with_pkce_issues_a_working_two_year_token(owner, member, app_and_secret):
    app, secret = app_and_secret
    tokens = code_flow(owner, app, secret)
    assert tokens["token_type"] == "Bearer"
    assert tokens["scope"] == "api:v1"
    assert abs(tokens["expires_in"] - TWO_YEARS.total_seconds()) < 60
    assert tokens["refresh_token"]

    stored = AccessToken.objects.get(user=owner, application=app)
    assert stored.scope == "api:v1"
    assert abs(stored.expires - (timezone.now() + TWO_YEARS)) < timedelta(minutes=1)

    api = Client(HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    response = api.get(USERS)
    assert response.status_code == 200
    assert [u["id"] for u in json.loads(response.content)["items"]] == [owner.id, member.id]


def test_code_flow_can_ask_for_the_wider_api_scope(owner, app_and_secret):
    app, secret = app_and_secret
    tokens = code_flow(owner, app, secret, scope="api")
    assert tokens["scope"] == "api"
    api = Client(HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert api.get(USERS).status_code == 200


def test_authorize_without_pkce_is_refused(owner, app_and_secret):
    app, _ = app_and_secret
    browser = Client()
    browser.force_login(owner)
    query = authorize(browser, app, challenge=None, scope="api:v1")
    assert query["error"] == "invalid_request"
    assert "code" not in query


def test_wrong_code_verifier_gets_no_token(owner, app_and_secret):
    app, secret = app_and_secret
    browser = Client()
    browser.force_login(owner)
    _, challenge = pkce_pair()
    query = authorize(browser, app, challenge, "api:v1")
    response = token_request(
        app,
        secret,
        grant_type="authorization_code",
        code=query["code"],
        redirect_uri=REDIRECT_URI,
        code_verifier=pkce_pair()[0],
    )
    assert response.status_code == 400
    assert json.loads(response.content)["error"] == "invalid_grant"


def test_access_token_expires_after_two_years(owner, app_and_secret):
    app, secret = app_and_secret
    tokens = code_flow(owner, app, secret)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    start = timezone.now()
    with time_machine.travel(start + TWO_YEARS - timedelta(days=1), tick=False):
        assert api.get(USERS).status_code == 200
    with time_machine.travel(start + TWO_YEARS + timedelta(days=1), tick=False):
        assert api.get(USERS).status_code == 401


def test_refresh_token_lives_two_years(owner, app_and_secret):
    # django-oauth-toolkit 3.x ends a refresh token REFRESH_TOKEN_EXPIRE_SECONDS (1 s here)
    # after the access token it was issued with expires: two years after issue.
    app, secret = app_and_secret
    start = timezone.now()
    tokens = code_flow(owner, app, secret)
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    with time_machine.travel(start + TWO_YEARS + timedelta(days=1), tick=False):
        assert token_request(app, secret, **refresh).status_code == 400
    with time_machine.travel(start + TWO_YEARS - timedelta(days=1), tick=False):
        response = token_request(app, secret, **refresh)
        assert response.status_code == 200, response.content
        renewed = json.loads(response.content)
        assert renewed["scope"] == "api:v1"
        assert abs(renewed["expires_in"] - TWO_YEARS.total_seconds()) < 60
        api = Client(HTTP_AUTHORIZATION=f"Bearer {renewed['access_token']}")
        assert api.get(USERS).status_code == 200
