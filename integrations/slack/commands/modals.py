"""The trigger modal (`/trigger`, the "Create incident from message" shortcut) and its
submission.

Both open the modal at once in the request (`views.open`: the trigger id expires 3 s after
Slack issued it), offering only the services the person may trigger on. A submission is
checked in the request and answered with Slack's per-field errors; a valid one is queued
(`slack.trigger`) and the modal closes. The shortcut's permalink is not fetched in the
request (one Slack call there is enough): the modal carries the message's channel and ts,
and the task asks `chat.getPermalink` before it writes the incident's description.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import Any

from django.db import transaction
from slack_sdk.errors import SlackClientError

from integrations.slack import selectors, texts
from integrations.slack.client import slack_client
from integrations.slack.commands.selectors import triggerable_services
from integrations.slack.errors import failure_of
from integrations.slack.models import SlackWorkspace
from opsduty.choices import SUMMARY_MAX_LENGTH, Urgency
from opsduty.models import User
from opsduty.queue import enqueue

__all__ = [
    "DESCRIPTION_MAX_LENGTH",
    "SHORTCUT_CALLBACK_ID",
    "TRIGGER_CALLBACK_ID",
    "TriggerJob",
    "shortcut_receive",
    "trigger_command",
    "view_submission_receive",
]

logger = logging.getLogger(__name__)

TRIGGER_CALLBACK_ID = "trigger_incident"
SHORTCUT_CALLBACK_ID = "create_incident_from_message"
# Slack's limit for a plain_text_input (and so for what the modal can carry).
DESCRIPTION_MAX_LENGTH = 3000
SUMMARY_INPUT_MAX_LENGTH = min(SUMMARY_MAX_LENGTH, 3000)
OPTIONS_MAX = 100  # a static_select offers at most 100 options
OPTION_TEXT_MAX = 75
OPEN_FAILURES = {
    "expired_trigger_id": "Slack's form request expired before OpsDuty could answer it "
    "(expired_trigger_id)",
    "invalid_trigger_id": "Slack did not accept the form request (invalid_trigger_id)",
}
NO_SERVICES = (
    "You cannot trigger incidents on any service: only owners, and members of a service's "
    "team, can."
)


@dataclass(frozen=True)
class TriggerJob:
    """A valid submission of the trigger modal, as queued (`slack.trigger`)."""

    workspace_id: int
    slack_user_id: str
    view_id: str
    service_id: int
    summary: str
    description: str
    urgency: str
    channel_id: str  # where the person is told ("" : a DM)
    message_channel_id: str = ""  # the shortcut's message, to link back to
    message_ts: str = ""


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _option(text: str, value: str) -> dict[str, Any]:
    if len(text) > OPTION_TEXT_MAX:
        text = text[: OPTION_TEXT_MAX - 1] + "…"
    return {"text": _plain(text), "value": value}


def _input(block_id: str, label: str, element: dict[str, Any]) -> dict[str, Any]:
    element = {**element, "action_id": block_id}
    return {"type": "input", "block_id": block_id, "label": _plain(label), "element": element}


def _text_element(initial: str, max_length: int, *, multiline: bool = False) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "max_length": max_length}
    if multiline:
        element["multiline"] = True
    if initial:
        element["initial_value"] = initial[:max_length]
    return element


def trigger_view(
    user: User, *, summary: str = "", description: str = "", metadata: dict[str, str]
) -> dict[str, Any] | None:
    """The modal for `user` (None when they may trigger on no service)."""
    services = list(triggerable_services(user)[:OPTIONS_MAX])
    if not services:
        return None
    service: dict[str, Any] = {
        "type": "static_select",
        "placeholder": _plain("Choose a service"),
        "options": [_option(s.name, str(s.pk)) for s in services],
    }
    if len(services) == 1:
        service["initial_option"] = service["options"][0]
    high = _option(Urgency.HIGH.label, Urgency.HIGH.value)
    urgency = {
        "type": "static_select",
        "options": [high, _option(Urgency.LOW.label, Urgency.LOW.value)],
        "initial_option": high,
    }
    blocks = [
        _input("service", "Service", service),
        _input("summary", "Summary", _text_element(summary, SUMMARY_INPUT_MAX_LENGTH)),
        {
            **_input(
                "description",
                "Description",
                _text_element(description, DESCRIPTION_MAX_LENGTH, multiline=True),
            ),
            "optional": True,
        },
        _input("urgency", "Urgency", urgency),
    ]
    if metadata.get("message_ts"):
        note = "The incident's description will link back to the Slack message."
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
    return {
        "type": "modal",
        "callback_id": TRIGGER_CALLBACK_ID,
        "title": _plain("New incident"),
        "submit": _plain("Trigger"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps(metadata),
        "blocks": blocks,
    }


def _modal_open(workspace: SlackWorkspace, trigger_id: str, view: dict[str, Any]) -> str | None:
    """Open `view` now (`views.open`); None, or why it did not open."""
    try:
        slack_client(workspace.bot_token).views_open(trigger_id=trigger_id, view=view)
    except (SlackClientError, OSError) as error:
        failure = failure_of(error)
        logger.warning("slack views.open failed: %s", failure.code)
        return OPEN_FAILURES.get(failure.code, failure.message)
    return None


def _acting(workspace: SlackWorkspace, slack_user_id: str) -> User | str:
    """The Slack user's OpsDuty person, if they may trigger at all; else why not."""
    link = selectors.link_for_slack_user(workspace, slack_user_id)
    if link is None:
        return texts.NOT_LINKED
    if link.user.is_stakeholder:
        return texts.STAKEHOLDER
    return link.user


