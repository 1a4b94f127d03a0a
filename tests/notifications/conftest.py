"""Fixtures for notifications: org A's "API" service, an incident on it, a test provider."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from escalations.catalog import services as escalation_services
from escalations.models import Notification
from escalations.notifications.providers import DeliveryError, Receipt, provider_register
from incidents.ingest import services as ingest
from incidents.models import Incident
from opsduty.events import EventData
from opsduty.models import Organization, Service, User
from tests import factories


@pytest.fixture
def service(org_a: Organization, owner: User, member: User) -> Service:
    team = factories.make_team(organization=org_a, name="Platform")
    factories.add_member(team, owner)
    factories.add_member(team, member)
    return escalation_services.service_create(team=team, by=None, name="API")


@pytest.fixture
def incident(service: Service) -> Incident:
    return ingest.ingest_event(
        service=service, event=EventData(summary="Disk full", dedup_id="disk")
    )


@pytest.fixture(autouse=True)
def _locmem_email(settings: object) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # type: ignore[attr-defined]


class ScriptedProvider:
    """Answers from a script: a DeliveryError to raise, or None to deliver; records calls."""

    def __init__(self, script: list[DeliveryError | None]) -> None:
        self.script = list(script)
        self.calls: list[int] = []

    def send(self, notification: Notification) -> Receipt:
        self.calls.append(notification.pk)
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        return Receipt(answer="sent (test)", provider_id=f"t-{len(self.calls)}")


@pytest.fixture
def scripted_sms() -> Iterator[ScriptedProvider]:
    """Installs a scripted provider for SMS through the provider registry; restores after."""
    provider = ScriptedProvider([])
    provider_register("sms", provider)
    yield provider
    provider_register("sms", None)
