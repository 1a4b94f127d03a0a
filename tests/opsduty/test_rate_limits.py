"""Abuse limits (opsduty/ratelimit.py, docs/security.md): each public or costly endpoint
answers 429 with Retry-After past its limit, per key (client IP, user, feed token, provider
account), so another key is still served; a refused request changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from oauth2_provider.models import AccessToken

from escalations.schedules import services as schedule_services
from opsduty.models import ApiToken, User
from tests.ui.helpers import login_data

pytestmark = pytest.mark.django_db

ADDRESS_A, ADDRESS_B = "198.51.100.7", "203.0.113.9"


def _limit(settings: Any, bucket: str, rate: str) -> None:
    settings.OPSDUTY_RATE_LIMITS = {**settings.OPSDUTY_RATE_LIMITS, bucket: rate}


def _retry_after(response: Any) -> int:
    wait = int(response["Retry-After"])
    assert 0 < wait <= 3600
    return wait


def test_sign_in_attempts_are_limited_per_address(settings: Any, owner: User, member: User) -> None:
    _limit(settings, "login", "3/minute")
    flood = Client(REMOTE_ADDR=ADDRESS_A)
    for _ in range(3):
        wrong = login_data("org-a", "nobody@a.example", "wrong")
        assert flood.post("/login/", wrong).status_code == 200
    # Even the right password of another person is refused from this address now.
    response = flood.post("/login/", login_data("org-a", "member@a.example"))
    assert response.status_code == 429
    wait = _retry_after(response)
    content = response.content.decode()
    assert "Too many sign-in attempts from your address" in content
    assert f"Try again in {wait} second" in content
    assert 'name="domain"' in content  # still the sign-in page
    assert "_auth_user_id" not in flood.session
    # The sign-in page itself (GET) is not counted; another address signs in.
    assert flood.get("/login/").status_code == 200
    other = Client(REMOTE_ADDR=ADDRESS_B)
    assert other.post("/login/", login_data("org-a", "owner@a.example")).status_code == 302


def test_token_creation_is_limited_per_user(
    settings: Any, owner_client: Client, member_client: Client, owner: User
) -> None:
    _limit(settings, "api_token_create", "2/hour")
    for name in ("one", "two"):
        response = owner_client.post("/profile/tokens/", {"name": name, "scope": "api:v1"})
        assert response.status_code == 200
        assert 'id="token-value"' in response.content.decode()
    response = owner_client.post("/profile/tokens/", {"name": "three", "scope": "api:v1"})
    assert response.status_code == 429
    _retry_after(response)
    content = response.content.decode()
    assert "You created many tokens lately" in content
    assert 'id="token-value"' not in content
    assert list(
        ApiToken.objects.filter(user=owner).values_list("name", flat=True).order_by("name")
    ) == [
        "one",
        "two",
    ]
    # Listing is not limited; another person of the same organization still creates one.
    assert owner_client.get("/profile/tokens/").status_code == 200
    response = member_client.post("/profile/tokens/", {"name": "mine", "scope": "api:v1"})
    assert response.status_code == 200


def test_the_oauth_token_endpoint_is_limited_per_address(settings: Any) -> None:
    _limit(settings, "oauth", "2/minute")
    data = {"grant_type": "client_credentials", "client_id": "nope", "client_secret": "nope"}
    flood = Client(REMOTE_ADDR=ADDRESS_A)
    for _ in range(2):
        assert flood.post("/oauth2/token/", data).status_code == 401
    response = flood.post("/oauth2/token/", data)
    assert response.status_code == 429
    _retry_after(response)
    assert response.json()["detail"].startswith("Too many requests; retry in ")
    assert not AccessToken.objects.exists()
    assert Client(REMOTE_ADDR=ADDRESS_B).post("/oauth2/token/", data).status_code == 401


def test_the_public_schema_is_limited_per_address(settings: Any) -> None:
    _limit(settings, "public", "1/minute")
    flood = Client(REMOTE_ADDR=ADDRESS_A)
    assert flood.get("/api/v1/openapi.json").status_code == 200
    response = flood.get("/api/v1/openapi.json")
    assert response.status_code == 429
    _retry_after(response)
    assert Client(REMOTE_ADDR=ADDRESS_B).get("/api/v1/openapi.json").status_code == 200


def test_calendar_feeds_are_limited_per_feed(
    settings: Any, client: Client, owner: User, member: User
) -> None:
    _limit(settings, "calendar_feed", "2/minute")
    mine = schedule_services.feed_get_or_create(user=owner, schedule=None)
    theirs = schedule_services.feed_get_or_create(user=member, schedule=None)
    for _ in range(2):
        assert client.get(f"/calendar/{mine.token}.ics").status_code == 200
    response = client.get(f"/calendar/{mine.token}.ics")
    assert response.status_code == 429
    _retry_after(response)
    answer = client.get(f"/calendar/{theirs.token}.ics")
    assert answer.status_code == 200
    assert answer.content.startswith(b"BEGIN:VCALENDAR")


def test_provider_callbacks_are_limited_per_account_key_and_address(settings: Any) -> None:
    _limit(settings, "provider_callback", "2/minute")
    client = Client(REMOTE_ADDR=ADDRESS_A)
    twilio = "/integrations/twilio/key-one/sms/"
    for _ in range(2):  # unsigned: refused, but counted before the account is looked up
        assert client.post(twilio, {"Body": "ack"}).status_code == 403
    response = client.post(twilio, {"Body": "ack"})
    assert response.status_code == 429
    _retry_after(response)
    assert client.post("/integrations/twilio/key-two/sms/", {}).status_code == 403
    slack = "/integrations/slack/events/"
    # Slack's requests carry no key in the URL: its budget is per client address.
    other = Client(REMOTE_ADDR=ADDRESS_B)
    for _ in range(2):
        assert other.post(slack, b"{}", content_type="application/json").status_code == 403
    refused = other.post(slack, b"{}", content_type="application/json")
    assert refused.status_code == 429
    _retry_after(refused)


def test_a_rate_that_does_not_parse_fails_the_system_check(settings: Any) -> None:
    from opsduty.ratelimit import rate_limits_check

    _limit(settings, "login", "lots")
    (error,) = rate_limits_check()
    assert error.id == "opsduty.E010"
    assert "OPSDUTY_RATE_LOGIN='lots'" in error.msg
