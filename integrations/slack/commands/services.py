"""Slash commands: `/opsduty help | account link | account unlink | incidents`, `/who
[service]`, `/trigger` (opens the trigger modal at once, modals.py).

Slack wants an answer within 3 s. Help, linking and unlinking answer in the request (a
single insert or delete); `/opsduty incidents` and `/who` are queued (`slack.command`) and
answered through the command's `response_url`; `/trigger` opens its modal in the request
(its trigger id expires in 3 s). Every command acts as the Slack user's linked OpsDuty
person, within their organization and with their role; unlinked users are told how to link.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from slack_sdk.errors import SlackClientError

from incidents.ingest.services import incident_trigger
from integrations.slack import selectors, texts
from integrations.slack.client import slack_client
from integrations.slack.commands import modals
from integrations.slack.commands import selectors as answers
from integrations.slack.errors import failure_of
from integrations.slack.linking import services as linking
from integrations.slack.models import SlackWorkspace
from integrations.slack.receipts import receipt_first
from integrations.slack.respond import ephemeral_post, response_post
from opsduty.queue import enqueue

__all__ = [
    "Command",
    "command_receive",
    "command_run",
    "slack_incident_trigger",
]

logger = logging.getLogger(__name__)

HELP = [
    ("/opsduty help", "this list"),
    ("/opsduty account link", "link your Slack account to your OpsDuty account"),
    ("/opsduty account unlink", "unlink it"),
    ("/opsduty incidents", "the open incidents of your teams"),
    ("/who [service]", "who is on call now (for one service, or for each of your teams')"),
    ("/trigger [summary]", "open an incident (a form: service, summary, urgency)"),
    ("Create incident from message", "a message shortcut (the message's ⋮ menu)"),
]


@dataclass(frozen=True)
class Command:
    """A command answered later (`slack.command`): who asked, what, and where to answer."""

    workspace_id: int
    slack_user_id: str
    name: str  # "incidents" or "who"
    text: str
    response_url: str


def _ephemeral(text: str, blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"response_type": "ephemeral", "text": text}
    if blocks:
        answer["blocks"] = blocks
    return answer


def _help(first: str = "") -> dict[str, Any]:
    lines = "\n".join(f"• `{command}`: {what}" for command, what in HELP)
    head = f"{first}\n" if first else ""
    text = f"{head}*OpsDuty commands*\n{lines}"
    return _ephemeral(text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}])


def _account_link(workspace: SlackWorkspace, form: dict[str, str]) -> dict[str, Any]:
    slack_user_id = form.get("user_id", "")
    link = selectors.link_for_slack_user(workspace, slack_user_id)
    if link is not None:
        who = answers.person_name(link.user)
        return _ephemeral(
            f"Your Slack account is linked to the OpsDuty account of {who} "
            f"({link.user.email}) already. To link another, type `/opsduty account unlink` "
            "first."
        )
    token = linking.link_request_create(
        workspace=workspace, slack_user_id=slack_user_id, slack_name=form.get("user_name", "")
    )
    url = selectors.public_url(reverse("slack_link", kwargs={"token": token}))
    text = (
        f"Open this link, signed in to OpsDuty, to link your Slack account: <{url}|{url}>\n"
        "It works once and expires in 10 minutes. Do not share it."
    )
    return _ephemeral(text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}])


def _account_unlink(workspace: SlackWorkspace, form: dict[str, str]) -> dict[str, Any]:
    user = linking.slack_user_unlink(workspace=workspace, slack_user_id=form.get("user_id", ""))
    if user is None:
        return _ephemeral("Your Slack account is not linked to an OpsDuty account.")
    return _ephemeral(
        f"Unlinked: your Slack account is no longer the OpsDuty account {user.email}. "
        "Type `/opsduty account link` to link one again."
    )


def _later(workspace: SlackWorkspace, form: dict[str, str], name: str, text: str) -> None:
    command = Command(
        workspace_id=workspace.pk,
        slack_user_id=form.get("user_id", ""),
        name=name,
        text=text,
        response_url=form.get("response_url", ""),
    )
    transaction.on_commit(lambda: enqueue("slack.command", (asdict(command),)))


def _opsduty(workspace: SlackWorkspace, form: dict[str, str], words: list[str]) -> dict[str, Any]:
    if words in ([], ["help"]):
        return _help()
    if words == ["account", "link"]:
        return _account_link(workspace, form)
    if words == ["account", "unlink"]:
        return _account_unlink(workspace, form)
    return _help(f"Unknown command `/opsduty {' '.join(words)}`.")


def command_receive(*, workspace: SlackWorkspace, form: dict[str, str]) -> dict[str, Any] | None:
    """Answer a slash command within 3 s: an immediate JSON message, or None (empty 200) when
    the answer comes later through the `response_url` (work queued on Celery)."""
    command = form.get("command", "").strip().lower()
    text = " ".join(form.get("text", "").split())
    if not form.get("user_id"):
        return _ephemeral("Slack did not say who typed the command.")
    if command == "/opsduty":
        words = text.lower().split()
        if words == ["incidents"]:
            _later(workspace, form, "incidents", "")
            return None
        return _opsduty(workspace, form, words)
    if command == "/who":
        _later(workspace, form, "who", text)
        return None
    if command == "/trigger":
        return modals.trigger_command(workspace=workspace, form=form, text=text)
    return _help(f"Unknown command `{command}`.")


def command_run(command: Command) -> str:
    """Answer a queued command through its response_url, as the Slack user's person."""
    workspace = SlackWorkspace.objects.filter(pk=command.workspace_id).first()
    if workspace is None:
        return "no workspace"
    link = selectors.link_for_slack_user(workspace, command.slack_user_id)
    if link is None:
        answer = texts.NOT_LINKED
    elif command.name == "incidents":
        answer = answers.incidents_answer(link.user)
    elif command.name == "who":
        answer = answers.oncall_answer(link.user, command.text)
    else:
        return "unknown command"
    response_post(command.response_url, answer)
    return answer


