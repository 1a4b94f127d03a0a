"""The log scan of tests/log_secrets.py finds a registered secret in a log line (its own
recorder here, so this test's deliberate leak does not fail the run), and the secrets the
app's rows carry are registered as they are saved."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from opsduty.models import User
from signals.models import Webhook
from tests import factories, log_secrets
from tests.log_secrets import LogRecorder


def test_a_logged_secret_is_found_and_reported_masked(tmp_path: Path) -> None:
    secret = "sk-test-0123456789abcdef"
    log_secrets.secret_register(secret)
    own = LogRecorder(tmp_path / "logs.txt")
    logger = logging.getLogger("tests.leaky")
    logger.propagate = False
    logger.addHandler(own)
    try:
        logger.info("all fine")
        logger.warning("calling with %s", secret)
        logger.info("fine again", extra={"token": f"Bearer {secret}"})
    finally:
        logger.removeHandler(own)
        logger.propagate = True
    found = log_secrets.leaks(own)
    assert [line for _, line in found] == [
        "WARNING tests.leaky: calling with <SECRET>",
        "INFO tests.leaky: fine again {'token': 'Bearer <SECRET>'}",
    ]
    assert all(secret not in masked for masked, _ in found)
    own.finish()


@pytest.mark.django_db
def test_the_secrets_of_saved_rows_are_registered(owner: object) -> None:
    webhook = factories.make_webhook(organization=factories.make_organization())
    raw = factories.access_token_for(factories.make_user(phone_number="+15550100999"))
    assert str(Webhook.objects.get(pk=webhook.pk).key) in log_secrets._secrets
    assert raw in log_secrets._secrets
    assert "+15550100999" in log_secrets._secrets


@pytest.mark.django_db
def test_request_logs_never_name_the_credential_in_a_url(
    caplog: pytest.LogCaptureFixture, owner: User
) -> None:
    from django.test import Client

    from escalations.schedules import services as schedule_services
    from opsduty.log_filters import url_credentials_redact

    feed = schedule_services.feed_get_or_create(user=owner, schedule=None)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert Client().get("/heartbeats/checkin/HBUNKNOWNKEY0123456789/prod/").status_code == 404
        assert Client().get(f"/calendar/{feed.token}x.ics").status_code == 404
        assert Client().get("/invitations/SomeInvitationLink123/").status_code == 404
        assert Client().get("/email-change/SomeAddressLink123/").status_code == 404
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "Not Found: /heartbeats/checkin/<redacted>/prod/",
        "Not Found: /calendar/<redacted>.ics",
        "Not Found: /invitations/<redacted>/",
        "Not Found: /email-change/<redacted>/",
    ]
    assert all(feed.token not in str(record.__dict__) for record in caplog.records)
    # uvicorn's access log line, as it formats it.
    line = '127.0.0.1:5000 - "POST /integrations/webhooks/enque/event/5d2f/api HTTP/1.1" 202'
    assert url_credentials_redact(line) == (
        '127.0.0.1:5000 - "POST /integrations/webhooks/enque/event/<redacted>/api HTTP/1.1" 202'
    )
