"""Slack as a notification channel (the provider `settings.OPSDUTY_NOTIFICATION_PROVIDERS`
names for `slack`): a DM to the person, the incident's message with its buttons, kept
current like the channel's message afterwards.

`send` runs between the outbox's claim and its record (escalations/notifications/services.py),
with no transaction open, so delivery, failure and retries show on the timeline like any
channel: not connected or not linked is `not_configured`; a person who left the workspace
fails for good; a 429 is retried after its Retry-After; Slack being down is retried with the
outbox's backoff. A notification sent again after its sender died mid-send (the outbox's
lease expired) posts a second DM (`chat.postMessage` takes no idempotency key); its
`SlackMessage` row then follows the newest one.
"""

from __future__ import annotations

from slack_sdk.errors import SlackClientError

from escalations.notifications.models import Notification
from escalations.notifications.providers import ChannelNotConfigured, DeliveryError, Receipt
from incidents.models import Incident
from integrations.slack import selectors
from integrations.slack.client import slack_client
from integrations.slack.errors import failure_of
from integrations.slack.messages.blocks import incident_rendered
from integrations.slack.messages.services import message_digest, workspace_failure_record
from integrations.slack.models import MessageKind, SlackMessage, SlackUserLink

__all__ = ["SlackProvider"]


class SlackProvider:
    """One DM per notification, with the incident's buttons."""

    def send(self, notification: Notification) -> Receipt:
        workspace = selectors.workspace_for_organization(notification.organization_id)
        if workspace is None:
            raise ChannelNotConfigured("Slack is not connected (Settings, Slack)")
        user = notification.user
        link = SlackUserLink.objects.filter(user=user, workspace=workspace).first()
        if link is None:
            raise ChannelNotConfigured(
                f"{user.get_full_name()} has not linked a Slack account (/opsduty account link)"
            )
        incident = (
            Incident.objects.select_related("service", "parent")
            .prefetch_related("labels")
            .get(pk=notification.incident_id)
        )
        rendered = incident_rendered(incident, dm=True)
        try:
            answer = slack_client(workspace.bot_token).chat_postMessage(
                channel=link.slack_user_id,
                text=rendered.text,
                blocks=rendered.blocks,
                unfurl_links=False,
                unfurl_media=False,
            )
        except (SlackClientError, OSError) as error:
            failure = failure_of(error)
            if failure.installation_gone or failure.code == "ratelimited":
                workspace_failure_record(workspace, failure)
            if failure.recipient_gone:
                raise DeliveryError(
                    f"{user.get_full_name()} is not in the Slack workspace ({failure.code})",
                    permanent=True,
                ) from error
            raise DeliveryError(
                failure.message,
                permanent=failure.retry_after is None,
                retry_after=failure.retry_after if failure.code == "ratelimited" else None,
            ) from error
        SlackMessage.objects.update_or_create(
            notification=notification,
            defaults={
                "organization_id": notification.organization_id,
                "incident": incident,
                "workspace": workspace,
                "kind": MessageKind.DM,
                "channel_id": str(answer.get("channel") or link.slack_user_id),
                "ts": str(answer["ts"]),
                "rendered_hash": message_digest(rendered.text, rendered.blocks),
            },
        )
        return Receipt(answer="sent as a Slack DM", provider_id=str(answer["ts"]))
