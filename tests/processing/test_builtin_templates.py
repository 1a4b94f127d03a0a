"""Each built-in template against the recorded payloads of its source: every field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from opsduty.choices import SUMMARY_MAX_LENGTH
from processing.channels.builtin_templates import BUILTIN_TEMPLATES
from processing.channels.rendering import FIELDS, RenderedEvent, channel_render, channel_templates
from processing.models import BaseTemplate
from processing.sandbox.environment import template_check
from signals.models import BuiltinTemplate

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "receive_channels"


def load(source: str, name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / source / f"{name}.json").read_text())
    return payload


def rendered(source: str, name: str) -> RenderedEvent:
    templates = channel_templates(channel=None, builtin=source)
    return channel_render(templates=templates, payload=load(source, name))


def test_every_builtin_defines_every_field_and_compiles() -> None:
    assert set(BUILTIN_TEMPLATES) == set(BaseTemplate.values)
    # A webhook chooses from the same templates, in the same order, with the same names.
    assert BuiltinTemplate.choices == BaseTemplate.choices
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


def render_as(template: str, payload: Any) -> RenderedEvent:
    return channel_render(
        templates=channel_templates(channel=None, builtin=template), payload=payload
    )


# --- Grafana Alerting -----------------------------------------------------------------------

GRAFANA_DESCRIPTION = (
    "- [firing] High memory usage: This alert was triggered for zone us-1, "
    "since 2021-10-12T09:51:03.157076+02:00\n"
    "- [firing] High CPU usage: This alert was triggered for zone eu-1, "
    "since 2021-10-12T09:56:03.157076+02:00"
)


def test_grafana_documented_example_firing() -> None:
    # Grafana's own example: two alerts with different names, grouped by nothing, so
    # commonLabels has no alertname (only team=blue) and no severity.
    event = rendered("grafana", "firing")
    assert event.summary == "High memory usage, High CPU usage"
    assert event.dedup_id == "{}:{}"  # groupKey
    assert (event.resolve, event.acknowledge) == (False, False)
    assert event.urgency == "low"  # no severity label, as for Alertmanager
    assert event.labels == ["team=blue"]
    assert event.source_url == "https://play.grafana.org/alerting/1afz29v7z/edit"
    assert event.description == GRAFANA_DESCRIPTION
    assert event.errors == {}


def test_grafana_documented_example_resolved_resolves_the_same_group() -> None:
    event = rendered("grafana", "resolved")
    assert event.resolve is True
    assert event.acknowledge is False
    assert event.dedup_id == "{}:{}"
    assert event.summary == "High memory usage, High CPU usage"
    assert event.urgency == "low"
    assert event.labels == ["team=blue"]
    assert event.description == GRAFANA_DESCRIPTION.replace("[firing]", "[resolved]")


def test_grafana_single_critical_alert() -> None:
    event = rendered("grafana", "firing_critical_single")
    assert event.summary == "CheckoutLatencyHigh: Checkout p99 latency above 1 s"
    assert event.dedup_id == (
        '{}/{__grafana_autogenerated__="true"}/{__grafana_receiver__="OpsDuty"}'
        ':{alertname="CheckoutLatencyHigh", grafana_folder="Payments"}'
    )
    assert (event.resolve, event.acknowledge, event.urgency) == (False, False, "high")
    assert event.labels == [
        "alertname=CheckoutLatencyHigh",
        "grafana_folder=Payments",
        "instance=checkout-1:8080",
        "service=checkout",
        "severity=critical",
    ]
    assert event.source_url == (
        "https://grafana.example.com/alerting/grafana/cdl4q2n8z1se8c/view?orgId=1"
    )
    assert event.description == (
        "p99 latency of POST /checkout is 2.4 s (threshold 1 s).\n\n"
        "- [firing] CheckoutLatencyHigh: Checkout p99 latency above 1 s (checkout-1:8080), "
        "since 2024-05-15T08:10:00Z"
    )


@pytest.mark.parametrize(
    ("group_labels", "dedup_id"),
    [
        (
            {"zone": "us-1", "alertname": "High CPU usage", "team": "blue"},
            '{alertname="High CPU usage", team="blue", zone="us-1"}',
        ),
        ({}, "{}"),
        (None, ""),  # neither: a random id, the event's own incident
    ],
)
def test_grafana_dedup_id_without_group_key_is_the_sorted_group_labels(
    group_labels: dict[str, str] | None, dedup_id: str
) -> None:
    payload = load("grafana", "firing")
    del payload["groupKey"]
    if group_labels is None:
        del payload["groupLabels"]
    else:
        payload["groupLabels"] = group_labels
    event = render_as("grafana", payload)
    assert event.dedup_id == dedup_id
    assert event.errors == {}


def test_grafana_source_url_falls_back_to_the_external_url() -> None:
    payload = load("grafana", "firing")
    payload["alerts"][0]["generatorURL"] = ""
    assert render_as("grafana", payload).source_url == "https://play.grafana.org/"
    payload["alerts"] = []
    event = render_as("grafana", payload)
    assert event.source_url == "https://play.grafana.org/"
    assert event.summary == "[FIRING:2] (blue)"  # no alert names: Grafana's title
    assert event.description == ""


def test_grafana_description_says_how_many_alerts_grafana_left_out() -> None:
    payload = load("grafana", "firing")
    payload["truncatedAlerts"] = 3
    event = render_as("grafana", payload)
    assert event.description == GRAFANA_DESCRIPTION + "\n\n… and 3 more left out by Grafana"
    for odd in (True, "3", None, -1):
        payload["truncatedAlerts"] = odd
        assert render_as("grafana", payload).description == GRAFANA_DESCRIPTION, odd
    payload["truncatedAlerts"] = 3
    # Over 20 alerts: the first 20, how many more were sent, how many Grafana left out.
    payload["alerts"] = payload["alerts"] * 11
    lines = render_as("grafana", payload).description.split("\n")
    assert len(lines) == 20 + 3
    assert lines[-3:] == ["", "… and 2 more", "… and 3 more left out by Grafana"]


@pytest.mark.parametrize(
    ("severity", "urgency"),
    [("critical", "high"), ("HIGH", "high"), ("page", "high"), ("warning", "low"), (None, "low")],
)
def test_grafana_urgency_follows_severity(severity: str | None, urgency: str) -> None:
    payload = load("grafana", "firing")
    if severity is not None:
        payload["commonLabels"]["severity"] = severity
    assert render_as("grafana", payload).urgency == urgency


# --- the summary of a group of differently named alerts (Alertmanager and Grafana) ----------


def group(template: str, *names: str | None, **changes: Any) -> dict[str, Any]:
    """The template's two-alert fixture with one alert per name (None: no alertname label)
    and no commonLabels.alertname; `changes` replace top-level keys."""
    payload = load(template, "firing")
    payload["commonLabels"].pop("alertname", None)
    payload.pop("commonAnnotations", None)
    first = payload["alerts"][0]
    alerts = []
    for name in names:
        a = json.loads(json.dumps(first))
        a["labels"].pop("alertname")
        if name is not None:
            a["labels"]["alertname"] = name
        alerts.append(a)
    payload["alerts"] = alerts
    payload.update(changes)
    return payload


BOTH = pytest.mark.parametrize("template", ["alertmanager", "grafana"])


@BOTH
def test_group_summary_lists_the_distinct_alert_names_in_order(template: str) -> None:
    payload = group(template, "HighCPU", "DiskFull", "HighCPU", None)
    event = render_as(template, payload)
    assert event.summary == "HighCPU, DiskFull"
    assert event.errors == {}


@BOTH
def test_group_summary_keeps_the_common_summary_after_the_names(template: str) -> None:
    payload = group(template, "HighCPU", "DiskFull", commonAnnotations={"summary": "Node a-1"})
    assert render_as(template, payload).summary == "HighCPU, DiskFull: Node a-1"


@BOTH
def test_group_summary_prefers_the_common_alertname(template: str) -> None:
    payload = group(template, "HighCPU", "DiskFull")
    payload["commonLabels"]["alertname"] = "Grouped"
    assert render_as(template, payload).summary == "Grouped"


@BOTH
def test_group_summary_names_at_most_five_then_how_many_more(template: str) -> None:
    names = [f"Alert{i}" for i in range(1, 9)]
    event = render_as(template, group(template, *names, *names))
    assert event.summary == "Alert1, Alert2, Alert3, Alert4, Alert5 and 3 more"


@BOTH
def test_group_summary_of_long_names_stays_within_the_limit(template: str) -> None:
    names = [f"{'Very long alert name ' * 30}{i}" for i in range(12)]
    summary = "Everything is on fire"
    payload = group(template, *names, commonAnnotations={"summary": summary})
    event = render_as(template, payload)
    assert len(event.summary) < SUMMARY_MAX_LENGTH
    assert event.summary.startswith("Very long alert name Very long alert name")
    assert event.summary.endswith(f"… and 7 more: {summary}")
    assert event.errors == {}


def test_group_summary_without_any_alert_name() -> None:
    assert render_as("alertmanager", group("alertmanager", None, None)).summary == (
        "Alertmanager alert"
    )
    payload = group("grafana", None, None)
    assert render_as("grafana", payload).summary == "[FIRING:2] (blue)"  # Grafana's title
    del payload["title"]
    assert render_as("grafana", payload).summary == "Grafana alert"


@BOTH
def test_group_summary_ignores_malformed_alerts(template: str) -> None:
    payload = group(template, "HighCPU")
    payload["alerts"] += [
        "not an alert",
        7,
        None,
        {"labels": "alertname=Nope"},
        {"labels": {"alertname": ["a", "list"]}},
        {"labels": {"alertname": 42}},
        {"labels": {"alertname": ""}},
        {"labels": {"alertname": "DiskFull"}},
        {},
    ]
    event = render_as(template, payload)
    assert event.summary == "HighCPU, DiskFull"
    assert event.errors == {}


@BOTH
def test_a_full_size_group_renders_in_time(template: str) -> None:
    # About the largest body the receiver takes (512 KB), every alert differently named.
    size = len(json.dumps(load(template, "firing")["alerts"][0]))
    count = 500_000 // size
    payload = group(template, *[f"Alert{i}" for i in range(count)])
    assert 400_000 < len(json.dumps(payload)) < 512 * 1024
    event = render_as(template, payload)
    assert event.errors == {}
    assert event.summary == f"Alert0, Alert1, Alert2, Alert3, Alert4 and {count - 5} more"


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
