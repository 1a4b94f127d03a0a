"""What Slack calls (the request URLs of docs/slack-app-manifest.yml): slash commands,
interactions (buttons, modals, shortcuts) and events. Every view checks Slack's signature
first (security.py) and answers within Slack's 3 seconds: the work is queued on Celery
(tasks.py); only `views.open`, whose trigger id expires in 3 s, is called at once."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse

from integrations.slack import buttons, selectors
from integrations.slack.commands import modals
from integrations.slack.commands import services as commands
from integrations.slack.receipts import receipt_first
from integrations.slack.security import slack_signed
from integrations.slack.setup import services as setup

logger = logging.getLogger(__name__)

NOT_CONNECTED = (
    "This Slack workspace is not connected to OpsDuty. An owner connects it in OpsDuty: "
    "Settings, Slack, Add to Slack."
)


def _answer(body: dict[str, Any] | None) -> HttpResponse:
    """Slack's empty acknowledgement, or a JSON answer (a message, or a modal's errors)."""
    if body is None:
        return HttpResponse(status=200)
    return JsonResponse(body)


def _bad(reason: str) -> HttpResponse:
    return HttpResponse(reason, status=400, content_type="text/plain")


@slack_signed
def slack_commands(request: HttpRequest) -> HttpResponseBase:
    """A slash command (`/opsduty`, `/who`, `/trigger`), form-encoded."""
    form = request.POST.dict()
    workspace = selectors.workspace_for_team(form.get("team_id", ""))
    if workspace is None:
        return _answer({"response_type": "ephemeral", "text": NOT_CONNECTED})
    return _answer(commands.command_receive(workspace=workspace, form=form))


def _payload(request: HttpRequest) -> dict[str, Any] | None:
    try:
        payload = json.loads(request.POST.get("payload", ""))
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _team_id(payload: dict[str, Any]) -> str:
    team = payload.get("team") or {}
    user = payload.get("user") or {}
    return str((team.get("id") if isinstance(team, dict) else "") or user.get("team_id") or "")


@slack_signed
def slack_interactions(request: HttpRequest) -> HttpResponseBase:
    """Buttons and menus (`block_actions`), modal submissions and shortcuts."""
    payload = _payload(request)
    if payload is None:
        return _bad("The payload is not a JSON object.")
    workspace = selectors.workspace_for_team(_team_id(payload))
    kind = payload.get("type")
    if workspace is None:
        return _answer(None)  # an app removed from its organization: nothing to do
    if kind == "block_actions":
        return _answer(buttons.actions_receive(workspace=workspace, payload=payload))
    if kind == "view_submission":
        return _answer(modals.view_submission_receive(workspace=workspace, payload=payload))
    if kind in ("message_action", "shortcut"):
        return _answer(modals.shortcut_receive(workspace=workspace, payload=payload))
    return _answer(None)  # view_closed and what we do not use


@slack_signed
def slack_events(request: HttpRequest) -> HttpResponseBase:
    """The Events API: the URL check, and the events we subscribe to (uninstall, revoke)."""
    try:
        body = json.loads(request.body)
    except ValueError:
        return _bad("The body is not JSON.")
    if not isinstance(body, dict):
        return _bad("The body is not a JSON object.")
    if body.get("type") == "url_verification":
        return JsonResponse({"challenge": str(body.get("challenge", ""))})
    if body.get("type") != "event_callback":
        return _answer(None)
    event_id = str(body.get("event_id") or "")
    if not event_id:
        return _bad("An event_callback without event_id.")
    retry = request.headers.get("X-Slack-Retry-Num")
    if not receipt_first(f"event:{event_id}"):
        logger.info("slack event %s seen before (retry %s): acknowledged", event_id, retry)
        return _answer(None)
    setup.event_receive(team_id=str(body.get("team_id") or ""), body=body)
    return _answer(None)
