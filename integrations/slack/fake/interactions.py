"""What people do in the fake Slack, turned into the requests Slack sends the app (slash
commands, block actions, modal submissions, message shortcuts, events), and what the app's
answers and its response_url posts do to the channels, as Slack would show them.

The payloads follow https://api.slack.com/reference/interaction-payloads. Each function builds
its payload under the lock, sends without it (the app calls the Web API back meanwhile), and
applies the answer under the lock again."""

from __future__ import annotations

import json
import secrets
import time
from typing import TYPE_CHECKING, Any

from integrations.slack.fake.api import new_hash, parse_blocks, parse_view
from integrations.slack.fake.model import (
    RESPONSE_URL_TTL,
    RESPONSE_URL_USES,
    ApiError,
    AppAnswer,
    Channel,
    FakeError,
    Json,
    Message,
    ResponsePost,
    ResponseUrl,
    Team,
    User,
    View,
    new_id,
    plain,
)
from integrations.slack.fake.outbound import (
    COMMANDS_PATH,
    EVENTS_PATH,
    INTERACTIONS_PATH,
    form_body,
    is_json,
    json_body,
    payload_body,
)

if TYPE_CHECKING:
    from integrations.slack.fake.server import FakeSlack

FORM = "application/x-www-form-urlencoded"
ONE_OPTION = {"static_select", "radio_buttons", "external_select", "overflow"}
MANY_OPTIONS = {"multi_static_select", "checkboxes"}
SELECTED = {
    "datepicker": "selected_date",
    "timepicker": "selected_time",
    "users_select": "selected_user",
    "conversations_select": "selected_conversation",
    "channels_select": "selected_channel",
    "multi_users_select": "selected_users",
    "multi_conversations_select": "selected_conversations",
    "multi_channels_select": "selected_channels",
}
REQUIRED = "Please complete this required field."


def team_ref(team: Team) -> Json:
    return {"id": team.id, "domain": team.domain}


def user_ref(user: User) -> Json:
    return {"id": user.id, "username": user.name, "name": user.name, "team_id": user.team_id}


def channel_ref(channel: Channel) -> Json:
    return {"id": channel.id, "name": "directmessage" if channel.is_im else channel.name}


def common(fake: FakeSlack, kind: str, team: Team, user: User) -> Json:
    """The fields every interaction payload has, with a fresh single-use trigger_id."""
    return {
        "type": kind,
        "team": team_ref(team),
        "user": user_ref(user),
        "api_app_id": fake.app_id,
        "token": fake.verification_token,
        "trigger_id": fake.state.new_trigger(team.id, user.id),
        "enterprise": None,
        "is_enterprise_install": False,
    }


def where(
    fake: FakeSlack, team_id: str, user_id: str, channel_id: str
) -> tuple[Team, User, Channel]:
    state = fake.state
    channel = state.channel_in(team_id, channel_id)
    if channel is None:
        raise FakeError(f"no channel {channel_id} in {team_id}")
    return state.team(team_id), state.member(team_id, user_id), channel


def bot_post(fake: FakeSlack, team_id: str, channel_id: str, body: Json) -> Message:
    """A message from the app, as an in_channel answer puts it in the channel (under the lock)."""
    team = fake.state.team(team_id)
    text, blocks = str(body.get("text") or ""), parse_blocks(body.get("blocks"))
    thread_ts = str(body.get("thread_ts") or "") or None
    message = Message(channel_id, fake.state.next_ts(), text, blocks, thread_ts)
    message.user, message.username, message.bot_id = team.bot_user_id, fake.app_name, team.bot_id
    return fake.state.post(message)


# ---------------------------------------------------------------------- slash commands


def slash_command(
    fake: FakeSlack, team_id: str, user_id: str, command: str, text: str, channel_id: str
) -> AppAnswer:
    with fake.state.lock:
        team, user, channel = where(fake, team_id, user_id, channel_id)
        hook = fake.state.new_response_url(team_id, channel_id, user_id)
        fields = {
            "token": fake.verification_token,
            "team_id": team_id,
            "team_domain": team.domain,
            "channel_id": channel_id,
            "channel_name": channel_ref(channel)["name"],
            "user_id": user_id,
            "user_name": user.name,
            "command": command,
            "text": text,
            "api_app_id": fake.app_id,
            "is_enterprise_install": "false",
            "response_url": fake.response_url(hook),
            "trigger_id": fake.state.new_trigger(team_id, user_id),
        }
    answer = fake.send(COMMANDS_PATH, form_body(fields), FORM)
    with fake.state.lock:
        show_command_answer(fake, team_id, user_id, channel_id, command, answer)
    return answer


