"""Secrets at rest (docs/security.md): no credential is readable in the database. API tokens
and OAuth client secrets are hashed; Twilio auth tokens and Slack bot tokens are encrypted;
the credentials of URLs (webhook keys, heartbeat check-in keys, calendar feed tokens) are
encrypted and found by their SHA-256, so the URLs keep working and the pages still show them.
Migrations convert the rows of an older database in place."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from oauth2_provider.models import AccessToken, Application

from escalations.schedules import services as schedule_services
from integrations.slack.models import SlackWorkspace
from integrations.twilio.models import TwilioAccount
from opsduty.crypto import secret_digest
from opsduty.models import Organization, Service, User
from signals.models import Heartbeat, Webhook
from tests import factories, log_secrets
from tests.heartbeat_factories import make_heartbeat, make_state


def _row_text(table: str, row_id: int) -> str:
    """Every column of one row, as PostgreSQL holds it."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT t::text FROM {table} t WHERE id = %s", [row_id])  # noqa: S608
        (text,) = cursor.fetchone()
    return str(text)


@pytest.fixture
def service(org_a: Organization, owner: User) -> Service:
    team = factories.make_team(organization=org_a, name="Platform")
    factories.add_member(team, owner)
    return factories.make_service(team=team, name="API")


@pytest.mark.django_db
def test_url_credentials_are_encrypted_and_still_open_their_urls(
    service: Service, owner: User, owner_client: Client
) -> None:
    webhook = factories.make_webhook(organization=service.organization, name="Alertmanager")
    heartbeat = make_heartbeat(service=service)
    make_state(heartbeat=heartbeat, environment="prod")
    feed = schedule_services.feed_get_or_create(user=owner, schedule=None)
    for table, row_id, secret in (
        ("signals_webhook", webhook.pk, str(webhook.key)),
        ("signals_heartbeat", heartbeat.pk, heartbeat.public_primary_key),
        ("escalations_calendarfeed", feed.pk, feed.token),
    ):
        stored = _row_text(table, row_id)
        assert secret not in stored, table
        assert "fernet:" in stored and secret_digest(secret) in stored
    # The URLs work, and the pages still show them.
    checkin = f"/heartbeats/checkin/{heartbeat.public_primary_key}/prod/"
    assert Client().get(checkin).json() == {"detail": "Check-in received.", "environment": "prod"}
    event = Client().post(
        f"/integrations/webhooks/enque/event/{webhook.key}/{service.routing_key}",
        {"summary": "Disk full"},
        content_type="application/json",
    )
    assert event.status_code == 202
    assert Client().get(f"/calendar/{feed.token}.ics").status_code == 200
    page = owner_client.get(f"/heartbeats/{heartbeat.pk}/").content.decode()
    assert heartbeat.public_primary_key in page


@pytest.mark.django_db
def test_tokens_and_provider_secrets_are_not_stored_in_clear(owner: User) -> None:
    raw = factories.access_token_for(owner)
    token = AccessToken.objects.get()
    assert raw not in _row_text("oauth2_provider_accesstoken", token.pk)
    application = Application(
        name="CI",
        user=owner,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret="a-client-secret-0123456789",  # noqa: S106
    )
    application.save()
    assert "a-client-secret-0123456789" not in _row_text(
        "oauth2_provider_application", application.pk
    )
    account = TwilioAccount.objects.create(
        organization=owner.organization,
        account_sid="AC" + "1" * 32,
        auth_token="twilio-auth-token-0123456789",  # noqa: S106
        auth_token_hint="…6789",
    )
    assert "twilio-auth-token-0123456789" not in _row_text("twilio_twilioaccount", account.pk)
    workspace = SlackWorkspace.objects.create(
        organization=owner.organization,
        team_id="T0123",
        team_name="Acme",
        bot_user_id="U0BOT",
        bot_token="xoxb-slack-bot-token-0123456789",  # noqa: S106
    )
    assert "xoxb-slack-bot-token-0123456789" not in _row_text("slack_slackworkspace", workspace.pk)


BEFORE = [
    ("signals", "0005_reference_from_incidents"),
    ("escalations", "0012_notification_delivery_status_and_more"),
]


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_existing_keys_and_they_keep_working(
    org_a: Organization, owner: User
) -> None:
    service = factories.make_service(organization=org_a, name="API")
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    # Rows as an older version wrote them: the keys in clear.
    webhook_key, heartbeat_key = (
        "5d2f7c1e-7e0a-4c55-9d0b-2b3f1c9a8e11",
        "HBOLDKEY234567ABCDEFGHIJKLMN",
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO signals_webhook (organization_id, name, enabled, key, builtin_template,"
            " rate_limit_per_minute, created_at)"
            " VALUES (%s, 'Old', true, %s, 'generic', 600, now())"
            " RETURNING id",
            [org_a.pk, webhook_key],
        )
        (webhook_id,) = cursor.fetchone()
        cursor.execute(
            "INSERT INTO signals_heartbeat (organization_id, service_id, name, description,"
            " incident_urgency, labels, public_primary_key, created_at)"
            " VALUES (%s, %s, 'old-job', '', 'high', '[]', %s, now()) RETURNING id",
            [org_a.pk, service.pk, heartbeat_key],
        )
        (heartbeat_id,) = cursor.fetchone()
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert webhook_key not in _row_text("signals_webhook", webhook_id)
    assert heartbeat_key not in _row_text("signals_heartbeat", heartbeat_id)
    assert str(Webhook.objects.get(pk=webhook_id).key) == webhook_key
    heartbeat = Heartbeat.objects.get(pk=heartbeat_id)
    assert heartbeat.public_primary_key == heartbeat_key
    make_state(heartbeat=heartbeat, environment="prod")
    answer = Client().get(f"/heartbeats/checkin/{heartbeat_key}/prod/")
    assert answer.json() == {"detail": "Check-in received.", "environment": "prod"}
    event = Client().post(
        f"/integrations/webhooks/enque/event/{webhook_key}/{service.routing_key}",
        {"summary": "Disk full"},
        content_type="application/json",
    )
    assert event.status_code == 202


@pytest.mark.django_db
def test_a_key_rotation_keeps_every_url_working(settings: Any, service: Service) -> None:
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    from opsduty import crypto

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    log_secrets.secret_register(old, new)

    def use(*keys: str) -> None:
        settings.OPSDUTY_ENCRYPTION_KEYS = list(keys)
        crypto._fernet.cache_clear()

    try:
        use(old)
        heartbeat = make_heartbeat(service=service)
        make_state(heartbeat=heartbeat, environment="prod")
        key = heartbeat.public_primary_key
        use(new, old)  # the new key first; then every secret saved again with it
        out = io.StringIO()
        call_command("reencrypt_secrets", stdout=out)
        assert "signals.Heartbeat.public_primary_key: 1 re-encrypted" in out.getvalue()
        use(new)  # the old key dropped
        assert Heartbeat.objects.get(pk=heartbeat.pk).public_primary_key == key
        answer = Client().get(f"/heartbeats/checkin/{key}/prod/")
        assert answer.json() == {"detail": "Check-in received.", "environment": "prod"}
        # A key lost for good: the row still loads, its URL still works (found by digest),
        # and saving the row does not break it.
        use(Fernet.generate_key().decode())
        lost = Heartbeat.objects.get(pk=heartbeat.pk)
        assert lost.public_primary_key == ""
        lost.name = "renamed"
        lost.save()
        assert Client().get(f"/heartbeats/checkin/{key}/prod/").status_code == 200
    finally:
        crypto._fernet.cache_clear()
