"""Slack's Celery tasks (queue `notify`, opsduty/celery.py): keeping incident messages
current, and the buttons pressed in Slack. A wait (the channel's pace, a 429's Retry-After)
re-queues with a countdown: no task sleeps."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from integrations.slack import buttons
from integrations.slack.messages import services as messages

__all__ = ["button_press", "incidents_sync", "message_sync_later"]


def _later(waits: list[messages.SyncLater]) -> None:
    for wait in waits:
        message_sync_later.apply_async(args=(wait.message_id,), countdown=wait.seconds)


@shared_task(name="slack.incidents_sync", acks_late=True)
def incidents_sync(incident_ids: list[int]) -> int:
    """Bring the Slack messages of these incidents to their current state."""
    for incident_id in incident_ids:
        _later(messages.incident_messages_sync(incident_id=incident_id))
    return len(incident_ids)


@shared_task(name="slack.message_sync_later", acks_late=True)
def message_sync_later(message_id: int) -> str:
    """The one waiting sync of a message, run when its turn came."""
    try:
        return messages.message_sync(message_id=message_id, retried=True)
    except messages.SyncLater as wait:
        if messages.later_claim(message_id, wait.seconds):
            _later([wait])
        return "waiting"


@shared_task(name="slack.button_press", acks_late=True)
def button_press(press: dict[str, Any]) -> str:
    """A button or menu pressed on an incident message (buttons.py)."""
    return buttons.button_press(buttons.Press(**press))
