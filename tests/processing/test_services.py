"""Receive channel services: validation per field, ownership, name per organization."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from opsduty.models import Organization, User
from processing.channels.services import (
    receive_channel_create,
    receive_channel_delete,
    receive_channel_update,
)
from processing.models import ReceiveChannel
from tests import factories

pytestmark = pytest.mark.django_db


def test_create_stores_overrides_and_blank_ones_as_null(org_a: Organization, owner: User) -> None:
    channel = receive_channel_create(
        organization=org_a,
        by=owner,
        name=" Prometheus ",
        base_template="alertmanager",
        overrides={"summary": "{{ payload.receiver }}", "urgency": "", "labels": "  "},
    )
    channel.refresh_from_db()
    assert channel.name == "Prometheus"
    assert channel.summary_template == "{{ payload.receiver }}"
    assert channel.urgency_template is None and channel.labels_template is None
    assert channel.overrides() == {"summary": "{{ payload.receiver }}"}


def test_every_broken_override_is_reported_on_its_field(org_a: Organization, owner: User) -> None:
    with pytest.raises(ValidationError) as caught:
        receive_channel_create(
            organization=org_a,
            by=owner,
            name="",
            overrides={"summary": "{{ payload.a", "resolve": "{% if %}", "dedup_id": "{{ ok }}"},
        )
    errors = caught.value.message_dict
    assert set(errors) == {"name", "summary_template", "resolve_template"}
    assert errors["summary_template"][0].startswith("Template syntax error")
    assert not ReceiveChannel.objects.exists()


def test_unknown_fields_and_templates_are_refused(org_a: Organization, owner: User) -> None:
    with pytest.raises(ValidationError) as caught:
        receive_channel_create(
            organization=org_a,
            by=owner,
            name="x",
            base_template="nagios",
            overrides={"colour": "{{ 1 }}"},
        )
    assert set(caught.value.message_dict) == {"colour_template", "base_template"}


def test_too_long_override_is_refused_on_its_own_field(org_a: Organization, owner: User) -> None:
    with pytest.raises(ValidationError) as caught:
        receive_channel_create(
            organization=org_a,
            by=owner,
            name="x",
            description="fine",
            overrides={"description": "a" * 20_001},
        )
    assert set(caught.value.message_dict) == {"description_template"}
    assert "at most 20000" in caught.value.message_dict["description_template"][0]


def test_names_are_unique_per_organization(
    org_a: Organization, org_b: Organization, owner: User, outsider: User
) -> None:
    receive_channel_create(organization=org_a, by=owner, name="Sentry")
    receive_channel_create(organization=org_b, by=outsider, name="Sentry")  # another org: fine
    with pytest.raises(ValidationError) as caught:
        receive_channel_create(organization=org_a, by=owner, name="Sentry")
    assert "already exists" in caught.value.message_dict["name"][0]


def test_only_owners_of_the_organization_manage(
    org_a: Organization, owner: User, member: User, outsider: User
) -> None:
    with pytest.raises(PermissionDenied):
        receive_channel_create(organization=org_a, by=member, name="x")
    with pytest.raises(PermissionDenied):
        receive_channel_create(organization=org_a, by=outsider, name="x")
    channel = factories.make_receive_channel(organization=org_a)
    with pytest.raises(PermissionDenied):
        receive_channel_delete(channel=channel, by=outsider)
    with pytest.raises(PermissionDenied):
        receive_channel_update(
            channel=channel,
            by=member,
            name="y",
            description="",
            base_template="generic",
            overrides={},
        )
    assert ReceiveChannel.objects.filter(pk=channel.pk, name=channel.name).exists()


def test_update_replaces_overrides_and_delete_removes(org_a: Organization, owner: User) -> None:
    channel = factories.make_receive_channel(
        organization=org_a, overrides={"summary": "{{ 1 }}", "urgency": "low"}
    )
    receive_channel_update(
        channel=channel,
        by=owner,
        name="Renamed",
        description="d",
        base_template="sentry",
        overrides={"urgency": "high"},
    )
    channel.refresh_from_db()
    assert (channel.name, channel.base_template) == ("Renamed", "sentry")
    assert channel.overrides() == {"urgency": "high"}  # summary missing: cleared
    receive_channel_delete(channel=channel, by=owner)
    assert not ReceiveChannel.objects.filter(pk=channel.pk).exists()


def test_delete_is_refused_while_webhooks_use_the_channel(org_a: Organization, owner: User) -> None:
    channel = factories.make_receive_channel(organization=org_a, name="Prometheus")
    for name in ("Zeta", "Alpha"):
        factories.make_webhook(organization=org_a, name=name, receive_channel=channel)
    factories.make_webhook(organization=org_a, name="Builtin only")
    with pytest.raises(ValidationError) as caught:
        receive_channel_delete(channel=channel, by=owner)
    message = " ".join(caught.value.messages)
    assert "used by the webhooks “Alpha”, “Zeta”" in message
    assert "Builtin only" not in message
    assert ReceiveChannel.objects.filter(pk=channel.pk).exists()
