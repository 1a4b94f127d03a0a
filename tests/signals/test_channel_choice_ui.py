"""Webhooks choosing a receive channel in the UI, the refused channel delete, and trying a
stored raw event with another channel or template (which creates and changes nothing)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from incidents.models import Incident, IncidentEvent
from opsduty.models import Organization
from processing.models import ReceiveChannel
from signals.models import RawEvent, RawEventStatus, Webhook
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def channel(org_a: Organization) -> ReceiveChannel:
    return factories.make_receive_channel(
        organization=org_a, name="Mine", overrides={"summary": "mine: {{ payload.title }}"}
    )


@pytest.fixture
def foreign_channel(org_b: Organization) -> ReceiveChannel:
    return factories.make_receive_channel(organization=org_b, name="Foreign channel")


def _form(**overrides: Any) -> dict[str, Any]:
    data = {"name": "Prom", "enabled": "on", "source": "builtin:generic"}
    return {**data, "rate_limit_per_minute": "300", **overrides}


# --- choosing a channel ---------------------------------------------------------------------


def test_owner_creates_a_webhook_reading_with_an_org_channel(
    channel: ReceiveChannel, foreign_channel: ReceiveChannel, owner_client: Client
) -> None:
    page = owner_client.get("/webhooks/new/").content.decode()
    assert f'<option value="channel:{channel.pk}">Channel: Mine</option>' in page
    assert '<option value="builtin:checkly">Built-in: Checkly</option>' in page
    assert "Foreign channel" not in page
    response = owner_client.post("/webhooks/new/", _form(source=f"channel:{channel.pk}"))
    assert response.status_code == 302
    webhook = Webhook.objects.get(name="Prom")
    assert (webhook.receive_channel_id, webhook.builtin_template) == (channel.pk, "generic")
    detail = owner_client.get(f"/webhooks/{webhook.pk}/").content.decode()
    assert f'<a href="/receive-channels/{channel.pk}/debug/">Mine</a>' in detail
    listing = owner_client.get("/webhooks/").content.decode()
    assert '<td data-label="Receive channel">Channel: Mine</td>' in listing


def test_another_organizations_channel_is_refused_with_422(
    foreign_channel: ReceiveChannel, owner_client: Client
) -> None:
    response = owner_client.post("/webhooks/new/", _form(source=f"channel:{foreign_channel.pk}"))
    assert response.status_code == 422
    assert "Select a valid choice." in response.content.decode()
    assert not Webhook.objects.exists()


def test_edit_shows_the_channel_and_switches_back_to_a_builtin(
    channel: ReceiveChannel, org_a: Organization, owner_client: Client
) -> None:
    webhook = factories.make_webhook(organization=org_a, name="Prom", receive_channel=channel)
    page = owner_client.get(f"/webhooks/{webhook.pk}/edit/").content.decode()
    assert f'<option value="channel:{channel.pk}" selected>Channel: Mine</option>' in page
    response = owner_client.post(f"/webhooks/{webhook.pk}/edit/", _form(source="builtin:sentry"))
    assert response.status_code == 302
    webhook.refresh_from_db()
    assert (webhook.receive_channel_id, webhook.builtin_template) == (None, "sentry")
    listing = owner_client.get("/webhooks/").content.decode()
    assert '<td data-label="Receive channel">Built-in: Sentry</td>' in listing


def test_deleting_a_channel_in_use_is_refused_with_422(
    channel: ReceiveChannel, org_a: Organization, owner_client: Client
) -> None:
    webhook = factories.make_webhook(organization=org_a, name="Prom", receive_channel=channel)
    confirm = owner_client.get(f"/receive-channels/{channel.pk}/delete/").content.decode()
    assert f'href="/webhooks/{webhook.pk}/edit/">Prom</a>' in confirm
    response = owner_client.post(f"/receive-channels/{channel.pk}/delete/")
    assert response.status_code == 422
    assert "is used by the webhook “Prom”" in response.content.decode()
    assert ReceiveChannel.objects.filter(pk=channel.pk).exists()
    factories.make_webhook(organization=org_a, name="Other")  # unrelated: no effect
    webhook.delete()
    response = owner_client.post(f"/receive-channels/{channel.pk}/delete/")
    assert response.status_code == 302
    assert not ReceiveChannel.objects.filter(pk=channel.pk).exists()


# --- trying a raw event ---------------------------------------------------------------------


@pytest.fixture
def raw(org_a: Organization, channel: ReceiveChannel) -> RawEvent:
    webhook = factories.make_webhook(organization=org_a, name="Prom", receive_channel=channel)
    return factories.make_raw_event(
        organization=org_a,
        webhook=webhook,
        body={"title": "Disk full", "dedup_id": "disk-1"},
        status=RawEventStatus.FAILED,
        error="No service",
        attempts=2,
    )


def _snapshot(raw: RawEvent) -> tuple[Any, ...]:
    fresh = RawEvent.objects.get(pk=raw.pk)
    return (
        fresh.status,
        fresh.error,
        fresh.attempts,
        fresh.result,
        fresh.body,
        fresh.processed_at,
        fresh.incident_id,
    )


def test_detail_offers_the_webhooks_own_channel_builtins_and_org_channels(
    raw: RawEvent, channel: ReceiveChannel, foreign_channel: ReceiveChannel, owner_client: Client
) -> None:
    page = owner_client.get(f"/raw-events/{raw.pk}/").content.decode()
    assert f'hx-post="/raw-events/{raw.pk}/try/"' in page
    assert '<option value="" selected>The webhook&#x27;s own: Channel: Mine</option>' in page
    assert f'<option value="channel:{channel.pk}">Channel: Mine</option>' in page
    assert '<option value="builtin:sentry">Built-in: Sentry</option>' in page
    assert "Foreign channel" not in page


@pytest.mark.parametrize(
    ("source", "summary", "label"),
    [
        ("", "mine: Disk full", "receive channel “Mine”"),
        ("builtin:generic", "Disk full", "built-in template “generic”"),
    ],
)
def test_trying_renders_with_the_choice_and_creates_nothing(
    raw: RawEvent, owner_client: Client, source: str, summary: str, label: str
) -> None:
    before = _snapshot(raw)
    response = owner_client.post(f"/raw-events/{raw.pk}/try/", {"source": source})
    content = response.content.decode()
    assert response.status_code == 200
    assert f"Rendered with the {label}; nothing was created." in content
    row = f'data-label="Field">summary</th><td data-label="Value"><code>{summary}</code>'
    assert row in content
    assert "<h1>Raw event" in content  # a plain POST answers the whole page
    assert not Incident.objects.exists() and not IncidentEvent.objects.exists()
    assert _snapshot(raw) == before


def test_trying_with_htmx_answers_the_result_fragment(
    raw: RawEvent, channel: ReceiveChannel, owner_client: Client
) -> None:
    response = owner_client.post(
        f"/raw-events/{raw.pk}/try/",
        {"source": f"channel:{channel.pk}"},
        HTTP_HX_REQUEST="true",
    )
    content = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in content and "<h1>" not in content
    assert 'id="debug-result"' in content and "mine: Disk full" in content
    assert not Incident.objects.exists()


def test_trying_with_a_foreign_channel_is_refused(
    raw: RawEvent, foreign_channel: ReceiveChannel, owner_client: Client
) -> None:
    before = _snapshot(raw)
    bad = {"source": f"channel:{foreign_channel.pk}"}
    response = owner_client.post(f"/raw-events/{raw.pk}/try/", bad)
    assert response.status_code == 422
    assert "Select a valid choice." in response.content.decode()
    fragment = owner_client.post(f"/raw-events/{raw.pk}/try/", bad, HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200  # htmx swaps only 2xx: the fragment carries the error
    assert 'role="alert">Select a valid choice.' in fragment.content.decode()
    assert _snapshot(raw) == before


def test_trying_is_for_owners_of_the_organization(
    raw: RawEvent, member_client: Client, stakeholder_client: Client, outsider_client: Client
) -> None:
    assert member_client.post(f"/raw-events/{raw.pk}/try/", {"source": ""}).status_code == 403
    assert stakeholder_client.post(f"/raw-events/{raw.pk}/try/", {"source": ""}).status_code == 403
    assert outsider_client.post(f"/raw-events/{raw.pk}/try/", {"source": ""}).status_code == 404
    assert outsider_client.post("/raw-events/999999/try/", {"source": ""}).status_code == 404
