"""The log scan of tests/log_secrets.py finds a registered secret in a log line (its own
recorder here, so this test's deliberate leak does not fail the run), and the secrets the
app's rows carry are registered as they are saved."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

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
    own.close()


@pytest.mark.django_db
def test_the_secrets_of_saved_rows_are_registered(owner: object) -> None:
    webhook = factories.make_webhook(organization=factories.make_organization())
    raw = factories.access_token_for(factories.make_user(phone_number="+15550100999"))
    assert str(Webhook.objects.get(pk=webhook.pk).key) in log_secrets._secrets
    assert raw in log_secrets._secrets
    assert "+15550100999" in log_secrets._secrets
