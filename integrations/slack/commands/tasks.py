"""The commands' Celery tasks (queue `notify`, like every `slack.*` task): the answers that
come after Slack's 3 seconds, through the command's response_url or a message."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from integrations.slack.commands import services
from integrations.slack.commands.modals import TriggerJob
from integrations.slack.respond import response_post

__all__ = ["command", "respond", "trigger"]


@shared_task(name="slack.command", acks_late=True)
def command(job: dict[str, Any]) -> str:
    """`/opsduty incidents` or `/who`, answered through the response_url."""
    return services.command_run(services.Command(**job))


@shared_task(name="slack.trigger", acks_late=True)
def trigger(job: dict[str, Any]) -> str:
    """A submitted trigger modal: the incident, and its number told to the person."""
    return services.slack_incident_trigger(TriggerJob(**job))


@shared_task(name="slack.respond", acks_late=True)
def respond(response_url: str, text: str) -> bool:
    """A refusal answered through a response_url (a shortcut's request shows nothing)."""
    return response_post(response_url, text)