def show_command_answer(
    fake: FakeSlack, team_id: str, user_id: str, channel_id: str, command: str, answer: AppAnswer
) -> None:
    """What Slack shows for the immediate answer: a message (ephemeral unless in_channel)."""
    state = fake.state
    failure = "dispatch_failed" if answer.status != 200 else ""
    if not failure and is_json(answer):
        try:
            if answer.json.get("response_type") == "in_channel":
                bot_post(fake, team_id, channel_id, answer.json)
            elif answer.json.get("text") or answer.json.get("blocks"):
                blocks = parse_blocks(answer.json.get("blocks"))
                state.ephemeral(channel_id, user_id, str(answer.json.get("text") or ""), blocks)
        except ApiError as error:
            failure = error.error
    elif not failure and answer.body.strip():
        state.ephemeral(channel_id, user_id, answer.body.decode("utf-8", "replace"), [])
    if failure:
        state.ephemeral(channel_id, user_id, f'{command} failed with the error "{failure}"', [])


# ---------------------------------------------------------------------- block actions


def click(
    fake: FakeSlack,
    team_id: str,
    user_id: str,
    channel_id: str,
    ts: str,
    action_id: str,
    value: str | None = None,
    selected_option: str | None = None,
    block_id: str | None = None,
) -> AppAnswer:
    """The user presses a button (or picks an option) in a message or an ephemeral message."""
    state = fake.state
    with state.lock:
        team, user, channel = where(fake, team_id, user_id, channel_id)
        message = state.message(channel_id, ts)
        ephemeral = next(
            (e for e in state.ephemerals if (e.channel, e.ts, e.user) == (channel_id, ts, user_id)),
            None,
        )
        if message is None and ephemeral is None:
            raise FakeError(f"no message {ts} in {channel_id} that {user_id} can see")
        blocks = message.blocks if message is not None else ephemeral.blocks  # type: ignore[union-attr]
        found, element = find_element(blocks, action_id, block_id)
        payload = common(fake, "block_actions", team, user)
        payload.update(
            container={
                "type": "message",
                "message_ts": ts,
                "channel_id": channel_id,
                "is_ephemeral": message is None,
            },
            channel=channel_ref(channel),
            state={"values": {}},
            response_url=fake.response_url(
                state.new_response_url(team_id, channel_id, user_id, ts)
            ),
            actions=[action_of(element, found, value, selected_option)],
        )
        if message is not None:
            payload["message"] = message.resource()
    return fake.send(INTERACTIONS_PATH, payload_body(payload), FORM)


def find_element(blocks: list[Json], action_id: str, block_id: str | None) -> tuple[str, Json]:
    """The interactive element with that action_id (in an actions block or as an accessory)."""
    for block in blocks:
        if block_id and block.get("block_id") != block_id:
            continue
        elements = block.get("elements", []) if block.get("type") == "actions" else []
        for element in [*elements, block.get("accessory")]:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return str(block["block_id"]), element
    raise FakeError(f"no element {action_id!r} in the message")


def options_of(element: Json) -> list[Json]:
    groups = [g.get("options", []) for g in element.get("option_groups", [])]
    return [*element.get("options", []), *(o for group in groups for o in group)]


def option_of(element: Json, value: Any) -> Json:
    if isinstance(value, dict):
        return value  # an external_select option, given whole
    for option in options_of(element):
        if option.get("value") == value:
            return option
    raise FakeError(f"no option {value!r} in {element.get('action_id')}")


def action_of(element: Json, block_id: str, value: str | None, selected: str | None) -> Json:
    kind = str(element.get("type"))
    action: Json = {
        "type": kind,
        "action_id": element["action_id"],
        "block_id": block_id,
        "action_ts": f"{time.time():.6f}",
    }
    if kind == "button":
        chosen = element.get("value") if value is None else value
        action.update(text=element.get("text"), **({"value": chosen} if chosen is not None else {}))
        if "style" in element:
            action["style"] = element["style"]
    elif kind in ONE_OPTION:
        action["selected_option"] = option_of(element, selected if selected is not None else value)
    elif value is not None:
        action["value"] = value
    return action


# ---------------------------------------------------------------------- modals


