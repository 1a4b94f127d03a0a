"""Each built-in template against the recorded payloads of its source: every field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from processing.channels.builtin_templates import BUILTIN_TEMPLATES
from processing.channels.rendering import FIELDS, RenderedEvent, channel_render, channel_templates
from processing.models import BaseTemplate
from processing.sandbox.environment import template_check

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "receive_channels"


def load(source: str, name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / source / f"{name}.json").read_text())
    return payload


def rendered(source: str, name: str) -> RenderedEvent:
    templates = channel_templates(channel=None, builtin=source)
    return channel_render(templates=templates, payload=load(source, name))


def test_every_builtin_defines_every_field_and_compiles() -> None:
    assert set(BUILTIN_TEMPLATES) == set(BaseTemplate.values)
    for key, templates in BUILTIN_TEMPLATES.items():
        assert set(templates) == set(FIELDS), key
        for source in templates.values():
            template_check(source)


def test_every_fixture_renders_without_errors() -> None:
    files = sorted(FIXTURES.glob("*/*.json"))
    assert len(files) >= 15
    for path in files:
        event = rendered(path.parent.name, path.stem)
        assert event.errors == {}, path


# --- Alertmanager ---------------------------------------------------------------------------

AM_GROUP_KEY = '{}/{severity="critical"}:{alertname="HighErrorRate"}'


def test_alertmanager_firing_group() -> None:
    event = rendered("alertmanager", "firing")
    assert event.summary == "HighErrorRate: High 5xx rate on the checkout API"
    assert event.dedup_id == AM_GROUP_KEY
    assert (event.resolve, event.acknowledge) == (False, False)
    assert event.urgency == "high"  # severity critical
    assert event.labels == [
        "alertname=HighErrorRate",
        "job=api",
        "service=checkout",
        "severity=critical",
    ]
    assert event.source_url == "http://alertmanager.example.com:9093"
    assert event.description == (
        "- [firing] High 5xx rate on the checkout API (api-1:9100), "
        "since 2024-05-15T08:00:03.123Z\n"
        "- [firing] High 5xx rate on the checkout API (api-2:9100), "
        "since 2024-05-15T08:00:33.456Z"
    )


def test_alertmanager_resolved_group_resolves_the_same_dedup_id() -> None:
    event = rendered("alertmanager", "resolved")
    assert event.resolve is True
    assert event.acknowledge is False
    assert event.dedup_id == AM_GROUP_KEY
    assert event.summary == "HighErrorRate: High 5xx rate on the checkout API"
    assert event.urgency == "high"
    assert event.source_url == "http://alertmanager.example.com:9093"
    assert "- [resolved] " in event.description


def test_alertmanager_warning_without_external_url_uses_generator_url() -> None:
    event = rendered("alertmanager", "firing_warning_single")
    # No commonAnnotations.summary: the single alert's summary is used.
    assert event.summary == ("DiskWillFillIn4Hours: Disk /dev/sda1 on db-3 fills up within 4 hours")
    assert event.urgency == "low"  # severity warning
    assert event.resolve is False
    assert event.dedup_id == '{}:{alertname="DiskWillFillIn4Hours"}'
    assert event.source_url.startswith("http://prometheus.example.com:9090/graph?g0.expr=")
    assert event.labels == [
        "alertname=DiskWillFillIn4Hours",
        "device=/dev/sda1",
        "instance=db-3:9100",
        "job=node",
        "severity=warning",
    ]


@pytest.mark.parametrize(
    ("severity", "urgency"),
    [("critical", "high"), ("HIGH", "high"), ("page", "high"), ("warning", "low"), (None, "low")],
)
def test_alertmanager_urgency_follows_severity(severity: str | None, urgency: str) -> None:
    payload = load("alertmanager", "firing")
    payload["commonLabels"].pop("severity")
    if severity is not None:
        payload["commonLabels"]["severity"] = severity
    templates = channel_templates(channel=None, builtin="alertmanager")
    assert channel_render(templates=templates, payload=payload).urgency == urgency


# --- Checkly --------------------------------------------------------------------------------

CHECK_ID = "c7e4f2a0-6f1c-4a5e-9d3b-2f8a1e9b7c44"


def test_checkly_failure() -> None:
    event = rendered("checkly", "failure")
    assert event.summary == "Checkout API health failed in Frankfurt"
    assert event.dedup_id == f"checkly-{CHECK_ID}"
    assert (event.resolve, event.acknowledge, event.urgency) == (False, False, "high")
    assert event.labels == ["checkout", "production", "check_type=API"]
    assert event.source_url == (
        f"https://app.checklyhq.com/checks/{CHECK_ID}/check-sessions/"
        "1d6e9a3f-0b2c-4e7d-8a51-6c3f2b9d0e17"
    )
    assert event.description.startswith("Assertion failed: status code 503 does not equal 200\n")
    assert "Response: 503 Service Unavailable" in event.description
    assert "Response time: 1542 ms" in event.description


def test_checkly_degraded_is_low_urgency() -> None:
    event = rendered("checkly", "degraded")
    assert event.summary == "Checkout API health is degraded in N. Virginia"
    assert event.dedup_id == f"checkly-{CHECK_ID}"
    assert (event.resolve, event.urgency) == (False, "low")
    assert event.labels == ["checkout", "production", "check_type=API"]
    assert event.source_url.endswith("/check-sessions/5a0b7c2d-9e1f-4a3b-8c6d-2e4f6a8b0c13")


def test_checkly_recovery_resolves_the_check() -> None:
    event = rendered("checkly", "recovery")
    assert event.summary == "Checkout API health recovered in Frankfurt"
    assert event.dedup_id == f"checkly-{CHECK_ID}"
    assert event.resolve is True
    assert event.urgency == "high"
    assert event.labels == ["checkout", "production", "check_type=API"]
    assert event.source_url.endswith("/check-sessions/9f3e1d7c-2b4a-4c6e-8d0f-1a3c5e7b9d24")


def test_checkly_without_link_points_at_the_check() -> None:
    payload = load("checkly", "failure")
    del payload["link"]
    templates = channel_templates(channel=None, builtin="checkly")
    event = channel_render(templates=templates, payload=payload)
    assert event.source_url == f"https://app.checklyhq.com/checks/{CHECK_ID}"


# --- Dead Man's Snitch ----------------------------------------------------------------------


def test_deadmanssnitch_missing() -> None:
    event = rendered("deadmanssnitch", "missing")
    assert event.summary == "Snitch Nightly billing export is missing (no check-in)"
    assert event.dedup_id == "snitch-c2354d53d2"
    assert (event.resolve, event.acknowledge, event.urgency) == (False, False, "high")
    assert event.labels == ["billing", "cron"]
    assert event.source_url == "https://deadmanssnitch.com/snitches/c2354d53d2"
    assert event.description == (
        "Runs at 02:00 UTC from cron on batch-1; see the runbook before re-running.\n\n"
        "Status: missing (was healthy)\nAt: 2024-05-15T08:05:00.000Z"
    )


def test_deadmanssnitch_errored() -> None:
    event = rendered("deadmanssnitch", "errored")
    assert event.summary == "Snitch Nightly billing export reported an error"
    assert event.dedup_id == "snitch-c2354d53d2"
    assert (event.resolve, event.urgency) == (False, "high")
    assert event.labels == ["billing", "cron"]
    assert event.source_url == "https://deadmanssnitch.com/snitches/c2354d53d2"


def test_deadmanssnitch_reporting_resolves() -> None:
    event = rendered("deadmanssnitch", "reporting")
    assert event.summary == "Snitch Nightly billing export is reporting again"
    assert event.dedup_id == "snitch-c2354d53d2"
    assert event.resolve is True
    assert event.urgency == "high"
    assert event.labels == ["billing", "cron"]
    assert event.source_url == "https://deadmanssnitch.com/snitches/c2354d53d2"


# --- Sentry ---------------------------------------------------------------------------------

SENTRY_TITLE = "TypeError: Cannot read properties of undefined (reading 'token')"


def test_sentry_event_alert() -> None:
    event = rendered("sentry", "event_alert_triggered")
    assert event.summary == SENTRY_TITLE
    assert event.dedup_id == "sentry-4512388841"
    assert (event.resolve, event.acknowledge, event.urgency) == (False, False, "high")
    assert event.labels == ["environment=production", "release=checkout@2.14.0"]
    assert event.source_url == (
        "https://sentry.io/organizations/acme/issues/4512388841/events/"
        "d4ca3f8a2b9f4e5d8c1a3b7e9f0c2d61/"
    )
    assert event.description == (
        "Culprit: handlePayment(app/checkout/payment)\nLevel: error\n"
        "Alert rule: Unhandled errors in checkout"
    )


def test_sentry_issue_created_and_resolved_share_the_dedup_id() -> None:
    created = rendered("sentry", "issue_created")
    resolved = rendered("sentry", "issue_resolved")
    for event in (created, resolved):
        assert event.summary == SENTRY_TITLE
        assert event.dedup_id == "sentry-4512388841"  # the event alert's issue too
        assert event.urgency == "high"
        assert event.labels == ["project=checkout-web"]
        assert event.source_url == "https://sentry.io/organizations/acme/issues/4512388841/"
    assert created.resolve is False
    assert resolved.resolve is True
    assert "Issue status: resolved" in resolved.description


def test_sentry_legacy_webhook_plugin_warning_is_low() -> None:
    event = rendered("sentry", "legacy_webhook_plugin")
    assert event.summary == "Export took longer than 300 s"
    assert event.dedup_id == "sentry-4512390012"
    assert (event.resolve, event.urgency) == (False, "low")
    assert event.labels == [
        "project=billing-api",
        "environment=production",
        "release=billing-api@1.8.2",
    ]
    assert event.source_url == (
        "https://acme.sentry.io/issues/4512390012/?referrer=webhooks_plugin"
    )


# --- generic --------------------------------------------------------------------------------


def test_generic_firing_and_resolved() -> None:
    firing = rendered("generic", "firing")
    assert firing.summary == "Queue depth above 10k on orders"
    assert firing.description == "orders queue has 12345 messages; consumers: 2"
    assert firing.dedup_id == "orders-queue-depth"
    assert (firing.resolve, firing.acknowledge, firing.urgency) == (False, False, "low")
    assert firing.labels == ["env=production", "team=orders"]
    assert firing.source_url == "https://grafana.example.com/d/queues?var-queue=orders"
    resolved = rendered("generic", "resolved")
    assert resolved.resolve is True
    assert resolved.dedup_id == "orders-queue-depth"
    assert resolved.description == ""


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"summary": "From summary", "message": "no"}, "From summary"),
        ({"message": "From message"}, "From message"),
        ({"other": 1}, '{"other": 1}'),
    ],
)
def test_generic_summary_falls_back_through_keys(payload: dict[str, Any], expected: str) -> None:
    templates = channel_templates(channel=None, builtin=None)
    assert channel_render(templates=templates, payload=payload).summary == expected


def test_generic_signals_and_list_labels() -> None:
    templates = channel_templates(channel=None, builtin="generic")
    payload = {"title": "x", "status": "Acknowledged", "tags": ["a", " b ", "a"], "dedup_key": 7}
    event = channel_render(templates=templates, payload=payload)
    assert (event.acknowledge, event.resolve) == (True, False)
    assert event.labels == ["a", "b"]
    assert event.dedup_id == "7"
    assert event.urgency == "high"  # no severity: high
    assert channel_render(templates=templates, payload={"status": "OK"}).resolve is True