def _tell(workspace: SlackWorkspace, job: modals.TriggerJob, text: str) -> None:
    """An ephemeral message in the channel the person started from, else a DM."""
    if job.channel_id and ephemeral_post(
        workspace, channel=job.channel_id, user=job.slack_user_id, text=text
    ):
        return
    try:
        slack_client(workspace.bot_token).chat_postMessage(channel=job.slack_user_id, text=text)
    except (SlackClientError, OSError) as error:
        logger.warning("slack trigger answer not sent: %s", failure_of(error).message)


def _permalink(workspace: SlackWorkspace, job: modals.TriggerJob) -> str:
    """The link back to the shortcut's message ("" when there is none or Slack refused)."""
    if not (job.message_channel_id and job.message_ts):
        return ""
    try:
        answer = slack_client(workspace.bot_token).chat_getPermalink(
            channel=job.message_channel_id, message_ts=job.message_ts
        )
    except (SlackClientError, OSError) as error:
        logger.warning("slack permalink not found: %s", failure_of(error).message)
        return ""
    return str(answer.get("permalink") or "")


def _trigger(workspace: SlackWorkspace, job: modals.TriggerJob) -> str:
    """Open the incident as the person (checked again: they may have been unlinked or lost
    their team since the modal opened); what to tell them."""
    link = selectors.link_for_slack_user(workspace, job.slack_user_id)
    if link is None:
        return texts.NOT_LINKED
    user = link.user
    if user.is_stakeholder:
        return texts.STAKEHOLDER
    service = answers.triggerable_services(user).filter(pk=job.service_id).first()
    if service is None:
        return "You may no longer trigger incidents on that service: no incident was opened."
    description = job.description
    if job.message_ts:
        permalink = _permalink(workspace, job)
        origin = f"From Slack: {permalink}" if permalink else "From a Slack message."
        description = f"{description}\n\n{origin}" if description else origin
    with transaction.atomic():
        # One incident per submitted modal, even when the task is delivered twice.
        if job.view_id and not receipt_first(f"trigger:{workspace.pk}:{job.view_id}"):
            return ""
        try:
            incident = incident_trigger(
                service=service,
                by=user,
                summary=job.summary,
                description=description,
                urgency=job.urgency,
            )
        except ValidationError as error:
            transaction.set_rollback(True)
            return f"No incident was opened: {' '.join(error.messages)}"
    url = selectors.public_url(reverse("incident_short_link", kwargs={"incident_id": incident.pk}))
    return f"Incident #{incident.number} triggered: {url}"


def slack_incident_trigger(job: modals.TriggerJob) -> str:
    """A submitted trigger modal: open the incident through the normal pipeline (it escalates
    like any other) and tell the person its number."""
    workspace = SlackWorkspace.objects.filter(pk=job.workspace_id).first()
    if workspace is None:
        return "no workspace"
    answer = _trigger(workspace, job)
    if answer:
        _tell(workspace, job, answer)
    return answer or "done before"
