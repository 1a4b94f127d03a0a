"""Webhook write services and the selectors: owners manage, rules hold, tenancy, raw events."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone

from opsduty.models import Organization, User
from processing.pipeline.steps import pipeline_channel_try
from signals.models import RawEvent, RawEventStatus, Webhook
from signals.receiver import selectors as raw_selectors
from signals.webhooks import selectors
from signals.webhooks.services import (
    webhook_create,
    webhook_delete,
    webhook_set_enabled,
    webhook_update,
)
from tests import factories

pytestmark = pytest.mark.django_db


def _create(org: Organization, by: User | None, **overrides: object) -> Webhook:
    fields: dict[str, object] = {
        "name": "Alertmanager",
        "enabled": True,
        "builtin_template": "alertmanager",
        "rate_limit_per_minute": 120,
        **overrides,
    }
    return webhook_create(organization=org, by=by, **fields)  # type: ignore[arg-type]


def test_owner_creates_a_webhook_with_a_random_key(org_a: Organization, owner: User) -> None:
    first = _create(org_a, owner, name="  Alertmanager  ")
    second = _create(org_a, owner, name="Sentry", builtin_template="sentry")
    assert first.name == "Alertmanager"  # trimmed
    assert (first.builtin_template, first.rate_limit_per_minute) == ("alertmanager", 120)
    assert first.key != second.key
    assert first.organization_id == org_a.pk


@pytest.mark.parametrize("role_user", ["member", "stakeholder"])
def test_only_owners_manage_webhooks(
    request: pytest.FixtureRequest, role_user: str, org_a: Organization, owner: User
) -> None:
    user: User = request.getfixturevalue(role_user)
    webhook = _create(org_a, owner)
    with pytest.raises(PermissionDenied):
        _create(org_a, user, name="Other")
    with pytest.raises(PermissionDenied):
        webhook_update(
            webhook=webhook,
            by=user,
            name="Renamed",
            enabled=True,
            builtin_template="generic",
            rate_limit_per_minute=10,
            receive_channel=None,
        )
    with pytest.raises(PermissionDenied):
        webhook_set_enabled(webhook=webhook, by=user, enabled=False)
    with pytest.raises(PermissionDenied):
        webhook_delete(webhook=webhook, by=user)
    webhook.refresh_from_db()
    assert (webhook.name, webhook.enabled) == ("Alertmanager", True)
    assert Webhook.objects.count() == 1


def test_owner_of_another_organization_cannot_manage(
    org_a: Organization, owner: User, outsider: User
) -> None:
    webhook = _create(org_a, owner)
    with pytest.raises(PermissionDenied):
        _create(org_a, outsider, name="Sneaky")
    with pytest.raises(PermissionDenied):
        webhook_delete(webhook=webhook, by=outsider)
    assert Webhook.objects.filter(pk=webhook.pk).exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": "Alertmanager"}, "name", "already exists"),
        ({"name": "   "}, "name", "Give the webhook a name"),
        ({"name": "x" * 201}, "name", "at most 200"),
        ({"rate_limit_per_minute": 0}, "rate_limit_per_minute", "from 1 to 1,000,000"),
        ({"rate_limit_per_minute": 1_000_001}, "rate_limit_per_minute", "from 1 to 1,000,000"),
        ({"builtin_template": "nagios"}, "builtin_template", "built-in templates"),
    ],
)
def test_invalid_settings_are_refused_and_nothing_is_written(
    org_a: Organization, owner: User, overrides: dict[str, object], field: str, message: str
) -> None:
    _create(org_a, owner)
    with pytest.raises(ValidationError) as caught:
        _create(org_a, owner, **{"name": "Second", **overrides})
    assert message in " ".join(caught.value.message_dict[field])
    assert Webhook.objects.count() == 1


def test_limits_at_the_edges_are_accepted(org_a: Organization, owner: User) -> None:
    assert _create(org_a, owner, name="a", rate_limit_per_minute=1).rate_limit_per_minute == 1
    big = _create(org_a, owner, name="b" * 200, rate_limit_per_minute=1_000_000)
    assert big.rate_limit_per_minute == 1_000_000


def test_same_name_in_another_organization_is_fine(
    org_a: Organization, org_b: Organization, owner: User, outsider: User
) -> None:
    _create(org_a, owner)
    assert _create(org_b, outsider).organization_id == org_b.pk


def test_update_keeps_the_key_and_refuses_a_taken_name(org_a: Organization, owner: User) -> None:
    webhook = _create(org_a, owner)
    _create(org_a, owner, name="Sentry")
    key = webhook.key
    updated = webhook_update(
        webhook=webhook,
        by=owner,
        name="Prometheus",
        enabled=False,
        builtin_template="generic",
        rate_limit_per_minute=60,
        receive_channel=None,
    )
    assert (updated.key, updated.name, updated.enabled) == (key, "Prometheus", False)
    with pytest.raises(ValidationError):
        webhook_update(
            webhook=webhook,
            by=owner,
            name="Sentry",
            enabled=True,
            builtin_template="generic",
            rate_limit_per_minute=60,
            receive_channel=None,
        )
    webhook.refresh_from_db()
    assert (webhook.name, webhook.enabled, webhook.rate_limit_per_minute) == (
        "Prometheus",
        False,
        60,
    )


def test_set_enabled_and_delete_keeps_raw_events(org_a: Organization, owner: User) -> None:
    webhook = _create(org_a, owner)
    raw = factories.make_raw_event(organization=org_a, webhook=webhook)
    assert webhook_set_enabled(webhook=webhook, by=owner, enabled=False).enabled is False
    assert Webhook.objects.get(pk=webhook.pk).enabled is False
    webhook_delete(webhook=webhook, by=owner)
    assert not Webhook.objects.filter(pk=webhook.pk).exists()
    raw.refresh_from_db()
    assert raw.webhook_id is None
    assert raw.body == {"title": "Test", "dedup_id": "test-1"}


# --- selectors ------------------------------------------------------------------------------


def test_webhook_list_counts_events_of_the_last_24_hours(
    org_a: Organization, org_b: Organization, owner: User
) -> None:
    webhook = _create(org_a, owner)
    quiet = _create(org_a, owner, name="Quiet")
    factories.make_webhook(organization=org_b, name="Foreign")
    for _ in range(3):
        factories.make_raw_event(organization=org_a, webhook=webhook)
    factories.make_raw_event(
        organization=org_a, webhook=webhook, received_at=timezone.now() - timedelta(hours=25)
    )
    listed = selectors.webhook_list(organization=org_a)
    counts = {w.name: w.recent_events for w in listed}  # type: ignore[attr-defined]
    assert counts == {webhook.name: 3, quiet.name: 0}


def test_webhook_get_answers_404_for_another_organization(
    org_b: Organization, owner: User, outsider: User
) -> None:
    foreign = factories.make_webhook(organization=org_b)
    assert selectors.webhook_get(user=outsider, webhook_id=foreign.pk) == foreign
    with pytest.raises(Http404):
        selectors.webhook_get(user=owner, webhook_id=foreign.pk)


def test_raw_events_are_for_owners_only(
    org_a: Organization, member: User, stakeholder: User, owner: User
) -> None:
    raw = factories.make_raw_event(organization=org_a)
    for user in (member, stakeholder):
        with pytest.raises(PermissionDenied):
            raw_selectors.raw_event_list(user=user)
        with pytest.raises(PermissionDenied):
            raw_selectors.raw_event_get(user=user, raw_event_id=raw.pk)
    assert raw_selectors.raw_event_get(user=owner, raw_event_id=raw.pk) == raw


def test_raw_event_get_answers_404_for_another_organization(
    org_b: Organization, owner: User
) -> None:
    foreign = factories.make_raw_event(organization=org_b)
    with pytest.raises(Http404):
        raw_selectors.raw_event_get(user=owner, raw_event_id=foreign.pk)
    assert raw_selectors.raw_event_list(user=owner).events == []


def test_raw_event_list_filters_newest_first(org_a: Organization, owner: User) -> None:
    one, two = _create(org_a, owner), _create(org_a, owner, name="Two")
    now = timezone.now()
    old = factories.make_raw_event(
        organization=org_a, webhook=one, received_at=now - timedelta(days=2)
    )
    failed = factories.make_raw_event(
        organization=org_a, webhook=one, status=RawEventStatus.FAILED, error="boom"
    )
    other = factories.make_raw_event(organization=org_a, webhook=two)

    def ids(**filters: object) -> list[int]:
        page = raw_selectors.raw_event_list(
            user=owner,
            filters=raw_selectors.RawEventFilters(**filters),  # type: ignore[arg-type]
        )
        return [raw.pk for raw in page.events]

    assert ids() == [other.pk, failed.pk, old.pk]
    assert ids(status=RawEventStatus.FAILED) == [failed.pk]
    assert ids(webhook_id=one.pk) == [failed.pk, old.pk]
    assert ids(since=now - timedelta(days=1)) == [other.pk, failed.pk]
    assert ids(until=now - timedelta(days=1)) == [old.pk]


def test_raw_event_pages_walk_both_ways(org_a: Organization, owner: User) -> None:
    made = [factories.make_raw_event(organization=org_a).pk for _ in range(7)]
    newest_first = made[::-1]
    first = raw_selectors.raw_event_list(user=owner, page_size=3)
    assert [r.pk for r in first.events] == newest_first[:3]
    assert first.newer_after is None and first.older_before == newest_first[2]
    second = raw_selectors.raw_event_list(user=owner, before=first.older_before, page_size=3)
    assert [r.pk for r in second.events] == newest_first[3:6]
    assert second.newer_after == newest_first[3] and second.older_before == newest_first[5]
    last = raw_selectors.raw_event_list(user=owner, before=second.older_before, page_size=3)
    assert [r.pk for r in last.events] == newest_first[6:]
    assert last.older_before is None
    back = raw_selectors.raw_event_list(user=owner, after=second.newer_after, page_size=3)
    assert [r.pk for r in back.events] == newest_first[:3]
    assert back.newer_after is None and back.older_before == newest_first[2]
    assert RawEvent.objects.count() == 7


# --- receive channel ------------------------------------------------------------------------


def test_a_channel_of_another_organization_is_refused(
    org_a: Organization, org_b: Organization, owner: User
) -> None:
    foreign = factories.make_receive_channel(organization=org_b, name="Foreign")
    with pytest.raises(ValidationError) as caught:
        _create(org_a, owner, receive_channel=foreign)
    assert "receive_channel" in caught.value.message_dict
    assert not Webhook.objects.exists()
    webhook = _create(org_a, owner)
    with pytest.raises(ValidationError) as caught:
        webhook_update(
            webhook=webhook,
            by=owner,
            name="Alertmanager",
            enabled=True,
            builtin_template="alertmanager",
            rate_limit_per_minute=120,
            receive_channel=foreign,
        )
    assert "receive_channel" in caught.value.message_dict
    webhook.refresh_from_db()
    assert webhook.receive_channel_id is None


def test_the_channel_wins_over_the_builtin_and_can_be_cleared(
    org_a: Organization, owner: User
) -> None:
    channel = factories.make_receive_channel(
        organization=org_a, name="Mine", overrides={"summary": "mine: {{ payload.title }}"}
    )
    webhook = _create(org_a, owner, builtin_template="sentry", receive_channel=channel)
    webhook.refresh_from_db()
    assert (webhook.receive_channel_id, webhook.builtin_template) == (channel.pk, "sentry")
    raw = factories.make_raw_event(organization=org_a, webhook=webhook, body={"title": "Disk"})
    label, result = pipeline_channel_try(raw=raw)
    assert (label, result.rendered.summary) == ("receive channel “Mine”", "mine: Disk")

    webhook_update(
        webhook=webhook,
        by=owner,
        name="Alertmanager",
        enabled=True,
        builtin_template="generic",
        rate_limit_per_minute=120,
        receive_channel=None,
    )
    raw.refresh_from_db()
    label, result = pipeline_channel_try(raw=raw)
    assert (label, result.rendered.summary) == ("built-in template “generic”", "Disk")
