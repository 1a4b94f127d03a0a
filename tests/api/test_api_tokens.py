"""Personal API tokens at the API: they authenticate, record their last use at most once a
minute (without a query in between), and answer 401 once expired or revoked."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from oauth2_provider.models import AccessToken

from opsduty import services
from opsduty.models import ApiToken, User
from opsduty.timebounds import LATEST

pytestmark = pytest.mark.django_db

SERVICES = "/api/v1/services/"
T0 = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)


def _get(raw: str, path: str = SERVICES) -> tuple[int, dict[str, object]]:
    response = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get(path)
    return response.status_code, json.loads(response.content)


def test_a_personal_token_reads_the_api(owner: User) -> None:
    issued = services.api_token_issue(user=owner, name="Grafana sync")
    status, body = _get(issued.raw)
    assert status == 200
    assert body["items"] == []
    assert issued.raw not in repr(issued)


def test_last_use_is_recorded_at_most_once_a_minute(owner: User) -> None:
    with time_machine.travel(T0, tick=False):
        issued = services.api_token_issue(user=owner, name="cron")
        assert issued.token.last_used_at is None
        assert _get(issued.raw)[0] == 200
        assert ApiToken.objects.get().last_used_at == T0

    with time_machine.travel(T0 + timedelta(seconds=59), tick=False):
        with CaptureQueriesContext(connection) as queries:
            assert _get(issued.raw)[0] == 200
        # The token row comes with the token's own lookup; nothing else reads or writes it.
        touching = [q["sql"] for q in queries if "opsduty_apitoken" in q["sql"]]
        assert len(touching) == 1 and "oauth2_provider_accesstoken" in touching[0]
        assert not [q for q in queries if q["sql"].startswith("UPDATE")]
        assert ApiToken.objects.get().last_used_at == T0

    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        assert _get(issued.raw)[0] == 200
        assert ApiToken.objects.get().last_used_at == T0 + timedelta(minutes=5)


def test_an_expired_token_answers_401(owner: User) -> None:
    with time_machine.travel(T0, tick=False):
        issued = services.api_token_issue(user=owner, name="short", expires=T0 + timedelta(days=1))
        assert _get(issued.raw)[0] == 200
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        status, body = _get(issued.raw)
    assert status == 401
    assert body == {"detail": "The access token has expired."}


def test_a_revoked_token_answers_401(owner: User, member: User) -> None:
    issued = services.api_token_issue(user=member, name="laptop")
    services.api_token_revoke(token=issued.token, by=owner)
    status, body = _get(issued.raw)
    assert status == 401
    assert body == {"detail": "The access token is invalid."}


def test_only_the_user_or_an_owner_of_the_organization_may_revoke(
    owner: User, member: User, outsider: User
) -> None:
    owners = services.api_token_issue(user=owner, name="deploy")
    with pytest.raises(PermissionDenied):
        services.api_token_revoke(token=owners.token, by=member)
    with pytest.raises(PermissionDenied):
        services.api_token_revoke(token=owners.token, by=outsider)
    assert _get(owners.raw)[0] == 200


def test_no_expiry_is_stored_as_the_end_of_accepted_time(owner: User) -> None:
    issued = services.api_token_issue(user=owner, name="forever")
    assert issued.token.access_token.expires == LATEST
    assert issued.token.never_expires and not issued.token.is_expired


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "  "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "ok", "scope": "admin"}, "scope"),
        ({"name": "ok", "expires": T0.replace(year=2020)}, "expires"),
        ({"name": "ok", "expires": datetime(2100, 1, 2, tzinfo=UTC)}, "expires"),
        ({"name": "ok", "expires": datetime(2030, 1, 2)}, "expires"),  # noqa: DTZ001 - naive on purpose
    ],
)
def test_the_service_refuses_bad_input(owner: User, kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        services.api_token_issue(user=owner, **kwargs)  # type: ignore[arg-type]
    assert field in refused.value.error_dict
    assert not AccessToken.objects.exists()


def _command(*args: str) -> str:
    out = StringIO()
    call_command(
        "create_api_token", "--org", "org-a", "--email", "owner@a.example", *args, stdout=out
    )
    return out.getvalue().strip()


def test_the_command_issues_the_same_named_kind_of_token(owner: User) -> None:
    raw = _command("--name", "Backup job", "--expires", "2099-12-31")
    token = ApiToken.objects.get()
    assert (token.name, token.user) == ("Backup job", owner)
    assert token.access_token.expires == datetime(2099, 12, 31, tzinfo=UTC)
    assert token.access_token.token == ""
    assert _get(raw)[0] == 200

    _command()
    assert ApiToken.objects.order_by("-id").first().name == "CLI"  # type: ignore[union-attr]
    _command("--expires", "never", "--name", "forever")
    assert ApiToken.objects.get(name="forever").never_expires


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--expires", "tomorrow"], "use a date"),
        (["--expires", "2001-01-01"], "must be in the future"),
        (["--name", ""], "Enter a name"),
    ],
)
def test_the_command_explains_refusals(owner: User, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        _command(*args)
    assert not ApiToken.objects.exists()
