"""Reads of Settings -> Slack: where Slack sends the owner back, the workspace's channel
directory, the organization's services with the channel each posts to, and the workspace's
rate limit as the page words it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.urls import reverse

from integrations.slack import selectors as slack_selectors
from integrations.slack.models import SlackChannel, SlackWorkspace
from opsduty.models import Organization, Service
from opsduty.paging import Page, page_of
from opsduty.tenancy import scoped

__all__ = [
    "ServiceChannel",
    "channel_get",
    "channel_list",
    "rate_limited_until",
    "redirect_uri",
    "service_channel_list",
    "service_page",
]


def redirect_uri() -> str:
    """The OAuth callback on this server's public address (the manifest's redirect URL)."""
    return slack_selectors.public_url(reverse("slack_oauth_callback"))


def channel_list(*, workspace: SlackWorkspace) -> list[SlackChannel]:
    """The workspace's channels as the directory last listed them, by name."""
    return list(SlackChannel.objects.filter(workspace=workspace).order_by("name", "channel_id"))


def channel_get(*, workspace: SlackWorkspace, channel_id: str) -> SlackChannel | None:
    """The directory's channel `channel_id` of the workspace, if listed."""
    if not channel_id:
        return None
    return SlackChannel.objects.filter(workspace=workspace, channel_id=channel_id).first()


@dataclass(frozen=True)
class ServiceChannel:
    """A service and where its incidents are posted: `channel_id` is the directory's channel
    its `slack_channel` names ("" for the organization's default, or a name not found)."""

    service: Service
    channel_id: str

    @property
    def unknown(self) -> str:
        """What the service names when the directory does not have it ("" otherwise)."""
        written = self.service.slack_channel.strip()
        return written if written and not self.channel_id else ""


def service_page(*, organization: Organization, params: Mapping[str, Any]) -> Page[Service]:
    """The page of the organization's services, by name, that the query string asks for (an
    organization may have thousands: each row carries a form with the channel directory)."""
    return page_of(scoped(Service, organization), params, ordering=("name", "id"))


def service_channel_list(
    *, services: Iterable[Service], directory: list[SlackChannel]
) -> list[ServiceChannel]:
    """These services, each with the directory's channel it names (by "#name" or by id, as
    `channels.channel_for_incident` reads it)."""
    ids = {channel.channel_id for channel in directory}
    by_name = {channel.name: channel.channel_id for channel in directory}
    rows = []
    for service in services:
        name = service.slack_channel.strip().lstrip("#")
        channel_id = name if name in ids else by_name.get(name.lower(), "")
        rows.append(ServiceChannel(service=service, channel_id=channel_id))
    return rows


def rate_limited_until(*, workspace: SlackWorkspace, now: datetime) -> str:
    """The end of the rate limit as "HH:MM:SS" (UTC) while it lasts, else ""."""
    until = workspace.rate_limited_until
    if until is None or until <= now:
        return ""
    return until.astimezone(UTC).strftime("%H:%M:%S")
