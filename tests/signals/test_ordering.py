"""A dedup id's events are processed in the order they were accepted, by however many drains.

The chaos rig found it (docs/reliability.md): two drains on consecutive batches of one webhook
processed an acknowledge after the resolve that followed it. Here, the worse case of the same
race: an alert resolved and firing again; processed the other way round, the new firing would
be swallowed by the incident the resolve then closes, and nobody would be paged for it.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from incidents.ingest import drain
from incidents.models import Incident, Status
from opsduty.models import Organization, Service
from signals.models import RawEvent, RawEventStatus, Webhook
from tests.signals.conftest import url


def _send(client: Client, webhook: Webhook, service: Service, status: str, key: str) -> int:
    body = {"title": f"Disk full ({key})", "dedup_id": key, "status": status}
    response = client.post(
        url(webhook, service.routing_key), data=json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 202
    return int(RawEvent.objects.latest("id").pk)


@pytest.mark.django_db
def test_a_second_drain_never_overtakes_the_first_on_one_dedup_id(
    client: Client, webhook: Webhook, service: Service, org_a: Organization
) -> None:
    _send(client, webhook, service, "firing", "disk")
    assert drain.raw_events_drain(linger=0) == 1
    resolve = _send(client, webhook, service, "resolved", "disk")
    _send(client, webhook, service, "firing", "disk")  # the alert fires again
    other_webhook = Webhook.objects.create(organization=org_a, name="Grafana")
    elsewhere = _send(client, other_webhook, service, "firing", "cpu")

    # Drain A claims the resolve (a batch of one), runs its pipeline, and is slow to go on...
    claimed = drain.raw_events_claim(limit=1)
    assert claimed == [resolve]
    (prepared,) = drain.raw_events_prepare(claimed)
    # ...drain B meanwhile takes what it may: another dedup id's event, not the new firing.
    assert drain.raw_events_drain(linger=0, patience=0) == 1
    assert RawEvent.objects.get(pk=elsewhere).status == RawEventStatus.PROCESSED
    assert RawEvent.objects.filter(status=RawEventStatus.PENDING).count() == 2
    # A goes on; then everything.
    assert drain.raw_event_ingest(prepared) is True
    assert drain.raw_events_drain(linger=0) == 1

    disk = Incident.objects.filter(dedup_id="disk").order_by("id")
    assert [incident.status for incident in disk] == [Status.RESOLVED, Status.TRIGGERED]


@pytest.mark.django_db(transaction=True)
def test_a_dead_drains_events_hold_up_the_later_ones_until_its_claim_is_stale(
    client: Client, webhook: Webhook, service: Service
) -> None:
    """A drain that died after claiming, before its pipeline ran: nobody knows its events'
    dedup ids, so the organization's later events wait; after STALE_AFTER its claim is taken
    over and everything goes in order."""
    firing = _send(client, webhook, service, "firing", "disk")
    _send(client, webhook, service, "resolved", "disk")
    assert drain.raw_events_claim(limit=1) == [firing]  # and the drain dies
    assert drain.raw_events_drain(linger=0, patience=0) == 0
    assert not Incident.objects.exists()
    later = timezone.now() + drain.STALE_AFTER + timedelta(seconds=1)
    with time_machine.travel(later, tick=True):
        assert drain.raw_events_drain(linger=0) == 2
    assert Incident.objects.get(dedup_id="disk").status == Status.RESOLVED


@pytest.mark.django_db
def test_a_retried_resolve_or_a_late_acknowledge_opens_no_incident(
    client: Client, webhook: Webhook, service: Service, owner_client: Client
) -> None:
    """A sender retries a resolve that was stored but not answered (PostgreSQL went down
    mid-request), and an acknowledge comes after it: both land on the resolved incident."""
    _send(client, webhook, service, "firing", "disk")
    _send(client, webhook, service, "resolved", "disk")
    _send(client, webhook, service, "resolved", "disk")
    _send(client, webhook, service, "acknowledged", "disk")
    assert drain.raw_events_drain(linger=0) == 4

    incident = Incident.objects.get(dedup_id="disk")
    assert incident.status == Status.RESOLVED
    page = owner_client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "Resolve signal ignored: incident already resolved" in page
    assert "Acknowledge signal ignored: incident already resolved" in page
    # Firing again after all that is a new problem: a new incident.
    _send(client, webhook, service, "firing", "disk")
    drain.raw_events_drain(linger=0)
    statuses = list(Incident.objects.filter(dedup_id="disk").order_by("id").values_list("status"))
    assert statuses == [(Status.RESOLVED,), (Status.TRIGGERED,)]


@pytest.mark.django_db
def test_a_resolve_for_a_dedup_id_never_seen_opens_a_resolved_incident(
    client: Client, webhook: Webhook, service: Service
) -> None:
    """The spec's "otherwise a new incident" (§4): the sender's first word about it."""
    _send(client, webhook, service, "resolved", "never-seen")
    drain.raw_events_drain(linger=0)
    assert Incident.objects.get(dedup_id="never-seen").status == Status.RESOLVED


@pytest.mark.django_db
def test_an_event_waits_for_an_earlier_one_of_its_dedup_id_inside_its_batchs_range(
    client: Client, webhook: Webhook, service: Service
) -> None:
    """Two claims at once interleave their row locks (SKIP LOCKED): one drain can hold the
    first firing and the resolve while another holds the second firing between them. The
    resolve must wait for that firing, or the firing opens a second incident after it (CI
    saw it with two workers draining one backlog)."""
    _send(client, webhook, service, "firing", "disk")
    between = _send(client, webhook, service, "firing", "disk")
    resolve = _send(client, webhook, service, "resolved", "disk")
    # Drain B claimed the second firing and ran its pipeline; it is slow to go on.
    RawEvent.objects.filter(pk=between).update(claimed_at=timezone.now())
    (held_by_b,) = drain.raw_events_prepare([between])
    # Drain A claims the rest: the first firing goes through, the resolve waits for B's event.
    assert drain.raw_events_drain(linger=0, patience=0) == 1
    assert RawEvent.objects.get(pk=resolve).status == RawEventStatus.PENDING
    assert drain.raw_event_ingest(held_by_b) is True
    assert drain.raw_events_drain(linger=0) == 1

    (incident,) = Incident.objects.filter(dedup_id="disk")
    assert incident.status == Status.RESOLVED
    assert RawEvent.objects.filter(incident=incident).count() == 3
