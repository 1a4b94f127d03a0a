"""Writes of receive channels: create, update, delete, each override checked in the sandbox."""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from opsduty.models import Organization, User
from processing.channels.selectors import can_manage_channels
from processing.models import OVERRIDE_FIELDS, BaseTemplate, ReceiveChannel
from processing.sandbox.environment import SandboxError, template_check


def _require_manage(by: User, organization_id: int) -> None:
    if not can_manage_channels(by) or by.organization_id != organization_id:
        raise PermissionDenied("Only owners can manage receive channels.")


def _set_overrides(
    channel: ReceiveChannel, overrides: Mapping[str, str | None], errors: dict[str, list[str]]
) -> None:
    """Store the overrides (a blank one is NULL: the base template's value applies).

    Errors are keyed by the model field (`summary_template`), since `description` is also
    the channel's own description.
    """
    for name in sorted(set(overrides) - set(OVERRIDE_FIELDS)):
        errors.setdefault(f"{name}_template", []).append("Unknown template field.")
    for name in OVERRIDE_FIELDS:
        source = overrides.get(name)
        source = source if source and source.strip() else None
        if source is not None:
            try:
                template_check(source)
            except SandboxError as error:
                errors.setdefault(f"{name}_template", []).append(str(error))
        setattr(channel, f"{name}_template", source)


def _clean_and_save(channel: ReceiveChannel, errors: dict[str, list[str]]) -> None:
    """Validate everything, raise all errors at once (per field), then save."""
    name_taken = "A receive channel with this name already exists."
    channel.name = channel.name.strip()
    try:
        channel.full_clean(exclude=["organization"], validate_constraints=False)
    except ValidationError as error:
        for field, messages in error.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    clash = ReceiveChannel.objects.filter(
        organization_id=channel.organization_id, name=channel.name
    )
    if channel.name and clash.exclude(pk=channel.pk).exists():
        errors.setdefault("name", []).append(name_taken)
    if errors:
        raise ValidationError(errors)
    channel.updated_at = timezone.now()
    try:
        with transaction.atomic():
            channel.save()
    except IntegrityError:  # someone took the name between the check and the write
        raise ValidationError({"name": name_taken}) from None


@transaction.atomic
def receive_channel_create(
    *,
    organization: Organization,
    by: User | None,
    name: str,
    description: str = "",
    base_template: str = BaseTemplate.GENERIC,
    overrides: Mapping[str, str | None] | None = None,
) -> ReceiveChannel:
    """Create a channel; every override must compile (ValidationError per model field,
    e.g. `{"summary_template": ["Template syntax error: ..."]}`)."""
    if by is not None:
        _require_manage(by, organization.pk)
    channel = ReceiveChannel(
        organization=organization,
        name=name,
        description=description,
        base_template=base_template,
    )
    errors: dict[str, list[str]] = {}
    _set_overrides(channel, overrides or {}, errors)
    _clean_and_save(channel, errors)
    return channel


@transaction.atomic
def receive_channel_update(
    *,
    channel: ReceiveChannel,
    by: User,
    name: str,
    description: str,
    base_template: str,
    overrides: Mapping[str, str | None],
) -> ReceiveChannel:
    """Replace the channel's settings; a field missing from `overrides` or blank is cleared."""
    _require_manage(by, channel.organization_id)
    channel.name, channel.description, channel.base_template = name, description, base_template
    errors: dict[str, list[str]] = {}
    _set_overrides(channel, overrides, errors)
    _clean_and_save(channel, errors)
    return channel


@transaction.atomic
def receive_channel_delete(*, channel: ReceiveChannel, by: User) -> None:
    """Delete a channel (owners only); refused (ValidationError naming them) while webhooks
    use it, since `Webhook.receive_channel` is PROTECT."""
    _require_manage(by, channel.organization_id)
    # The row lock orders us with webhook writes, which lock the channel they choose.
    list(ReceiveChannel.objects.select_for_update().filter(pk=channel.pk).values_list("pk"))
    users = sorted(channel.webhooks.values_list("name", flat=True))
    if users:
        names = ", ".join(f"“{name}”" for name in users)
        plural = len(users) > 1
        raise ValidationError(
            f"Receive channel “{channel.name}” is used by the webhook{'s' if plural else ''} "
            f"{names}. Choose another channel or a built-in template for "
            f"{'them' if plural else 'it'} first."
        )
    channel.delete()
