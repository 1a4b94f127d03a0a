"""API v1 `POST raw-events/{id}/debug/`: the webhook's own channel, another channel or a
built-in, nothing created or changed; 403 for non-owners, 404 foreign/unknown, 422 input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from incidents.models import Incident, IncidentEvent
from opsduty.models import Organization, User
from processing.models import ReceiveChannel
from signals.models import RawEvent, RawEventStatus
from tests import factories
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db


def url(raw: RawEvent | int) -> str:
    return f"/api/v1/raw-events/{raw if isinstance(raw, int) else raw.pk}/debug/"


def post(client: Client, path: str, body: Any) -> tuple[int, Any]:
    raw = body if isinstance(body, str) else json.dumps(body)
    response = client.post(path, raw, content_type="application/json")
    assert response["Content-Type"].startswith("application/json")
    return response.status_code, json.loads(response.content)


@pytest.fixture
def channel(org_a: Organization) -> ReceiveChannel:
    return factories.make_receive_channel(
        organization=org_a,
        name="Mine",
        overrides={"summary": "mine: {{ payload.title }}", "urgency": "low"},
    )


@pytest.fixture
def raw(org_a: Organization, channel: ReceiveChannel) -> RawEvent:
    webhook = factories.make_webhook(organization=org_a, name="Prom", receive_channel=channel)
    return factories.make_raw_event(
        organization=org_a,
        webhook=webhook,
        body={"title": "Disk full", "dedup_id": "disk-1", "message": "m"},
        status=RawEventStatus.FAILED,
        error="No service",
    )


def _unchanged(raw: RawEvent) -> bool:
    fresh = RawEvent.objects.get(pk=raw.pk)
    fields = ("status", "error", "attempts", "result", "body", "processed_at", "incident_id")
    return all(getattr(fresh, name) == getattr(raw, name) for name in fields)


@pytest.mark.parametrize("body", [{}, {"channel": None, "template": None}])
def test_both_null_use_the_webhooks_own_channel(
    raw: RawEvent, owner_api: Client, body: dict[str, Any]
) -> None:
    status, answer = post(owner_api, url(raw), body)
    assert status == 200
    assert set(answer) == {"fields", "errors", "event"}
    assert answer["fields"]["summary"] == "mine: Disk full"
    assert (answer["event"]["summary"], answer["event"]["urgency"]) == ("mine: Disk full", "low")
    assert answer["event"]["dedup_id"] == "disk-1"
    assert answer["errors"] == {}
    assert not Incident.objects.exists() and not IncidentEvent.objects.exists()
    assert _unchanged(raw)


def test_a_builtin_or_another_channel_replaces_the_webhooks_own(
    raw: RawEvent, org_a: Organization, owner_api: Client
) -> None:
    status, answer = post(owner_api, url(raw), {"template": "generic"})
    assert status == 200
    assert (answer["event"]["summary"], answer["event"]["urgency"]) == ("Disk full", "high")
    other = factories.make_receive_channel(
        organization=org_a, name="Other", overrides={"summary": "other {{ payload.message }}"}
    )
    status, answer = post(owner_api, url(raw), {"channel": other.pk, "template": None})
    assert status == 200
    assert answer["event"]["summary"] == "other m"
    assert not Incident.objects.exists() and not IncidentEvent.objects.exists()
    assert _unchanged(raw)


def test_a_raw_event_of_a_deleted_webhook_uses_the_generic_template(
    org_a: Organization, owner_api: Client
) -> None:
    orphan = factories.make_raw_event(organization=org_a, webhook=None, body={"title": "Hi"})
    status, answer = post(owner_api, url(orphan), {})
    assert status == 200
    assert answer["event"]["summary"] == "Hi"


def test_only_owners_may_try_raw_events(raw: RawEvent, member: User, stakeholder: User) -> None:
    for user in (member, stakeholder):
        status, answer = post(api_client_for(user), url(raw), {})
        assert status == 403
        assert isinstance(answer["detail"], str)


def test_foreign_and_unknown_raw_events_answer_404(
    org_b: Organization, owner_api: Client, outsider_api: Client, raw: RawEvent
) -> None:
    foreign = factories.make_raw_event(organization=org_b)
    assert post(owner_api, url(foreign), {}) == (404, {"detail": "Not found."})
    assert post(owner_api, url(99_999_999), {}) == (404, {"detail": "Not found."})
    assert post(outsider_api, url(raw), {}) == (404, {"detail": "Not found."})


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"template": "nagios"}, ["body", "template"]),
        ({"channel": "abc"}, ["body", "channel"]),
        ({"channel": 1, "template": "generic"}, ["body"]),
        ("[1, 2]", ["body"]),
        ("{not json", ["body"]),
    ],
)
def test_bad_input_answers_422(raw: RawEvent, owner_api: Client, body: Any, loc: list[str]) -> None:
    status, answer = post(owner_api, url(raw), body)
    assert status == 422
    assert [item["loc"] for item in answer["detail"]][0] == loc
    assert _unchanged(raw)


def test_a_channel_of_another_organization_answers_422(
    raw: RawEvent, org_b: Organization, owner_api: Client
) -> None:
    foreign = factories.make_receive_channel(organization=org_b, name="Foreign")
    for channel_id in (foreign.pk, 99_999_999):
        status, answer = post(owner_api, url(raw), {"channel": channel_id})
        assert status == 422
        assert answer["detail"][0]["loc"] == ["body", "channel"]
        assert "No receive channel of this organization" in answer["detail"][0]["msg"]
