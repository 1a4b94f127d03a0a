"""What people do in the fake Slack, sent to the app as Slack sends it: slash commands, block
actions, modal submissions, message shortcuts and events, signed, in the shapes of
https://api.slack.com/reference/interaction-payloads. `FakeSlack` mixes this in.

Each request is built under the state lock and sent without it (the app calls the Web API back
meanwhile); what the answer does is applied under the lock again (`answers.py`)."""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

from integrations.slack.fake.answers import apply_view_answer, show_command_answer
from integrations.slack.fake.blocks import action_of, find_element, required_missing, state_values
from integrations.slack.fake.model import (
    AppAnswer,
    Channel,
    FakeError,
    Json,
    State,
    Team,
    User,
    View,
    new_id,
)
from integrations.slack.fake.outbound import (
    COMMANDS_PATH,
    EVENTS_PATH,
    INTERACTIONS_PATH,
    Sender,
    form_body,
    json_body,
    payload_body,
    send,
    signed_headers,
)

if TYPE_CHECKING:
    from http.server import ThreadingHTTPServer

    from integrations.slack.fake.api import WebApi

FORM = "application/x-www-form-urlencoded"


def user_ref(user: User) -> Json:
    return {"id": user.id, "username": user.name, "name": user.name, "team_id": user.team_id}


def channel_ref(channel: Channel) -> Json:
    return {"id": channel.id, "name": "directmessage" if channel.is_im else channel.name}


