"""Fixtures for the signal tests: a service, a webhook, and its URL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from opsduty.models import Organization, Service, Team
from signals.models import Webhook
from signals.receiver import ingest
from tests import factories


@pytest.fixture(autouse=True)
def _fresh_ingest_cache() -> Iterator[None]:
    ingest.cache_clear()
    yield
    ingest.cache_clear()


@pytest.fixture
def team(org_a: Organization) -> Team:
    return factories.make_team(organization=org_a, name="Platform")


@pytest.fixture
def service(team: Team) -> Service:
    return factories.make_service(team=team, name="API")


@pytest.fixture
def webhook(org_a: Organization) -> Webhook:
    return Webhook.objects.create(organization=org_a, name="Alertmanager")


def url(webhook: Webhook, routing_key: str) -> str:
    return f"/integrations/webhooks/enque/event/{webhook.key}/{routing_key}"
