"""Error bodies of API v1: JSON `{"detail": ...}` for every status, 422 as a list, no redirects."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.test import Client
from oauth2_provider.models import AccessToken
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from opsduty.api.base import OrgScopedAPIView
from opsduty.models import User
from tests import factories
from tests.api.conftest import call_view

USERS = "/api/v1/users/"


def assert_json_detail(response: Any, status: int) -> Any:
    """The response has `status`, a JSON content type and a `detail` key; return the detail."""
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) >= {"detail"}
    return body["detail"]


# --- 401 -----------------------------------------------------------------------------------------


def assert_401(response: Any) -> str:
    detail = assert_json_detail(response, 401)
    assert isinstance(detail, str) and detail
    assert response["WWW-Authenticate"].startswith("Bearer ")
    return detail


@pytest.mark.django_db
def test_missing_token_is_401_with_bearer_challenge():
    detail = assert_401(Client().get(USERS))
    assert detail == "Authentication credentials were not provided."


@pytest.mark.django_db
def test_unknown_token_is_401():
    response = Client(HTTP_AUTHORIZATION="Bearer not-a-real-token").get(USERS)
    assert "invalid" in assert_401(response).lower()
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


@pytest.mark.django_db
def test_empty_bearer_token_is_401():
    assert_401(Client(HTTP_AUTHORIZATION="Bearer ").get(USERS))


@pytest.mark.django_db
def test_token_in_query_string_is_not_accepted(owner):
    token = factories.access_token_for(owner)
    assert_401(Client().get(USERS, {"access_token": token}))


def test_expired_token_is_401(owner):
    token = factories.access_token_for(owner, expires_in=timedelta(seconds=-1))
    detail = assert_401(Client(HTTP_AUTHORIZATION=f"Bearer {token}").get(USERS))
    assert "expired" in detail


def test_revoked_token_is_401(owner):
    token = factories.access_token_for(owner)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get(USERS).status_code == 200
    AccessToken.objects.get(user=owner).revoke()
    assert_401(api.get(USERS))


def test_token_of_an_inactive_user_is_401(owner_api, owner):
    assert owner_api.get(USERS).status_code == 200
    User.objects.filter(pk=owner.pk).update(is_active=False)
    assert "inactive" in assert_401(owner_api.get(USERS))


def test_token_without_an_api_scope_is_401_saying_so(owner):
    token = factories.access_token_for(owner, scope="read write")
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get(USERS)
    assert "scope" in assert_401(response)
    assert 'error="insufficient_scope"' in response["WWW-Authenticate"]


@pytest.mark.parametrize("scope", ["api", "api:v1", "read api:v1"])
def test_tokens_with_api_or_api_v1_scope_are_accepted(owner, scope):
    token = factories.access_token_for(owner, scope=scope)
    assert Client(HTTP_AUTHORIZATION=f"Bearer {token}").get(USERS).status_code == 200


# --- 404 and no redirects ----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/nope/", "/api/v1/users", "/api/v1/users/1/", "/api/v1/"])
def test_unknown_paths_are_404_json_without_redirect(owner_api, path):
    for client in (owner_api, Client()):
        assert assert_json_detail(client.get(path), 404) == "Not found."
        assert assert_json_detail(client.post(path, "{}", content_type="application/json"), 404)


@pytest.mark.django_db
def test_docs_with_trailing_slash_is_404_not_a_redirect():
    assert assert_json_detail(Client().get("/api/v1/docs/"), 404) == "Not found."


# --- 405 -----------------------------------------------------------------------------------------


def test_wrong_method_is_405_json(owner_api):
    response = owner_api.post(USERS, {}, content_type="application/json")
    detail = assert_json_detail(response, 405)
    assert detail == 'Method "POST" not allowed.'
    assert_json_detail(owner_api.delete(USERS), 405)


@pytest.mark.django_db
def test_wrong_method_without_token_is_401_first():
    assert_401(Client().post(USERS, {}, content_type="application/json"))


# --- 422 and friends from views and services -----------------------------------------------------


class NameSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=5)
    tags = serializers.ListField(child=serializers.IntegerField(), required=False)


class ProbeView(OrgScopedAPIView):
    """Raises whatever the request asks for, the way services and serializers do."""

    def post(self, request: Request) -> Response:
        kind = request.query_params.get("raise")
        if kind == "django-field":
            raise DjangoValidationError({"service": "Unknown service."})
        if kind == "django-plain":
            raise DjangoValidationError("The window may span at most 120 days.")
        if kind == "permission":
            raise PermissionDenied("Only owners can do that.")
        if kind == "http404":
            raise Http404("No Heartbeat matches the given query.")
        serializer = NameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response({"ok": True})


def probe(user: User, body: str, raise_: str = "") -> tuple[int, Any]:
    status, data, _ = call_view(
        ProbeView,
        user,
        method="post",
        path=f"/api/v1/probe/?raise={raise_}",
        data=body,
        content_type="application/json",
    )
    return status, data


def test_serializer_errors_are_422_with_loc_msg_type(owner):
    status, body = probe(owner, json.dumps({"name": "far too long", "tags": [1, "x"]}))
    assert status == 422
    assert sorted(body["detail"], key=lambda e: e["loc"]) == [
        {
            "loc": ["body", "name"],
            "msg": "Ensure this field has no more than 5 characters.",
            "type": "value_error",
        },
        {"loc": ["body", "tags", 1], "msg": "A valid integer is required.", "type": "value_error"},
    ]


def test_missing_required_field_is_422(owner):
    status, body = probe(owner, "{}")
    assert status == 422
    assert body["detail"] == [
        {"loc": ["body", "name"], "msg": "This field is required.", "type": "value_error"}
    ]


@pytest.mark.parametrize("body", ['{"name": ', "not json", "[1, 2", "\x00"])
def test_malformed_json_body_is_422_at_body(owner, body):
    status, data = probe(owner, body)
    assert status == 422
    assert len(data["detail"]) == 1
    assert data["detail"][0]["loc"] == ["body"]
    assert "JSON parse error" in data["detail"][0]["msg"]


@pytest.mark.django_db
def test_bad_token_with_malformed_body_is_401_not_422():
    response = Client(HTTP_AUTHORIZATION="Bearer nope").post(
        "/api/v1/users/", "{oops", content_type="application/json"
    )
    assert_401(response)


def test_django_validation_error_from_a_service_is_422(owner):
    status, body = probe(owner, "{}", raise_="django-field")
    assert (status, body) == (
        422,
        {
            "detail": [
                {"loc": ["body", "service"], "msg": "Unknown service.", "type": "value_error"}
            ]
        },
    )
    status, body = probe(owner, "{}", raise_="django-plain")
    assert body["detail"] == [
        {"loc": ["body"], "msg": "The window may span at most 120 days.", "type": "value_error"}
    ]


def test_permission_denied_from_a_service_is_403_with_its_message(owner):
    assert probe(owner, "{}", raise_="permission") == (403, {"detail": "Only owners can do that."})


def test_http404_is_the_generic_not_found_body(owner):
    assert probe(owner, "{}", raise_="http404") == (404, {"detail": "Not found."})


# --- 429 -----------------------------------------------------------------------------------------


def test_rate_limit_is_429_with_retry_after(owner_api, outsider_api, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "2/min"},
    }
    assert owner_api.get(USERS).status_code == 200
    assert owner_api.get(USERS).status_code == 200
    response = owner_api.get(USERS)
    detail = assert_json_detail(response, 429)
    assert isinstance(detail, str) and "throttled" in detail
    assert 1 <= int(response["Retry-After"]) <= 60
    # The limit is per user: another organization's user is not affected.
    assert outsider_api.get(USERS).status_code == 200


def test_rate_limit_counts_all_tokens_of_one_user(owner, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "1/min"},
    }
    first = Client(HTTP_AUTHORIZATION=f"Bearer {factories.access_token_for(owner)}")
    second = Client(HTTP_AUTHORIZATION=f"Bearer {factories.access_token_for(owner)}")
    assert first.get(USERS).status_code == 200
    assert second.get(USERS).status_code == 429
