"""The webhook receiver: 202 only once stored, every error status, WSGI fast path, tenancy."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.test import Client

from opsduty.models import Organization, Service
from signals.models import IncidentReference, RawEvent, RawEventStatus, ReferenceStatus, Webhook
from signals.receiver import ingest
from tests import factories
from tests.signals.conftest import url

pytestmark = pytest.mark.django_db

ALERT = {"title": "Disk full on db-1", "dedup_id": "disk-db-1", "labels": {"host": "db-1"}}


def _post(client: Client, path: str, body: Any = ALERT, **extra: Any) -> Any:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    extra.setdefault("content_type", "application/json")
    return client.post(path, data=data, **extra)


def test_accepted_event_is_stored_before_the_answer(
    client: Client, webhook: Webhook, service: Service
) -> None:
    response = _post(client, url(webhook, service.routing_key), HTTP_USER_AGENT="Alertmanager/0.27")
    assert response.status_code == 202
    reference_id = response.json()["id"]
    raw = RawEvent.objects.get(reference__public_id=reference_id)
    assert raw.body == ALERT
    assert raw.status == RawEventStatus.PENDING
    assert raw.webhook_id == webhook.pk
    assert raw.organization_id == webhook.organization_id
    assert raw.routing_key == service.routing_key
    assert raw.headers["user-agent"] == "Alertmanager/0.27"
    assert raw.reference.status == ReferenceStatus.PENDING


def test_trailing_slash_works_too(client: Client, webhook: Webhook, service: Service) -> None:
    assert _post(client, url(webhook, service.routing_key) + "/").status_code == 202


def test_reference_is_visible_through_the_api_while_pending(
    client: Client, webhook: Webhook, service: Service, owner_api: Client
) -> None:
    reference_id = _post(client, url(webhook, service.routing_key)).json()["id"]
    answer = owner_api.get(f"/api/v1/incidents/incident-reference/{reference_id}/").json()
    assert answer["status"] == "pending"
    assert answer["incident_group"] is None


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        ("not json", "application/json", 400, "not valid JSON"),
        ("[1, 2]", "application/json", 400, "JSON object"),
        ('"text"', "application/json", 400, "JSON object"),
        (json.dumps(ALERT), "text/plain", 415, "Content-Type: application/json"),
        ("a=b", "application/x-www-form-urlencoded", 415, "Content-Type: application/json"),
    ],
)
def test_bad_bodies_are_refused_and_nothing_is_stored(
    client: Client,
    webhook: Webhook,
    service: Service,
    body: str,
    content_type: str,
    status: int,
    message: str,
) -> None:
    response = _post(client, url(webhook, service.routing_key), body, content_type=content_type)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert message in response.json()["detail"]
    assert not RawEvent.objects.exists()


def test_json_content_type_with_charset_and_suffix_is_accepted(
    client: Client, webhook: Webhook, service: Service
) -> None:
    path = url(webhook, service.routing_key)
    assert _post(client, path, content_type="application/json; charset=utf-8").status_code == 202
    assert _post(client, path, content_type="application/vnd.sentry+json").status_code == 202


def test_body_over_512_kb_is_refused(client: Client, webhook: Webhook, service: Service) -> None:
    big = {"blob": "x" * (512 * 1024)}
    response = _post(client, url(webhook, service.routing_key), big)
    assert response.status_code == 413
    assert "512 KB" in response.json()["detail"]
    assert not RawEvent.objects.exists()


def test_unknown_webhook_and_routing_key_are_404(
    client: Client, webhook: Webhook, service: Service
) -> None:
    unknown = "/integrations/webhooks/enque/event/0b7d3d3c-5b5c-4a3e-9a5a-8c2f4d1e0a11/"
    assert _post(client, unknown + service.routing_key).status_code == 404
    assert _post(client, "/integrations/webhooks/enque/event/not-a-uuid/x").status_code == 404
    response = _post(client, url(webhook, "no-such-key"))
    assert response.status_code == 404
    assert "routing key" in response.json()["detail"]
    assert not RawEvent.objects.exists()


def test_routing_key_of_another_organization_is_404(
    client: Client, webhook: Webhook, org_b: Organization
) -> None:
    foreign = factories.make_service(team=factories.make_team(organization=org_b))
    assert _post(client, url(webhook, foreign.routing_key)).status_code == 404
    assert not RawEvent.objects.exists()


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
def test_other_methods_are_405(
    client: Client, webhook: Webhook, service: Service, method: str
) -> None:
    response = getattr(client, method)(url(webhook, service.routing_key))
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json()["detail"]


def test_rate_limit_answers_429_with_retry_after(
    client: Client, webhook: Webhook, service: Service
) -> None:
    webhook.rate_limit_per_minute = 3
    webhook.save()
    path = url(webhook, service.routing_key)
    assert [_post(client, path).status_code for _ in range(3)] == [202, 202, 202]
    refused = _post(client, path)
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "Rate limit of 3" in refused.json()["detail"]
    assert RawEvent.objects.count() == 3


def test_rate_limit_is_per_webhook(
    client: Client, webhook: Webhook, service: Service, org_a: Organization
) -> None:
    webhook.rate_limit_per_minute = 1
    webhook.save()
    other = Webhook.objects.create(organization=org_a, name="Other", rate_limit_per_minute=1)
    assert _post(client, url(webhook, service.routing_key)).status_code == 202
    assert _post(client, url(webhook, service.routing_key)).status_code == 429
    assert _post(client, url(other, service.routing_key)).status_code == 202


def test_disabled_webhook_stores_the_event_as_rejected(
    client: Client, webhook: Webhook, service: Service
) -> None:
    webhook.enabled = False
    webhook.save()
    response = _post(client, url(webhook, service.routing_key))
    assert response.status_code == 202
    assert response.json()["status"] == "stopped"
    assert "disabled" in response.json()["detail"]
    raw = RawEvent.objects.get()
    assert raw.status == RawEventStatus.REJECTED
    assert raw.reference.status == ReferenceStatus.STOPPED


def test_nul_characters_are_kept_as_replacement_characters(
    client: Client, webhook: Webhook, service: Service
) -> None:
    response = _post(client, url(webhook, service.routing_key), '{"title": "a\\u0000b"}')
    assert response.status_code == 202
    assert RawEvent.objects.get().body == {"title": "a\ufffdb"}


def test_big_numbers_keep_their_precision(
    client: Client, webhook: Webhook, service: Service
) -> None:
    body = '{"id": 123456789012345678901234567890}'
    assert _post(client, url(webhook, service.routing_key), body).status_code == 202
    assert RawEvent.objects.get().body == {"id": 123456789012345678901234567890}


def _wsgi(
    method: str, path: str, body: bytes, content_type: str
) -> tuple[str, dict[str, str], Any]:
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        captured["status"] = status
        captured["headers"] = dict(headers)

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_USER_AGENT": "curl/8",
    }
    from opsduty.wsgi import application

    content = b"".join(application(environ, start_response))
    return captured["status"], captured["headers"], json.loads(content)


def test_wsgi_fast_path_accepts_and_refuses_like_the_view(
    webhook: Webhook, service: Service
) -> None:
    path = url(webhook, service.routing_key)
    body = json.dumps(ALERT).encode()
    status, headers, answer = _wsgi("POST", path, body, "application/json")
    assert status == "202 Accepted"
    assert headers["Content-Type"] == "application/json"
    raw = RawEvent.objects.get(reference__public_id=answer["id"])
    assert raw.headers["user-agent"] == "curl/8"
    assert raw.headers["remote-addr"] == "127.0.0.1"
    assert _wsgi("GET", path, b"", "")[0] == "405 Method Not Allowed"
    assert _wsgi("POST", path, b"[]", "application/json")[0] == "400 Bad Request"
    assert _wsgi("POST", path, b"", "application/json")[0] == "400 Bad Request"
    assert _wsgi("POST", path, body, "text/plain")[0] == "415 Unsupported Media Type"
    assert _wsgi("POST", url(webhook, "nope"), body, "application/json")[0] == "404 Not Found"
    assert _wsgi("POST", ingest.PREFIX + "only-one-part", body, "application/json")[0] == (
        "404 Not Found"
    )
    assert RawEvent.objects.count() == 1


def test_reference_row_is_created_with_the_raw_event(
    client: Client, webhook: Webhook, service: Service
) -> None:
    _post(client, url(webhook, service.routing_key))
    assert IncidentReference.objects.count() == 1
    assert IncidentReference.objects.get().organization_id == webhook.organization_id


def test_high_limits_are_counted_in_batches_without_overshooting_in_one_process(
    webhook: Webhook,
) -> None:
    limit = ingest.EXACT_UP_TO + 100
    info = ingest.WebhookInfo(webhook.pk, webhook.organization_id, True, limit)
    now = 1_800_000_000.0  # the start of a minute window
    decisions = [ingest._rate_limited(info, now + n * 0.001) for n in range(limit + 50)]
    assert decisions[:limit] == [0] * limit
    assert all(wait > 0 for wait in decisions[limit:])
    # A new minute starts from zero again.
    assert ingest._rate_limited(info, now + 60) == 0
