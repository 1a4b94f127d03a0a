"""`manage.py create_api_token` and the `api_token_create` service behind it."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

from opsduty import services
from opsduty.models import User

USERS = "/api/v1/users/"


def run(*args: str) -> str:
    out = StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue()


def test_prints_only_a_working_token(owner, member):
    output = run("--org", "org-a", "--email", "Owner@A.example")
    token = output.strip()
    assert output == f"{token}\n"
    assert len(token) >= 30 and " " not in token
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get(USERS)
    assert response.status_code == 200
    assert [u["id"] for u in json.loads(response.content)["items"]] == [owner.id, member.id]


def test_token_has_the_scope_and_a_two_year_lifetime(owner):
    run("--org", "org-a", "--email", "owner@a.example", "--scope", "api")
    stored = AccessToken.objects.get(user=owner)
    assert stored.scope == "api"
    assert abs(stored.expires - (timezone.now() + timedelta(days=730))) < timedelta(minutes=1)
    assert stored.application.name == "API tokens"
    assert stored.application.user == owner
    assert stored.application.client_type == Application.CLIENT_CONFIDENTIAL
    assert stored.application.authorization_grant_type == Application.GRANT_AUTHORIZATION_CODE


def test_default_scope_is_api_v1_and_the_application_is_reused(owner):
    first = run("--org", "org-a", "--email", "owner@a.example").strip()
    second = run("--org", "org-a", "--email", "owner@a.example").strip()
    assert first != second
    assert set(AccessToken.objects.filter(user=owner).values_list("scope", flat=True)) == {"api:v1"}
    assert Application.objects.filter(user=owner, name="API tokens").count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--org", "nope", "--email", "owner@a.example"], "No organization with domain 'nope'"),
        (["--org", "org-a", "--email", "ghost@a.example"], "No user 'ghost@a.example'"),
        (["--org", "org-a", "--email", "outsider@b.example"], "No user 'outsider@b.example'"),
        (["--org", "org-a", "--email", "owner@a.example", "--scope", "read"], "Unknown scope"),
    ],
)
def test_clear_errors_for_unknown_org_email_or_scope(owner, outsider, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert not AccessToken.objects.exists()


def test_refuses_a_deactivated_user(owner):
    User.objects.filter(pk=owner.pk).update(is_active=False)
    with pytest.raises(CommandError, match="deactivated"):
        run("--org", "org-a", "--email", "owner@a.example")


def test_service_rejects_other_scopes(owner):
    with pytest.raises(ValidationError):
        services.api_token_create(user=owner, scope="admin")
    assert not Application.objects.exists()