def submit_view(
    fake: FakeSlack, view_id: str, user_id: str, values: dict[str, dict[str, Any]]
) -> AppAnswer:
    """The user presses Submit. Like Slack's client, it sends nothing while a required input is
    empty (status 0, errors on the View); otherwise it applies the app's response_action."""
    state = fake.state
    with state.lock:
        view = open_view(fake, view_id, user_id)
        team, user = state.team(view.team_id), state.member(view.team_id, user_id)
        view.submitted = state_values(view.view, values)
        missing = {b: REQUIRED for b in required_missing(view.view, view.submitted)}
        if missing:
            view.errors = missing
            state.changed()
            return AppAnswer(0, b"", None, {})
        payload = common(fake, "view_submission", team, user)
        payload.update(
            view=view.resource(fake.app_id, team.bot_id, view.submitted), response_urls=[]
        )
    answer = fake.send(INTERACTIONS_PATH, payload_body(payload), FORM)
    with state.lock:
        apply_view_answer(fake, view, answer)
    return answer


def open_view(fake: FakeSlack, view_id: str, user_id: str) -> View:
    view = fake.state.views.get(view_id)
    if view is None or view.closed or view.user_id != user_id:
        raise FakeError(f"no open view {view_id} for {user_id}")
    return view


def close_view(fake: FakeSlack, view_id: str, user_id: str) -> AppAnswer | None:
    """The user presses Cancel: the view closes; a view_closed goes out if notify_on_close."""
    with fake.state.lock:
        view = open_view(fake, view_id, user_id)
        view.closed = True
        fake.state.changed()
        if not view.view.get("notify_on_close"):
            return None
        team, user = fake.state.team(view.team_id), fake.state.member(view.team_id, user_id)
        payload = common(fake, "view_closed", team, user)
        payload.update(view=view.resource(fake.app_id, team.bot_id), is_cleared=False)
    return fake.send(INTERACTIONS_PATH, payload_body(payload), FORM)


def state_values(view: Json, values: dict[str, dict[str, Any]]) -> Json:
    """`view.state.values`: every input block, with the given value or its initial one."""
    inputs = {str(b["block_id"]): b for b in view.get("blocks", []) if b.get("type") == "input"}
    unknown = set(values) - set(inputs)
    if unknown:
        raise FakeError(f"no input blocks {sorted(unknown)} in the view")
    shaped: Json = {}
    for block_id, block in inputs.items():
        element = block.get("element") or {}
        action_id = str(element.get("action_id", ""))
        given = values.get(block_id, {})
        raw = given[action_id] if action_id in given else initial_of(element)
        shaped[block_id] = {action_id: value_shape(element, raw)}
    return shaped


def initial_of(element: Json) -> Any:
    kind = element.get("type")
    if kind in ONE_OPTION:
        return (element.get("initial_option") or {}).get("value")
    if kind in MANY_OPTIONS:
        return [o.get("value") for o in element.get("initial_options", [])]
    if kind in SELECTED:
        return element.get(SELECTED[kind].replace("selected_", "initial_"))
    return element.get("initial_value")


def value_shape(element: Json, raw: Any) -> Json:
    """One input's state, shaped by its element type as Slack shapes it."""
    kind = str(element.get("type"))
    empty = raw is None or raw in ("", [])
    if kind in ONE_OPTION:
        return {"type": kind, "selected_option": None if empty else option_of(element, raw)}
    if kind in MANY_OPTIONS:
        return {"type": kind, "selected_options": [option_of(element, v) for v in raw or []]}
    if kind in SELECTED:
        return {"type": kind, SELECTED[kind]: None if empty else raw}
    return {"type": kind, "value": None if empty else raw}


def required_missing(view: Json, shaped: Json) -> list[str]:
    missing = []
    for block in view.get("blocks", []):
        if block.get("type") != "input" or block.get("optional"):
            continue
        state = next(iter(shaped[block["block_id"]].values()))
        if all(v in (None, []) for k, v in state.items() if k != "type"):
            missing.append(str(block["block_id"]))
    return missing


def apply_view_answer(fake: FakeSlack, view: View, answer: AppAnswer) -> None:
    """Empty 200: close; response_action errors / update / push / clear as Slack does."""
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


# ---------------------------------------------------------------------- shortcuts and events


