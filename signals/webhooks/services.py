"""Writes of webhook integrations: create, update, enable / disable, delete (owners only).

The receiver caches webhook lookups per process (signals/receiver/ingest.py, `CACHE_SECONDS`), so a
change made here (disabled, new rate limit, deleted) reaches every web process within 5 s;
there is no cross-process invalidation to call.

A webhook reads its events through an organization receive channel when `receive_channel`
is set, else through its built-in template (processing/pipeline/steps.py `_templates`). The chosen
channel is locked (`FOR UPDATE`) while the webhook is written, and `receive_channel_delete`
locks it too, so a channel cannot be deleted between our check and our commit.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from opsduty.models import Organization, User
from signals.models import BuiltinTemplate, Webhook
from signals.webhooks.models import (
    DEFAULT_RATE_LIMIT_PER_MINUTE,
    MAX_RATE_LIMIT_PER_MINUTE,
    MIN_RATE_LIMIT_PER_MINUTE,
    ReceiveChannel,
    receive_channel_model,
)

NAME_MAX_LENGTH = 200
DUPLICATE_NAME = "A webhook with this name already exists."
UNKNOWN_CHANNEL = "Choose a receive channel of this organization."


def _require_owner(by: User, organization_id: int) -> None:
    if not by.is_owner or by.organization_id != organization_id:
        raise PermissionDenied("Only owners of this organization can manage webhooks.")


def _clean(webhook: Webhook) -> None:
    """Check every rule and raise one ValidationError naming each bad field."""
    errors: dict[str, str] = {}
    webhook.name = (webhook.name or "").strip()
    if not webhook.name:
        errors["name"] = "Give the webhook a name."
    elif len(webhook.name) > NAME_MAX_LENGTH:
        errors["name"] = f"The name is at most {NAME_MAX_LENGTH} characters long."
    elif (
        Webhook.objects.filter(organization_id=webhook.organization_id, name=webhook.name)
        .exclude(pk=webhook.pk)
        .exists()
    ):
        errors["name"] = DUPLICATE_NAME
    if webhook.builtin_template not in BuiltinTemplate.values:
        choices = ", ".join(BuiltinTemplate.values)
        errors["builtin_template"] = f"Choose one of the built-in templates: {choices}."
    channel = webhook.receive_channel
    if channel is not None and channel.organization_id != webhook.organization_id:
        errors["receive_channel"] = UNKNOWN_CHANNEL
    limit = webhook.rate_limit_per_minute
    if (
        not isinstance(limit, int)
        or isinstance(limit, bool)
        or not MIN_RATE_LIMIT_PER_MINUTE <= limit <= MAX_RATE_LIMIT_PER_MINUTE
    ):
        errors["rate_limit_per_minute"] = (
            f"The rate limit is a whole number of events a minute from "
            f"{MIN_RATE_LIMIT_PER_MINUTE} to {MAX_RATE_LIMIT_PER_MINUTE:,}."
        )
    if errors:
        raise ValidationError(errors)


def _lock_channel(webhook: Webhook) -> None:
    """Lock the (checked) channel until commit; one deleted meanwhile is refused."""
    channel_id = webhook.receive_channel_id
    if channel_id is None:
        return
    channels = receive_channel_model()._default_manager.select_for_update()
    if not list(channels.filter(pk=channel_id).values_list("pk")):
        raise ValidationError({"receive_channel": UNKNOWN_CHANNEL})


def _save(webhook: Webhook, update_fields: list[str] | None = None) -> None:
    """Save inside a savepoint: a name taken by a concurrent request is a ValidationError."""
    try:
        with transaction.atomic():
            webhook.save(update_fields=update_fields)
    except IntegrityError:
        raise ValidationError({"name": DUPLICATE_NAME}) from None


@transaction.atomic
def webhook_create(
    *,
    organization: Organization,
    by: User | None,
    name: str,
    enabled: bool = True,
    builtin_template: str = BuiltinTemplate.GENERIC,
    receive_channel: ReceiveChannel | None = None,
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE,
) -> Webhook:
    """Create a webhook with a fresh random key (`by=None` only for seeding and tests).

    `receive_channel` (of the same organization) wins over `builtin_template` when set.
    """
    if by is not None:
        _require_owner(by, organization.pk)
    webhook = Webhook(
        organization=organization,
        name=name,
        enabled=enabled,
        builtin_template=builtin_template,
        receive_channel=receive_channel,
        rate_limit_per_minute=rate_limit_per_minute,
    )
    _clean(webhook)
    _lock_channel(webhook)
    _save(webhook)
    return webhook


@transaction.atomic
def webhook_update(
    *,
    webhook: Webhook,
    by: User,
    name: str,
    enabled: bool,
    builtin_template: str,
    rate_limit_per_minute: int,
    receive_channel: ReceiveChannel | None,
) -> Webhook:
    """Change a webhook's settings; its key (and so every sender's URL) stays the same.

    `receive_channel=None` means the built-in template applies (the channel is cleared).
    """
    _require_owner(by, webhook.organization_id)
    locked = Webhook.objects.select_for_update().get(pk=webhook.pk)
    locked.name, locked.enabled = name, enabled
    locked.builtin_template, locked.rate_limit_per_minute = builtin_template, rate_limit_per_minute
    locked.receive_channel = receive_channel
    _clean(locked)
    _lock_channel(locked)
    _save(locked)
    return locked


@transaction.atomic
def webhook_set_enabled(*, webhook: Webhook, by: User, enabled: bool) -> Webhook:
    """Enable or disable; events sent to a disabled webhook are stored but not processed."""
    _require_owner(by, webhook.organization_id)
    locked = Webhook.objects.select_for_update().get(pk=webhook.pk)
    if locked.enabled != enabled:
        locked.enabled = enabled
        locked.save(update_fields=["enabled"])
    return locked


@transaction.atomic
def webhook_delete(*, webhook: Webhook, by: User) -> None:
    """Delete a webhook; its raw events stay (their `webhook` becomes empty) as history."""
    _require_owner(by, webhook.organization_id)
    webhook.delete()
