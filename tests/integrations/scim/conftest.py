"""Fixtures for SCIM: a SCIM token of org A and one of org B (their raw values registered
with the log scan), and clients that send them."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from integrations.scim.services import scim_token_issue
from opsduty.models import Organization, User
from tests.log_secrets import secret_register

SCIM = "/scim/v2"
SCIM_JSON = "application/scim+json"


def token_for(organization: Organization, owner: User) -> str:
    """A new SCIM token of `organization` (issued by `owner`), registered as a secret."""
    raw = scim_token_issue(organization=organization, by=owner).raw
    secret_register(raw)
    return raw


class ScimClient:
    """Django's test client speaking SCIM with a bearer token (JSON bodies, SCIM type)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(SCIM + path, params)

    def _send(self, method: str, path: str, body: Any) -> Any:
        import json

        return getattr(self.client, method)(
            SCIM + path, data=json.dumps(body), content_type=SCIM_JSON
        )

    def post(self, path: str, body: Any) -> Any:
        return self._send("post", path, body)

    def put(self, path: str, body: Any) -> Any:
        return self._send("put", path, body)

    def patch(self, path: str, operations: list[dict[str, Any]]) -> Any:
        body = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": operations,
        }
        return self._send("patch", path, body)

    def delete(self, path: str) -> Any:
        return self.client.delete(SCIM + path)


@pytest.fixture
def scim_token(owner: User) -> str:
    return token_for(owner.organization, owner)


@pytest.fixture
def scim(scim_token: str) -> ScimClient:
    """Org A's identity provider."""
    return ScimClient(scim_token)


@pytest.fixture
def scim_b(outsider: User) -> ScimClient:
    """Org B's identity provider."""
    return ScimClient(token_for(outsider.organization, outsider))
