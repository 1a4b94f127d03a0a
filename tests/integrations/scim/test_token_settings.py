"""The SCIM token on the organization's settings page (owners): created and shown once,
stored as its SHA-256 only, rotated (the old one stops at once) and revoked; members
cannot reach it."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client

from integrations.scim.models import ScimToken
from opsduty.crypto import secret_digest
from opsduty.models import Organization
from tests.integrations.scim.conftest import ScimClient
from tests.log_secrets import secret_register

pytestmark = pytest.mark.django_db


def _shown_token(page: str) -> str:
    found = re.search(r'id="scim-token-value" value="(scim_[^"]+)"', page)
    assert found, "no token shown"
    secret_register(found[1])
    return found[1]


def test_owner_creates_rotates_and_revokes_the_token(
    owner_client: Client, org_a: Organization
) -> None:
    page = owner_client.get("/settings/organization/").content.decode()
    base = settings.OPSDUTY_PUBLIC_URL.rstrip("/") + "/scim/v2"
    assert "SCIM provisioning" in page and f'value="{base}"' in page
    assert "No SCIM token" in page

    created = owner_client.post("/settings/organization/scim/rotate/")
    assert created.status_code == 200
    raw = _shown_token(created.content.decode())
    stored = ScimToken.objects.get(organization=org_a)
    assert stored.token_hash == secret_digest(raw) and raw not in stored.token_hash
    assert "no-store" in created["Cache-Control"]
    again = owner_client.get("/settings/organization/").content.decode()
    assert raw not in again and "A SCIM token exists" in again  # shown once
    assert ScimClient(raw).get("/Users").status_code == 200
    assert "last used" in owner_client.get("/settings/organization/").content.decode()

    rotated = _shown_token(
        owner_client.post("/settings/organization/scim/rotate/").content.decode()
    )
    assert rotated != raw
    assert ScimClient(raw).get("/Users").status_code == 401
    assert ScimClient(rotated).get("/Users").status_code == 200
    assert ScimToken.objects.filter(organization=org_a).count() == 1

    revoked = owner_client.post("/settings/organization/scim/revoke/", follow=True)
    assert "SCIM token revoked" in revoked.content.decode()
    assert ScimClient(rotated).get("/Users").status_code == 401
    assert not ScimToken.objects.filter(organization=org_a).exists()


def test_members_cannot_make_or_revoke_a_token(member_client: Client, org_a: Organization) -> None:
    assert member_client.post("/settings/organization/scim/rotate/").status_code == 403
    assert member_client.post("/settings/organization/scim/revoke/").status_code == 403
    assert not ScimToken.objects.filter(organization=org_a).exists()