def message_shortcut(
    fake: FakeSlack, team_id: str, user_id: str, channel_id: str, ts: str, callback_id: str
) -> AppAnswer:
    state = fake.state
    with state.lock:
        team, user, channel = where(fake, team_id, user_id, channel_id)
        message = state.message(channel_id, ts)
        if message is None:
            raise FakeError(f"no message {ts} in {channel_id}")
        payload = common(fake, "message_action", team, user)
        payload.update(
            callback_id=callback_id,
            channel=channel_ref(channel),
            message=message.resource(),
            message_ts=ts,
            action_ts=f"{time.time():.6f}",
            response_url=fake.response_url(state.new_response_url(team_id, channel_id, user_id)),
        )
    return fake.send(INTERACTIONS_PATH, payload_body(payload), FORM)


def event(
    fake: FakeSlack,
    team_id: str,
    inner: Json,
    event_id: str | None,
    retry_num: int | None,
    retry_reason: str,
) -> AppAnswer:
    """An Events API `event_callback` (with Slack's retry headers when `retry_num` is given)."""
    with fake.state.lock:
        team = fake.state.team(team_id)
        inner = {**inner, "event_ts": inner.get("event_ts") or fake.state.next_ts()}
        payload = {
            "token": fake.verification_token,
            "team_id": team_id,
            "api_app_id": fake.app_id,
            "event": inner,
            "type": "event_callback",
            "event_id": event_id or new_id("Ev"),
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": team_id,
                    "user_id": team.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
    extra = {}
    if retry_num is not None:
        extra = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
    return fake.send(EVENTS_PATH, json_body(payload), "application/json", extra)


def url_verification(fake: FakeSlack) -> AppAnswer:
    payload = {
        "token": fake.verification_token,
        "challenge": secrets.token_urlsafe(24),
        "type": "url_verification",
    }
    return fake.send(EVENTS_PATH, json_body(payload), "application/json")


# ---------------------------------------------------------------------- response_url


def response_post(fake: FakeSlack, url_id: str, raw: bytes) -> tuple[int, Json]:
    """A POST to a response_url: checked (30 minutes, 5 uses), recorded, applied."""
    state = fake.state
    with state.lock:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        hook = state.response_urls.get(url_id)
        status, error = 404, ""
        if hook is None:
            error = "no_active_hooks"
        elif state.clock() - hook.created > RESPONSE_URL_TTL:
            error = "expired_url"
        elif hook.uses >= RESPONSE_URL_USES:
            error = "used_url"
        elif not isinstance(body, dict):
            status, error = 400, "invalid_payload"
        if hook is None or error:
            record = body if isinstance(body, dict) else {}
            state.responses.append(ResponsePost(url_id, record, f"rejected: {error}", status))
            return status, {"ok": False, "error": error}
        hook.uses += 1
        try:
            did = apply_response(fake, hook, body)
        except ApiError as failure:
            state.responses.append(ResponsePost(url_id, body, f"rejected: {failure.error}", 400))
            return 400, {"ok": False, "error": failure.error}
        state.responses.append(ResponsePost(url_id, body, did))
        state.changed()
        return 200, {"ok": True}


def truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def apply_response(fake: FakeSlack, hook: ResponseUrl, body: Json) -> str:
    state = fake.state
    original = state.message(hook.channel_id, hook.message_ts) if hook.message_ts else None
    ephemeral = next(
        (e for e in state.ephemerals if e.channel == hook.channel_id and e.ts == hook.message_ts),
        None,
    )
    if truthy(body.get("delete_original")):
        if original is not None:
            state.delete(original)
        elif ephemeral is not None:
            state.ephemerals.remove(ephemeral)
        else:
            raise ApiError("message_not_found")
        return "deleted"
    text, blocks = str(body.get("text") or ""), parse_blocks(body.get("blocks"))
    if truthy(body.get("replace_original")) and (original or ephemeral):
        if original is not None:
            state.update(original, text, blocks)
        elif ephemeral is not None:
            ephemeral.text, ephemeral.blocks = text, blocks
        return "replaced"
    if body.get("response_type") == "in_channel":
        bot_post(fake, hook.team_id, hook.channel_id, body)
        return "in_channel"
    if not text and not blocks:
        raise ApiError("no_text")
    state.ephemeral(hook.channel_id, hook.user_id, text, blocks)
    return "ephemeral"


def describe(view: View) -> str:
    """The modal's title, for the UI and error messages."""
    return plain(view.view.get("title")) or "Modal"
