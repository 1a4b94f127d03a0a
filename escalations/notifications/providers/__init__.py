"""Delivery providers behind one interface: `send(notification) -> Receipt`.

A provider raises `DeliveryError(message, permanent=...)` when the channel refused or failed:
`permanent=False` is retried with backoff, `permanent=True` fails the notification at once.
`ChannelNotConfigured` (a permanent error) marks it `not_configured`; `Throttled` marks it
`throttled` (the person's next rule is sent at once instead). The registry is keyed by channel:
`settings.OPSDUTY_NOTIFICATION_PROVIDERS` names each channel's provider by dotted path (as
healthchecks names its transports), so no app imports an integration; tests may swap one with
`provider_register`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from escalations.notifications.models import Notification


@dataclass(frozen=True)
class Receipt:
    """What the provider answered for a delivered notification (shown in the incident log)."""

    answer: str = "sent"
    provider_id: str = ""
    # The provider's first delivery state ("queued" at Twilio); callbacks move it on.
    delivery_status: str = ""
    data: dict[str, str] = field(default_factory=dict)


class DeliveryError(Exception):
    """The provider did not deliver; `permanent` says whether a retry could help."""

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        # The provider said when to try again (a 429's Retry-After): used instead of backoff.
        self.retry_after = retry_after


class ChannelNotConfigured(DeliveryError):
    """No provider is set up for this channel: nothing was sent, and retrying will not help."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class Throttled(DeliveryError):
    """The contact method's rate limit is reached: not sent now, and not retried."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class Provider(Protocol):
    def send(self, notification: Notification) -> Receipt: ...


_registry: dict[str, Provider] = {}


def _defaults() -> dict[str, Provider]:
    from django.conf import settings
    from django.utils.module_loading import import_string

    return {
        channel: import_string(path)()
        for channel, path in settings.OPSDUTY_NOTIFICATION_PROVIDERS.items()
    }


def provider_for(channel: str) -> Provider:
    """The provider that delivers `channel` (a not-configured one for unknown channels)."""
    if not _registry:
        _registry.update(_defaults())
    provider = _registry.get(channel)
    if provider is None:
        from escalations.notifications.providers.not_configured import NotConfiguredProvider

        return NotConfiguredProvider()
    return provider


def provider_register(channel: str, provider: Provider | None) -> Provider | None:
    """Use `provider` for `channel` (None: back to the default); returns the previous one."""
    previous = provider_for(channel)
    if provider is None:
        _registry[channel] = _defaults()[channel]
    else:
        _registry[channel] = provider
    return previous
