"""API v1 receive channels: the paged list and the debugger (200, 422, 404, 403)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from incidents.models import Incident
from opsduty.models import Organization, User
from processing.channels.rendering import FIELDS
from processing.models import ReceiveChannel
from tests import factories
from tests.api.conftest import get_json
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/receive-channels/debug/"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "receive_channels"


def post(client: Client, body: Any) -> tuple[int, Any]:
    raw = body if isinstance(body, str) else json.dumps(body)
    response = client.post(URL, raw, content_type="application/json")
    assert response["Content-Type"].startswith("application/json")
    return response.status_code, json.loads(response.content)


def test_list_pages_the_organizations_channels(
    org_a: Organization, org_b: Organization, owner_api: Client
) -> None:
    mine = [
        factories.make_receive_channel(organization=org_a, name=f"C{i}", base_template="sentry")
        for i in range(3)
    ]
    factories.make_receive_channel(organization=org_b, name="Foreign")
    status, body = get_json(owner_api, "/api/v1/receive-channels/", first=2)
    assert status == 200
    assert [item["name"] for item in body["items"]] == ["C0", "C1"]
    assert body["items"][0] == {
        "id": mine[0].pk,
        "name": "C0",
        "description": "",
        "base_template": "sentry",
        "overrides": {},
    }
    assert body["page_info"]["has_next_page"] is True
    status, body = get_json(
        owner_api, "/api/v1/receive-channels/", after=body["page_info"]["end_cursor"]
    )
    assert [item["name"] for item in body["items"]] == ["C2"]


def test_debug_a_builtin_with_a_real_payload(owner_api: Client) -> None:
    payload = json.loads((FIXTURES / "sentry" / "issue_resolved.json").read_text())
    status, body = post(owner_api, {"template": "sentry", "payload": payload})
    assert status == 200
    assert body["errors"] == {}
    assert body["fields"]["resolve"] == "True"
    assert body["event"] == {
        "summary": "TypeError: Cannot read properties of undefined (reading 'token')",
        "dedup_id": "sentry-4512388841",
        "description": body["fields"]["description"].strip(),
        "source_url": "https://sentry.io/organizations/acme/issues/4512388841/",
        "urgency": "high",
        "acknowledge": False,
        "resolve": True,
        "labels": ["project=checkout-web"],
    }


def test_debug_the_grafana_builtin_with_grafanas_example(owner_api: Client) -> None:
    payload = json.loads((FIXTURES / "grafana" / "resolved.json").read_text())
    status, body = post(owner_api, {"template": "grafana", "payload": payload})
    assert status == 200, body
    assert body["errors"] == {}
    event = body["event"]
    assert (event["summary"], event["dedup_id"]) == ("High memory usage, High CPU usage", "{}:{}")
    assert (event["resolve"], event["urgency"], event["labels"]) == (True, "low", ["team=blue"])


def test_debug_a_channel_with_body_templates_on_top(org_a: Organization, owner_api: Client) -> None:
    channel = factories.make_receive_channel(
        organization=org_a, base_template="sentry", overrides={"urgency": "low"}
    )
    status, body = post(
        owner_api,
        {
            "channel": channel.pk,
            "template": None,
            "templates": {"summary": "[{{ payload.action }}] {{ payload.data.issue.shortId }}"},
            "payload": {"action": "created", "data": {"issue": {"id": "1", "shortId": "W-1"}}},
        },
    )
    assert status == 200, body
    assert body["event"]["summary"] == "[created] W-1"
    assert body["event"]["urgency"] == "low"  # the channel's override
    assert body["event"]["dedup_id"] == "sentry-1"  # the channel's base template
    assert Incident.objects.count() == 0 and ReceiveChannel.objects.count() == 1


def test_debug_reports_template_errors_in_200(owner_api: Client) -> None:
    status, body = post(
        owner_api, {"templates": {"summary": "{{ payload.x.y }}"}, "payload": {"a": 1}}
    )
    assert status == 200
    assert body["errors"]["summary"].startswith("Template error")
    assert body["event"]["summary"].startswith("Event without summary (Template error")
    assert body["fields"]["dedup_id"] == ""


@pytest.mark.parametrize(
    ("body", "loc", "message"),
    [
        ("{not json", ["body"], "JSON parse error"),
        ({"payload": [1, 2]}, ["body", "payload"], "must be a JSON object"),
        ({"payload": "text"}, ["body", "payload"], "must be a JSON object"),
        ({}, ["body", "payload"], "required"),
        ({"template": "nagios", "payload": {}}, ["body", "template"], "not a valid choice"),
        ({"channel": "abc", "payload": {}}, ["body", "channel"], "integer"),
        (
            {"templates": {"summary": "{{ x"}, "payload": {}},
            ["body", "templates", "summary"],
            "Template syntax error",
        ),
        # Found by the fuzzer: numbers were rendered as templates ("42").
        (
            {"templates": {"summary": 42}, "payload": {}},
            ["body", "templates", "summary"],
            "valid string",
        ),
        ({"payload": None}, ["body", "payload"], "may not be null"),
        (
            {"templates": {"colour": "x"}, "payload": {}},
            ["body", "templates", "colour"],
            "Unknown field",
        ),
    ],
)
def test_debug_bad_input_is_422(owner_api: Client, body: Any, loc: list[str], message: str) -> None:
    status, answer = post(owner_api, body)
    assert status == 422
    assert answer["detail"][0]["loc"] == loc
    assert message in answer["detail"][0]["msg"]
    assert answer["detail"][0]["type"] == "value_error"


def test_unknown_and_foreign_channels_answer_the_same_404(
    org_b: Organization, owner_api: Client
) -> None:
    foreign = factories.make_receive_channel(organization=org_b, overrides={"summary": "secret"})
    for channel_id in (foreign.pk, foreign.pk + 1000):
        status, body = post(owner_api, {"channel": channel_id, "payload": {}})
        assert (status, body) == (404, {"detail": "Not found."})


def test_stakeholders_and_anonymous_callers_are_refused(stakeholder: User) -> None:
    status, _ = post(api_client_for(stakeholder), {"payload": {}})
    assert status == 403
    status, _ = get_json(api_client_for(stakeholder), "/api/v1/receive-channels/")
    assert status == 403
    status, _ = post(Client(), {"payload": {}})
    assert status == 401


def test_members_may_debug(member: User) -> None:
    status, body = post(api_client_for(member), {"payload": {"title": "hi"}})
    assert (status, body["event"]["summary"]) == (200, "hi")


def test_openapi_documents_the_endpoints() -> None:
    schema = json.loads(Client().get("/api/v1/openapi.json").content)
    assert "post" in schema["paths"]["/api/v1/receive-channels/debug/"]
    assert "get" in schema["paths"]["/api/v1/receive-channels/"]


def test_the_document_says_what_the_debugger_takes() -> None:
    """The payload is a JSON object, templates a string per known field, nothing else."""
    document = json.loads(Client().get("/api/v1/openapi.json").content)
    body = document["components"]["schemas"]["DebugInputSchemaRequest"]["properties"]
    assert body["payload"] == {"type": "object", "additionalProperties": True}
    assert body["templates"]["additionalProperties"] is False
    assert set(body["templates"]["properties"]) == set(FIELDS)
    # An unknown `channel` answers 404, which the document did not list.
    debug = document["paths"]["/api/v1/receive-channels/debug/"]["post"]
    assert debug["responses"]["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorSchema"
    }