class Interactions:
    """The people's side of the fake; FakeSlack provides the state and the settings."""

    state: State
    api: WebApi
    signing_secret: str
    app_url: str
    app_id: str
    app_name: str
    verification_token: str
    shortcut_callback_id: str
    sender: Sender | None
    _server: ThreadingHTTPServer  # FakeSlack's (server.py)

    @property
    def url(self) -> str:
        """The fake's base URL (its HTTP server's address)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def response_url(self, hook_id: str) -> str:
        return f"{self.url}/response/{hook_id}"

    def signed_headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """Slack's signature headers for `body` (an old `timestamp` makes a stale request)."""
        return signed_headers(self.signing_secret, body, timestamp)

    def send(
        self, path: str, body: bytes, content_type: str, extra: dict[str, str] | None = None
    ) -> AppAnswer:
        """Sign and send to `app_url + path`, or through `sender` when set."""
        return send(self.signing_secret, self.app_url, self.sender, path, body, content_type, extra)

    def slash_command(
        self, team_id: str, user_id: str, command: str, text: str = "", channel_id: str = "C0INC"
    ) -> AppAnswer:
        """The user types `/command text` in the channel; the answer shows as Slack shows it."""
        with self.state.lock:
            team, user, channel = self._where(team_id, user_id, channel_id)
            hook = self.state.new_response_url(team_id, channel_id, user_id)
            fields = {
                "token": self.verification_token,
                "team_id": team_id,
                "team_domain": team.domain,
                "channel_id": channel_id,
                "channel_name": channel_ref(channel)["name"],
                "user_id": user_id,
                "user_name": user.name,
                "command": command,
                "text": text,
                "api_app_id": self.app_id,
                "is_enterprise_install": "false",
                "response_url": self.response_url(hook),
                "trigger_id": self.state.new_trigger(team_id, user_id),
            }
        answer = self.send(COMMANDS_PATH, form_body(fields), FORM)
        with self.state.lock:
            show_command_answer(self, team_id, user_id, channel_id, command, answer)
        return answer

    def click(
        self,
        team_id: str,
        user_id: str,
        channel_id: str,
        ts: str,
        action_id: str,
        value: str | None = None,
        selected_option: str | None = None,
        block_id: str | None = None,
    ) -> AppAnswer:
        """The user presses a button or picks an option (by its value) in a message, or in an
        ephemeral message they see."""
        state = self.state
        with state.lock:
            team, user, channel = self._where(team_id, user_id, channel_id)
            message = state.message(channel_id, ts)
            seen = [
                e
                for e in state.ephemerals
                if (e.channel, e.ts, e.user) == (channel_id, ts, user_id)
            ]
            if message is None and not seen:
                raise FakeError(f"no message {ts} in {channel_id} that {user_id} can see")
            blocks = message.blocks if message is not None else seen[0].blocks
            found, element = find_element(blocks, action_id, block_id)
            payload = self._common("block_actions", team, user)
            payload.update(
                container={"type": "message", "message_ts": ts, "channel_id": channel_id},
                channel=channel_ref(channel),
                state={"values": {}},
                response_url=self.response_url(
                    state.new_response_url(team_id, channel_id, user_id, ts)
                ),
                actions=[action_of(element, found, value, selected_option)],
            )
            payload["container"]["is_ephemeral"] = message is None
            if message is not None:
                payload["message"] = message.resource()
        return self.send(INTERACTIONS_PATH, payload_body(payload), FORM)

    def submit_view(
        self, view_id: str, user_id: str, values: dict[str, dict[str, Any]]
    ) -> AppAnswer:
        """The user presses Submit with `values` ({block_id: {action_id: value}}; a select takes
        its option's value). Like Slack's client it sends nothing while a required input is empty
        (status 0, errors on the View); else it applies the app's response_action."""
        with self.state.lock:
            view = self._open_view(view_id, user_id)
            team, user = self.state.team(view.team_id), self.state.member(view.team_id, user_id)
            view.submitted = state_values(view.view, values)
            view.errors = required_missing(view.view, view.submitted)
            if view.errors:
                self.state.changed()
                return AppAnswer(0, b"", None, {})
            payload = self._common("view_submission", team, user)
            values_now = view.submitted
            payload.update(
                view=view.resource(self.app_id, team.bot_id, values_now), response_urls=[]
            )
        answer = self.send(INTERACTIONS_PATH, payload_body(payload), FORM)
        with self.state.lock:
            apply_view_answer(self, view, answer)
        return answer

    def close_view(self, view_id: str, user_id: str) -> AppAnswer | None:
        """The user presses Cancel; the app hears of it (view_closed) if it asked to."""
        with self.state.lock:
            view = self._open_view(view_id, user_id)
            view.closed = True
            self.state.changed()
            if not view.view.get("notify_on_close"):
                return None
            team, user = self.state.team(view.team_id), self.state.member(view.team_id, user_id)
            payload = self._common("view_closed", team, user)
            payload.update(view=view.resource(self.app_id, team.bot_id), is_cleared=False)
        return self.send(INTERACTIONS_PATH, payload_body(payload), FORM)

    def message_shortcut(
        self, team_id: str, user_id: str, channel_id: str, ts: str, callback_id: str | None = None
    ) -> AppAnswer:
        """The user runs the app's message shortcut on a message."""
        with self.state.lock:
            team, user, channel = self._where(team_id, user_id, channel_id)
            message = self.state.message(channel_id, ts)
            if message is None:
                raise FakeError(f"no message {ts} in {channel_id}")
            hook = self.state.new_response_url(team_id, channel_id, user_id)
            payload = self._common("message_action", team, user)
            payload.update(
                callback_id=callback_id or self.shortcut_callback_id,
                channel=channel_ref(channel),
                message=message.resource(),
                message_ts=ts,
                action_ts=f"{time.time():.6f}",
                response_url=self.response_url(hook),
            )
        return self.send(INTERACTIONS_PATH, payload_body(payload), FORM)

    def event(
        self,
        team_id: str,
        event: Json,
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> AppAnswer:
        """An Events API event_callback (with Slack's retry headers when `retry_num` is given)."""
        with self.state.lock:
            team = self.state.team(team_id)
            inner = {**event, "event_ts": event.get("event_ts") or self.state.next_ts()}
        authorization = {"enterprise_id": None, "team_id": team_id, "user_id": team.bot_user_id}
        payload = {
            "token": self.verification_token,
            "team_id": team_id,
            "api_app_id": self.app_id,
            "event": inner,
            "type": "event_callback",
            "event_id": event_id or new_id("Ev"),
            "event_time": int(time.time()),
            "authorizations": [authorization | {"is_bot": True, "is_enterprise_install": False}],
            "is_ext_shared_channel": False,
        }
        extra = {}
        if retry_num is not None:
            extra = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        return self.send(EVENTS_PATH, json_body(payload), "application/json", extra)

    def url_verification(self) -> AppAnswer:
        """The challenge Slack sends when the events URL is set; the app must echo it."""
        challenge = secrets.token_urlsafe(24)
        payload = {
            "token": self.verification_token,
            "challenge": challenge,
            "type": "url_verification",
        }
        return self.send(EVENTS_PATH, json_body(payload), "application/json")

    # ------------------------------------------------------------------ helpers (under the lock)

    def _where(self, team_id: str, user_id: str, channel_id: str) -> tuple[Team, User, Channel]:
        channel = self.state.channel_in(team_id, channel_id)
        if channel is None:
            raise FakeError(f"no channel {channel_id} in {team_id}")
        return self.state.team(team_id), self.state.member(team_id, user_id), channel

    def _common(self, kind: str, team: Team, user: User) -> Json:
        """The fields every interaction payload has, with a fresh single-use trigger_id."""
        return {
            "type": kind,
            "team": {"id": team.id, "domain": team.domain},
            "user": user_ref(user),
            "api_app_id": self.app_id,
            "token": self.verification_token,
            "trigger_id": self.state.new_trigger(team.id, user.id),
            "enterprise": None,
            "is_enterprise_install": False,
        }

    def _open_view(self, view_id: str, user_id: str) -> View:
        view = self.state.views.get(view_id)
        if view is None or view.closed or view.user_id != user_id:
            raise FakeError(f"no open view {view_id} for {user_id}")
        return view
