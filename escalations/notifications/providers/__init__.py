"""Delivery providers behind one interface: `send(notification) -> Receipt`.

A provider raises `DeliveryError(message, permanent=...)` when the channel refused or failed:
`permanent=False` is retried with backoff, `permanent=True` fails the notification at once.
`ChannelNotConfigured` (a permanent error) marks it `not_configured`. The registry is keyed by
channel; settings-free for now (the Twilio and Slack issues add real providers), and tests
swap a provider with `provider_register` instead of patching the delivery code.
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
    data: dict[str, str] = field(default_factory=dict)


class DeliveryError(Exception):
    """The provider did not deliver; `permanent` says whether a retry could help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


class ChannelNotConfigured(DeliveryError):
    """No provider is set up for this channel: nothing was sent, and retrying will not help."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class Provider(Protocol):
    def send(self, notification: Notification) -> Receipt: ...


_registry: dict[str, Provider] = {}


def _defaults() -> dict[str, Provider]:
    from escalations.notifications.models import Channel
    from escalations.notifications.providers.email import EmailProvider
    from escalations.notifications.providers.not_configured import NotConfiguredProvider

    return {
        Channel.EMAIL: EmailProvider(),
        Channel.SMS: NotConfiguredProvider(),
        Channel.VOICE: NotConfiguredProvider(),
        Channel.SLACK: NotConfiguredProvider(),
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
