"""Migration opsduty 0004: tokens `create_api_token` issued before personal tokens existed
get a row named "CLI" (listed, revocable), and no stored token stays in plaintext; they
keep working, since the toolkit finds tokens by checksum."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.utils import timezone
from oauthlib.common import generate_token

from opsduty.models import ApiToken, Role
from tests import factories

BEFORE = [("opsduty", "0003_service")]


@pytest.mark.django_db(transaction=True)
def test_old_cli_tokens_are_listed_and_no_token_stays_in_plaintext() -> None:
    org = factories.make_organization(domain="old", name="Old Inc.")
    user = factories.make_user(organization=org, email="ops@old.example", role=Role.OWNER)
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    executor = MigrationExecutor(connection)
    old = executor.loader.project_state(list(executor.loader.applied_migrations)).apps
    Application = old.get_model("oauth2_provider", "Application")
    AccessToken = old.get_model("oauth2_provider", "AccessToken")
    raws: dict[str, str] = {}
    for name in ("API tokens", "Grafana"):
        application = Application.objects.create(
            name=name,
            user_id=user.pk,
            client_type="confidential",
            authorization_grant_type="authorization-code",
            redirect_uris="http://127.0.0.1/",
        )
        raws[name] = generate_token()
        # The old way: the raw token in `token`, its checksum beside it (computed on save).
        AccessToken.objects.create(
            user_id=user.pk,
            application=application,
            token=raws[name],
            token_checksum="",
            scope="api:v1",
            expires=timezone.now() + timedelta(days=1),
        )
    assert AccessToken.objects.filter(token=raws["API tokens"]).exists()

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    token = ApiToken.objects.get()
    assert (token.name, token.user_id, token.organization_id) == ("CLI", user.pk, org.pk)
    assert token.access_token.application.name == "API tokens"
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM oauth2_provider_accesstoken WHERE token <> ''")
        assert cursor.fetchone() == (0,)
    for raw in raws.values():
        client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
        assert client.get("/api/v1/services/").status_code == 200
