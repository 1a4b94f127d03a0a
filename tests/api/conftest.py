"""Fixtures and helpers of the API v1 tests."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.test.client import RequestFactory
from rest_framework.views import APIView

from opsduty.models import Organization, User
from tests import factories


def get_json(client: Client, path: str, **params: Any) -> tuple[int, Any]:
    """GET `path` with query `params`; return (status, parsed JSON body)."""
    response = client.get(path, params)
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    return response.status_code, json.loads(response.content)


def call_view(
    view: type[APIView], user: User, method: str = "get", path: str = "/api/v1/test/", **kwargs: Any
) -> tuple[int, Any, Any]:
    """Run a throwaway API view (not in the URLconf) with a real bearer token of `user`.

    Returns (status, parsed JSON body, response). `kwargs` go to the request factory
    (`data=`, `content_type=`) or, under `url_kwargs=`, to the view as URL arguments.
    """
    url_kwargs = kwargs.pop("url_kwargs", {})
    token = factories.access_token_for(user)
    request = getattr(RequestFactory(), method)(
        path, HTTP_AUTHORIZATION=f"Bearer {token}", **kwargs
    )
    response = view.as_view()(request, **url_kwargs)
    response.render()
    assert response["Content-Type"].startswith("application/json")
    return response.status_code, json.loads(response.content), response


@pytest.fixture
def seven_users(org_a: Organization, owner: User, member: User, outsider: User) -> list[User]:
    """Org A's users in id order: owner, member and five more (org B's outsider exists too)."""
    extra = [factories.make_user(organization=org_a, email=f"extra{i}@a.example") for i in range(5)]
    return [owner, member, *extra]


def bulk_users(organization: Organization, count: int, prefix: str = "bulk") -> list[User]:
    """`count` users of `organization` created in one query, in id order."""
    User.objects.bulk_create(
        User(organization=organization, email=f"{prefix}{i}@{organization.domain}.example")
        for i in range(count)
    )
    return list(User.objects.filter(organization=organization).order_by("id"))
