"""Live notices (opsduty/live.py): published after commit, at most one per organization and
transaction (notices sent close together are merged), nothing for a rolled-back change. Read
back from the test Redis as the web processes read them.

Redis delivers one connection's messages in order, so "nothing was published for X" is checked
as "the next notice is the one of the change made after X".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
import redis
from django.conf import settings
from django.db import transaction

from incidents import services
from incidents.models import Incident
from opsduty.events import EventData
from opsduty.live import channel, channel_prefix, live_flush
from opsduty.models import User
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

Notice = tuple[str, dict[str, Any]]


@pytest.fixture
def next_notice() -> Iterator[Callable[[], Notice]]:
    """Notices from now on (a test asks for it after the fixtures that make its data)."""
    live_flush()  # what the data's creation queued goes out before we listen
    client = redis.Redis.from_url(settings.REDIS_URL)
    pubsub = client.pubsub()
    pubsub.psubscribe(channel_prefix() + "*")
    confirmed = pubsub.get_message(timeout=10)
    assert confirmed is not None and confirmed["type"] == "psubscribe"

    def _next() -> Notice:
        message = pubsub.get_message(timeout=10)  # only stops a broken test from hanging
        assert message is not None, "no notice published"
        return message["channel"].decode(), orjson.loads(message["data"])

    yield _next
    pubsub.close()
    client.close()


def _incidents(owner: User, count: int) -> list[Incident]:
    service = factories.make_service(organization=owner.organization)
    return [factories.make_incident(service=service, summary=f"#{i}") for i in range(count)]


@pytest.fixture
def two_incidents(owner: User) -> list[Incident]:
    # Made before the subscription: their own notices are not read.
    return _incidents(owner, 2)


def test_a_rolled_back_change_publishes_nothing(
    two_incidents: list[Incident], owner: User, next_notice: Callable[[], Notice]
) -> None:
    first, second = two_incidents
    with pytest.raises(RuntimeError), transaction.atomic():
        services.incident_acknowledge(incident=first, by=owner)
        raise RuntimeError("changed my mind")
    services.incident_add_note(incident=second, by=owner, text="Looking")
    assert next_notice() == (
        channel(owner.organization_id),
        {"s": {str(second.service_id): [second.pk]}},
    )


def test_one_transaction_publishes_one_notice(
    two_incidents: list[Incident], owner: User, next_notice: Callable[[], Notice]
) -> None:
    first, second = two_incidents
    with transaction.atomic():
        services.incident_acknowledge(incident=first, by=owner)
        services.incident_set_urgency(incident=second, by=owner, urgency="low")
        services.incident_add_note(incident=first, by=owner, text="Both ours")
    live_flush()  # else the next change may go out merged with it (BATCH_SECONDS)
    services.incident_resolve(incident=second, by=owner)
    assert next_notice()[1] == {"s": {str(first.service_id): sorted([first.pk, second.pk])}}
    assert next_notice()[1] == {"s": {str(second.service_id): [second.pk]}}


def test_an_event_joining_an_incident_is_announced(
    owner: User, next_notice: Callable[[], Notice]
) -> None:
    from incidents.ingest.services import ingest_event

    service = factories.make_service(organization=owner.organization)
    incident = ingest_event(service=service, event=EventData(summary="Disk", dedup_id="disk"))
    live_flush()
    next_notice()  # the new incident
    ingest_event(service=service, event=EventData(summary="Disk again", dedup_id="disk"))
    assert next_notice()[1] == {"s": {str(service.pk): [incident.pk]}}


def test_notices_name_the_organization_and_nothing_private(
    two_incidents: list[Incident], owner: User, next_notice: Callable[[], Notice]
) -> None:
    first, _ = two_incidents
    services.incident_add_note(incident=first, by=owner, text="secret root cause")
    name, body = next_notice()
    assert name == channel(owner.organization_id)
    assert "secret" not in orjson.dumps(body).decode() and first.summary not in str(body)
