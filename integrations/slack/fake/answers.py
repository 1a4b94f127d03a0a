"""What the app's answers do in the fake Slack, as Slack would show them: a slash command's
immediate answer, a view submission's `response_action`, and POSTs to response URLs (checked:
30 minutes, 5 uses). Callers hold the state lock."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from integrations.slack.fake.blocks import parse_blocks, parse_view
from integrations.slack.fake.model import (
    RESPONSE_URL_TTL,
    RESPONSE_URL_USES,
    ApiError,
    AppAnswer,
    Json,
    Message,
    ResponsePost,
    ResponseUrl,
    View,
    new_hash,
)
from integrations.slack.fake.outbound import is_json

if TYPE_CHECKING:
    from integrations.slack.fake.interactions import Interactions as FakeSlack


def bot_post(fake: FakeSlack, team_id: str, channel_id: str, body: Json) -> Message:
    """A message from the app, as an in_channel answer puts it in the channel."""
    text, blocks = str(body.get("text") or ""), parse_blocks(body.get("blocks"))
    thread_ts = str(body.get("thread_ts") or "") or None
    return fake.state.bot_post(team_id, channel_id, text, blocks, thread_ts)


def show_command_answer(
    fake: FakeSlack, team_id: str, user_id: str, channel_id: str, command: str, answer: AppAnswer
) -> None:
    """A JSON answer is a message (ephemeral unless in_channel), text an ephemeral one; a
    failure shows Slack's own complaint to the user."""
    state, body = fake.state, answer.json
    failure = "dispatch_failed" if answer.status != 200 else ""
    try:
        if failure:
            pass
        elif is_json(answer) and body.get("response_type") == "in_channel":
            bot_post(fake, team_id, channel_id, body)
        elif is_json(answer) and (body.get("text") or body.get("blocks")):
            text, blocks = str(body.get("text") or ""), parse_blocks(body.get("blocks"))
            state.ephemeral(channel_id, user_id, text, blocks)
        elif not is_json(answer) and answer.body.strip():
            state.ephemeral(channel_id, user_id, answer.body.decode("utf-8", "replace"), [])
    except ApiError as error:
        failure = error.error
    if failure:
        state.ephemeral(channel_id, user_id, f'{command} failed with the error "{failure}"', [])


def apply_view_answer(fake: FakeSlack, view: View, answer: AppAnswer) -> None:
    """Empty 200 closes the view; response_action errors / update / push / clear as Slack."""
    body = answer.json if isinstance(answer.json, dict) else {}
    action = body.get("response_action") if answer.status == 200 else "failed"
    try:
        if action == "failed":
            view.errors = {"": f"We had some trouble connecting (HTTP {answer.status})."}
        elif action == "errors":
            view.errors = {str(k): str(v) for k, v in (body.get("errors") or {}).items()}
        elif action == "update":
            view.view, view.hash, view.errors = parse_view(body.get("view")), new_hash(), {}
            view.submitted = {}
        elif action == "push":
            fake.api.add_view("", view.team_id, view.user_id, parse_view(body.get("view")), view)
            view.errors = {}
        elif action == "clear":
            for other in fake.state.views.values():
                other.closed = other.closed or other.root_view_id == view.root_view_id
        else:
            view.closed = True
    except ApiError as error:
        view.errors = {"": f"The app answered an invalid view ({error.error})."}
    fake.state.changed()


def response_post(fake: FakeSlack, url_id: str, raw: bytes) -> tuple[int, Json]:
    """A POST to a response_url: checked, recorded in `fake.responses()`, applied."""
    state = fake.state
    with state.lock:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        hook = state.response_urls.get(url_id)
        status, error, did = 404, "", ""
        if hook is None:
            error = "no_active_hooks"
        elif state.clock() - hook.created > RESPONSE_URL_TTL:
            error = "expired_url"
        elif hook.uses >= RESPONSE_URL_USES:
            error = "used_url"
        elif not isinstance(body, dict):
            status, error = 400, "invalid_payload"
        else:
            hook.uses += 1
            try:
                did, status = apply_response(fake, hook, body), 200
            except ApiError as failure:
                status, error = 400, failure.error
        record = body if isinstance(body, dict) else {}
        state.responses.append(ResponsePost(url_id, record, did or f"rejected: {error}", status))
        state.changed()
        return status, {"ok": False, "error": error} if error else {"ok": True}


def truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def apply_response(fake: FakeSlack, hook: ResponseUrl, body: Json) -> str:
    """delete_original, replace_original (when there is an original), in_channel, else an
    ephemeral message to the user who acted; what was done."""
    state = fake.state
    original = state.message(hook.channel_id, hook.message_ts) if hook.message_ts else None
    ephemeral = next(
        (e for e in state.ephemerals if e.channel == hook.channel_id and e.ts == hook.message_ts),
        None,
    )
    if truthy(body.get("delete_original")):
        if original is None and ephemeral is None:
            raise ApiError("message_not_found")
        if original is not None:
            state.delete(original)
        elif ephemeral is not None:
            state.ephemerals.remove(ephemeral)
        return "deleted"
    text, blocks = str(body.get("text") or ""), parse_blocks(body.get("blocks"))
    if truthy(body.get("replace_original")) and original is not None:
        state.update(original, text, blocks)
        return "replaced"
    if truthy(body.get("replace_original")) and ephemeral is not None:
        ephemeral.text, ephemeral.blocks = text, blocks
        return "replaced"
    if body.get("response_type") == "in_channel":
        bot_post(fake, hook.team_id, hook.channel_id, body)
        return "in_channel"
    if not text and not blocks:
        raise ApiError("no_text")
    state.ephemeral(hook.channel_id, hook.user_id, text, blocks)
    return "ephemeral"
