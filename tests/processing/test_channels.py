"""The renderer: overrides and clearing, interpretation of each field, errors never lose the
event, EventData, and the debugger service."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from incidents.ingest.services import ingest_event
from incidents.models import Incident
from processing.channels.builtin_templates import ALERTMANAGER, GENERIC
from processing.channels.rendering import (
    FIELDS,
    MAX_LABELS,
    PayloadError,
    UnknownTemplateError,
    channel_debug,
    channel_debug_payload,
    channel_render,
    channel_templates,
)
from processing.models import ReceiveChannel
from tests import factories


def render_with(payload: Any = None, **templates: str) -> Any:
    base = channel_templates(channel=None, builtin="generic")
    return channel_render(templates={**base, **templates}, payload=payload or {})


# --- templates and overrides ----------------------------------------------------------------


def test_templates_of_a_builtin_and_the_generic_default() -> None:
    assert channel_templates(channel=None, builtin="alertmanager") == ALERTMANAGER
    assert channel_templates(channel=None, builtin=None) == GENERIC
    with pytest.raises(UnknownTemplateError):
        channel_templates(channel=None, builtin="nagios")


def test_channel_overrides_replace_only_their_fields() -> None:
    channel = ReceiveChannel(
        base_template="alertmanager",
        summary_template="{{ payload.commonLabels.alertname }} on {{ payload.receiver }}",
        urgency_template="",  # empty = not overridden
        labels_template=None,
    )
    templates = channel_templates(channel=channel, builtin=None)
    assert templates["summary"] == "{{ payload.commonLabels.alertname }} on {{ payload.receiver }}"
    for field in FIELDS:
        if field != "summary":
            assert templates[field] == ALERTMANAGER[field], field
    # A built-in given explicitly replaces the channel's base, overrides stay on top.
    other = channel_templates(channel=channel, builtin="generic")
    assert other["summary"] == templates["summary"] and other["dedup_id"] == GENERIC["dedup_id"]


@pytest.mark.django_db
def test_clearing_an_override_reverts_to_the_builtin(org_a: Any, owner: Any) -> None:
    from processing.channels.services import receive_channel_update

    channel = factories.make_receive_channel(
        organization=org_a, base_template="generic", overrides={"summary": "Fixed {{ 1 + 1 }}"}
    )
    payload = {"title": "From the payload"}
    first = channel_render(
        templates=channel_templates(channel=channel, builtin=None), payload=payload
    )
    assert first.summary == "Fixed 2"
    receive_channel_update(
        channel=channel,
        by=owner,
        name=channel.name,
        description="",
        base_template="generic",
        overrides={"summary": "  "},
    )
    channel.refresh_from_db()
    assert channel.summary_template is None
    templates = channel_templates(channel=channel, builtin=None)
    assert channel_render(templates=templates, payload=payload).summary == "From the payload"


# --- interpretation -------------------------------------------------------------------------


def test_signals_use_truthy_text() -> None:
    event = render_with(acknowledge=" Yes ", resolve="{{ payload.done }}")
    assert event.acknowledge is True and event.resolve is False
    assert render_with({"done": True}, resolve="{{ payload.done }}").resolve is True
    assert render_with({"done": "nope"}, resolve="{{ payload.done }}").resolve is False


@pytest.mark.parametrize(
    ("text", "urgency", "error"),
    [("LOW", "low", False), ("high", "high", False), ("", "high", False), ("urgent", "high", True)],
)
def test_urgency_text(text: str, urgency: str, error: bool) -> None:
    event = render_with(urgency=text)
    assert event.urgency == urgency
    assert ("urgency" in event.errors) is error


def test_labels_split_trim_dedupe_and_bound() -> None:
    event = render_with(labels="a, b\n\n c ,a,," + "x" * 100)
    assert event.labels == ["a", "b", "c", "x" * 64]
    many = render_with(labels=",".join(f"l{i}" for i in range(50)))
    assert many.labels == [f"l{i}" for i in range(MAX_LABELS)]


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "ftp://example.com/x", "example.com/x", "https://", "http://a b"]
)
def test_non_http_source_url_is_dropped_with_an_error(url: str) -> None:
    event = render_with({"u": url}, source_url="{{ payload.u }}")
    assert event.source_url == ""
    assert "source_url" in event.errors


def test_http_source_url_is_kept() -> None:
    event = render_with(source_url=" HTTPS://example.com/a?b=1 ")
    assert event.source_url == "HTTPS://example.com/a?b=1"
    assert event.errors == {}


def test_long_dedup_id_becomes_a_digest_not_a_cut() -> None:
    a = render_with({"id": "x" * 300 + "a"}).dedup_id
    b = render_with({"id": "x" * 300 + "b"}).dedup_id
    assert a != b and a.startswith("sha256:") and len(a) <= 255


def test_summary_is_one_line_and_bounded() -> None:
    assert render_with(summary="  a\n  b  ").summary == "a b"
    assert len(render_with(summary="{{ 'y' * 5000 }}").summary) == 1024


# --- errors never lose the event ------------------------------------------------------------


def test_a_failing_summary_falls_back_and_records_the_error() -> None:
    event = render_with({"a": 1}, summary="{{ payload.a.b.c }}")
    assert event.summary.startswith("Event without summary (Template error: ")
    assert "summary" in event.errors
    assert event.raw["summary"] == ""
    # The other fields still rendered.
    assert event.urgency == "high" and event.dedup_id == ""


def test_an_empty_summary_falls_back_without_an_error() -> None:
    event = render_with(summary="{{ '' }}")
    assert event.summary == "Event without summary"
    assert "summary" not in event.errors


def test_errors_in_every_field_still_give_an_event() -> None:
    broken = dict.fromkeys(FIELDS, "{{ 1 / 0 }}")
    event = channel_render(templates=broken, payload={"x": 1})
    assert set(event.errors) == set(FIELDS)
    assert all("ZeroDivisionError" in message for message in event.errors.values())
    assert event.summary.startswith("Event without summary (Template error: ZeroDivisionError")
    assert (event.acknowledge, event.resolve, event.urgency) == (False, False, "high")
    assert event.labels == [] and event.source_url == "" and event.description == ""


def test_a_template_over_the_time_limit_is_an_error_not_a_hang() -> None:
    slow = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
    event = render_with({"title": "Still here"}, description=slow)
    assert "too long" in event.errors["description"] or "longer" in event.errors["description"]
    assert event.summary == "Still here" and event.description == ""


def test_a_non_object_payload_renders_through_the_generic_template() -> None:
    templates = channel_templates(channel=None, builtin=None)
    event = channel_render(templates=templates, payload=["a", 1])
    assert event.errors == {}
    assert event.summary == '["a", 1]'


@pytest.mark.django_db
def test_event_data_feeds_ingest_event(org_a: Any) -> None:
    service = factories.make_service(organization=org_a)
    templates = channel_templates(channel=None, builtin="generic")
    payload = {"title": "Disk full", "id": "disk-1", "severity": "low", "tags": ["db"]}
    received = datetime(2024, 5, 15, 8, 0, tzinfo=UTC)
    event = channel_render(templates=templates, payload=payload)
    incident = ingest_event(service=service, event=event.event_data(payload, received))
    incident = Incident.objects.get(pk=incident.pk)
    assert (incident.summary, incident.dedup_id, incident.urgency) == ("Disk full", "disk-1", "low")
    assert list(incident.labels.values_list("name", flat=True)) == ["db"]
    stored = incident.events.get()
    assert stored.payload == payload and stored.received_at == received
    # Resolving event with the same dedup id resolves the incident.
    closing = channel_render(templates=templates, payload={**payload, "status": "resolved"})
    ingest_event(service=service, event=closing.event_data(payload, None))
    incident.refresh_from_db()
    assert incident.status == "resolved"


@pytest.mark.django_db
def test_rendering_touches_no_database(org_a: Any, django_assert_num_queries: Any) -> None:
    channel = factories.make_receive_channel(
        organization=org_a, base_template="sentry", overrides={"urgency": "low"}
    )
    templates = channel_templates(channel=channel, builtin=None)
    with django_assert_num_queries(0):
        for _ in range(3):
            event = channel_render(templates=templates, payload={"data": {"issue": {"id": 1}}})
    assert (event.dedup_id, event.urgency) == ("sentry-1", "low")


def test_as_dict_is_json() -> None:
    event = render_with({"title": "t"}, urgency="nope")
    data = json.loads(json.dumps(event.as_dict()))
    assert data["summary"] == "t" and data["errors"]["urgency"] and data["raw"]["urgency"] == "nope"


# --- debugger -------------------------------------------------------------------------------


def test_debug_renders_every_field_and_the_event() -> None:
    templates = channel_templates(channel=None, builtin="generic")
    result = channel_debug(templates=templates, payload_text='{"title": "Hi", "severity": "low"}')
    assert [row.name for row in result.rows] == list(FIELDS)
    assert result.rows[0].template == GENERIC["summary"] and result.rows[0].rendered == "Hi"
    body = result.as_dict()
    assert body["fields"]["summary"] == "Hi" and body["fields"]["urgency"] == "low"
    assert body["errors"] == {}
    assert body["event"]["summary"] == "Hi" and body["event"]["urgency"] == "low"
    assert set(body["event"]) == {
        "summary",
        "dedup_id",
        "description",
        "source_url",
        "urgency",
        "acknowledge",
        "resolve",
        "labels",
    }


def test_debug_reports_errors_per_field() -> None:
    templates = {**channel_templates(channel=None, builtin=None), "dedup_id": "{{ payload.a.b }}"}
    result = channel_debug_payload(templates=templates, payload={"title": "x"})
    row = next(r for r in result.rows if r.name == "dedup_id")
    assert row.error.startswith("Template error") and row.rendered == ""
    assert result.errors == {"dedup_id": row.error}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object, not list"),
        ("null", "must be a JSON object, not null"),
        ('"text"', "must be a JSON object, not str"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_debug_refuses_what_is_not_a_json_object(text: str, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        channel_debug(templates={}, payload_text=text)


@pytest.mark.django_db
def test_debug_creates_nothing(org_a: Any) -> None:
    channel = factories.make_receive_channel(organization=org_a)
    before = ReceiveChannel.objects.count(), Incident.objects.count()
    channel_debug(templates=channel_templates(channel=channel, builtin=None), payload_text="{}")
    assert (ReceiveChannel.objects.count(), Incident.objects.count()) == before