def _form_open(
    workspace: SlackWorkspace,
    slack_user_id: str,
    trigger_id: str,
    metadata: dict[str, str],
    **prefill: str,
) -> str | None:
    """Open the trigger modal for the Slack user's person; None, or what to tell them."""
    user = _acting(workspace, slack_user_id)
    if isinstance(user, str):
        return user
    view = trigger_view(user, metadata=metadata, **prefill)
    if view is None:
        return NO_SERVICES
    failure = _modal_open(workspace, trigger_id, view)
    if failure is not None:
        return f"The incident form could not open: {failure}. Try again."
    return None


def trigger_command(
    *, workspace: SlackWorkspace, form: dict[str, str], text: str
) -> dict[str, Any] | None:
    """`/trigger [summary]`: open the modal at once (None), or an ephemeral refusal."""
    answer = _form_open(
        workspace,
        form.get("user_id", ""),
        form.get("trigger_id", ""),
        {"channel_id": form.get("channel_id", "")},
        summary=text[:SUMMARY_INPUT_MAX_LENGTH],
    )
    return None if answer is None else {"response_type": "ephemeral", "text": answer}


def _slack_unescaped(text: str) -> str:
    """Message text as people typed it (Slack escapes its three control characters)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _first_line(text: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return " ".join(line.split())[:SUMMARY_INPUT_MAX_LENGTH]


def _id_of(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    return str(value.get("id") or "") if isinstance(value, dict) else ""


def shortcut_receive(
    *, workspace: SlackWorkspace, payload: dict[str, Any]
) -> dict[str, Any] | None:
    """A message shortcut: open the trigger modal prefilled from the message (at once)."""
    if payload.get("callback_id") != SHORTCUT_CALLBACK_ID:
        return None
    message = payload.get("message")
    message = message if isinstance(message, dict) else {}
    text = _slack_unescaped(str(message.get("text") or ""))
    channel_id = _id_of(payload, "channel")
    answer = _form_open(
        workspace,
        _id_of(payload, "user"),
        str(payload.get("trigger_id") or ""),
        {
            "channel_id": channel_id,
            "message_channel_id": channel_id,
            "message_ts": str(message.get("ts") or payload.get("message_ts") or ""),
        },
        summary=_first_line(text),
        description=text[:DESCRIPTION_MAX_LENGTH],
    )
    response_url = str(payload.get("response_url") or "")
    if answer is not None and response_url:
        # A shortcut's HTTP answer shows nothing: the refusal goes through its response_url,
        # from a task (no Slack call in the request but views.open).
        transaction.on_commit(lambda: enqueue("slack.respond", (response_url, answer)))
    return None


def _value(values: dict[str, Any], block_id: str) -> dict[str, Any]:
    block = values.get(block_id)
    element = block.get(block_id) if isinstance(block, dict) else None
    return element if isinstance(element, dict) else {}


def _selected(values: dict[str, Any], block_id: str) -> str:
    option = _value(values, block_id).get("selected_option")
    return str(option.get("value") or "") if isinstance(option, dict) else ""


def _metadata(view: dict[str, Any]) -> dict[str, str]:
    try:
        data = json.loads(str(view.get("private_metadata") or "{}"))
    except ValueError:
        return {}
    return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _errors(user: User | str, values: dict[str, Any]) -> dict[str, str]:
    """Slack's per-field errors (block id -> message) of a submission by `user` (a refusal
    shows on the service field: the modal has no other place for it)."""
    if isinstance(user, str):
        return {"service": user}
    errors = {}
    raw = _selected(values, "service")
    if not (raw.isdigit() and triggerable_services(user).filter(pk=int(raw)).exists()):
        errors["service"] = "Choose one of the services you may trigger incidents on."
    summary = str(_value(values, "summary").get("value") or "").strip()
    if not summary:
        errors["summary"] = "An incident needs a summary."
    elif len(summary) > SUMMARY_MAX_LENGTH:
        errors["summary"] = f"At most {SUMMARY_MAX_LENGTH} characters."
    description = str(_value(values, "description").get("value") or "")
    if len(description) > DESCRIPTION_MAX_LENGTH:
        errors["description"] = f"At most {DESCRIPTION_MAX_LENGTH} characters."
    if _selected(values, "urgency") not in Urgency.values:
        errors["urgency"] = "Choose high or low."
    return errors


def view_submission_receive(
    *, workspace: SlackWorkspace, payload: dict[str, Any]
) -> dict[str, Any] | None:
    """A modal was submitted: per-field errors (`response_action: errors`) or None (close)."""
    view = payload.get("view")
    if not isinstance(view, dict) or view.get("callback_id") != TRIGGER_CALLBACK_ID:
        return None
    slack_user_id = _id_of(payload, "user")
    state = view.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    values = values if isinstance(values, dict) else {}
    errors = _errors(_acting(workspace, slack_user_id), values)
    if errors:
        return {"response_action": "errors", "errors": errors}
    metadata = _metadata(view)
    job = TriggerJob(
        workspace_id=workspace.pk,
        slack_user_id=slack_user_id,
        view_id=str(view.get("id") or ""),
        service_id=int(_selected(values, "service")),
        summary=str(_value(values, "summary").get("value") or "").strip(),
        description=str(_value(values, "description").get("value") or "").strip(),
        urgency=_selected(values, "urgency"),
        channel_id=metadata.get("channel_id", ""),
        message_channel_id=metadata.get("message_channel_id", ""),
        message_ts=metadata.get("message_ts", ""),
    )
    transaction.on_commit(lambda: enqueue("slack.trigger", (asdict(job),)))
    return None
