"""The stand-in for channels without a provider yet (SMS, voice, Slack): it never pretends."""

from __future__ import annotations

from typing import TYPE_CHECKING

from escalations.notifications.providers import ChannelNotConfigured, Receipt

if TYPE_CHECKING:
    from escalations.notifications.models import Notification


class NotConfiguredProvider:
    """Refuses every notification: the outbox row becomes `not_configured`, nothing is sent."""

    def send(self, notification: Notification) -> Receipt:
        raise ChannelNotConfigured("channel not configured")
