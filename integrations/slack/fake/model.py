"""The fake Slack's state: workspaces, people, channels, messages, and what the app opened
(views, triggers, response URLs). Plain data plus the few writes that the Web API, the
response URLs and the UI share; callers hold `State.lock`."""

from __future__ import annotations

import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]

CODE_TTL = 600.0  # an OAuth code is good for ten minutes
RESPONSE_URL_TTL = 1800.0  # Slack: a response_url works for 30 minutes...
RESPONSE_URL_USES = 5  # ...and five times


class FakeError(Exception):
    """A call of the fake's own Python API that makes no sense (unknown team, button...)."""


class ApiError(Exception):
    """A Web API failure, answered as `{"ok": false, "error": ...}` (HTTP 200, as Slack does)."""

    def __init__(self, error: str, status: int = 200, headers: dict[str, str] | None = None):
        super().__init__(error)
        self.error, self.status, self.headers = error, status, headers or {}


def new_id(prefix: str, length: int = 10) -> str:
    """A Slack-looking id: a type letter and upper-case letters and digits."""
    alphabet = string.ascii_uppercase + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def new_hash() -> str:
    """A view's version, which views.update may be given to refuse a stale update."""
    return f"{secrets.randbelow(10**10)}.{secrets.token_hex(4)}"


def plain(text: Any) -> str:
    """The string inside a text object (`{"type": "plain_text", "text": ...}`) or a string."""
    return str(text.get("text", "")) if isinstance(text, dict) else str(text or "")


@dataclass
class Team:
    id: str
    name: str
    domain: str
    token: str | None = None  # the current bot token; None before install and after revoke
    bot_user_id: str = ""
    bot_id: str = ""


@dataclass
class Token:
    token: str
    team_id: str
    bot_user_id: str
    bot_id: str
    scope: str
    revoked: str = ""  # the error the token answers once revoked


@dataclass
class User:
    id: str
    team_id: str
    name: str
    real_name: str = ""
    email: str = ""
    tz: str = "Europe/Oslo"
    is_bot: bool = False
    deleted: bool = False

    def resource(self) -> Json:
        """The `user` object of users.info."""
        profile = {"email": self.email, "real_name": self.real_name, "display_name": self.name}
        return {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "real_name": self.real_name,
            "deleted": self.deleted,
            "is_bot": self.is_bot,
            "tz": self.tz,
            "profile": profile
            if self.email
            else {k: v for k, v in profile.items() if k != "email"},
        }


@dataclass
class Channel:
    id: str
    team_id: str
    name: str
    is_private: bool = False
    im_user: str = ""  # set for a direct-message channel ("D...")
    bot_member: bool = True
    archived: bool = False
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def is_im(self) -> bool:
        return bool(self.im_user)

    def resource(self) -> Json:
        """The conversation object of conversations.list / info."""
        if self.is_im:
            return {"id": self.id, "is_im": True, "user": self.im_user, "created": self.created}
        return {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": not self.is_private,
            "is_group": self.is_private,
            "is_im": False,
            "is_private": self.is_private,
            "is_archived": self.archived,
            "is_member": self.bot_member,
            "created": self.created,
        }


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[Json]
    thread_ts: str | None = None
    user: str = ""
    username: str = ""
    edits: list[tuple[str, list[Json]]] = field(default_factory=list)  # earlier states
    bot_id: str = ""

    def resource(self) -> Json:
        """The message object Slack answers and puts in interaction payloads."""
        body: Json = {"type": "message", "user": self.user, "ts": self.ts, "text": self.text}
        if self.blocks:
            body["blocks"] = self.blocks
        if self.bot_id:
            body.update(bot_id=self.bot_id, username=self.username)
        if self.thread_ts:
            body["thread_ts"] = self.thread_ts
        return body


@dataclass
class Ephemeral:
    channel: str
    user: str
    text: str
    blocks: list[Json]
    ts: str


@dataclass
class Trigger:
    id: str
    team_id: str
    user_id: str
    created: float
    used: bool = False


@dataclass
class Code:
    code: str
    team_id: str
    user_id: str
    redirect_uri: str
    scope: str
    created: float
    used: bool = False


@dataclass
class ResponseUrl:
    id: str
    team_id: str
    channel_id: str
    user_id: str
    created: float
    message_ts: str | None = None  # the message replace_original / delete_original act on
    uses: int = 0


@dataclass
class ResponsePost:
    """One POST to a response_url: its body and what the fake did with it."""

    url_id: str
    body: Json
    did: str  # replaced, deleted, in_channel, ephemeral, or "rejected: <error>"
    status: int = 200


@dataclass
class View:
    id: str
    trigger_id: str
    user_id: str
    team_id: str
    view: Json  # the latest view the app sent
    hash: str
    errors: dict[str, str] = field(default_factory=dict)
    closed: bool = False
    previous_view_id: str | None = None
    root_view_id: str = ""
    submitted: Json = field(default_factory=dict)  # the last state.values sent

    @property
    def private_metadata(self) -> str:
        return str(self.view.get("private_metadata", ""))

    @property
    def callback_id(self) -> str:
        return str(self.view.get("callback_id", ""))

    def resource(self, app_id: str, bot_id: str, values: Json | None = None) -> Json:
        """The view object of views.* answers and of view_submission payloads."""
        return {
            **self.view,
            "id": self.id,
            "team_id": self.team_id,
            "private_metadata": self.private_metadata,
            "callback_id": self.callback_id,
            "state": {"values": values or {}},
            "hash": self.hash,
            "previous_view_id": self.previous_view_id,
            "root_view_id": self.root_view_id,
            "app_id": app_id,
            "bot_id": bot_id,
            "app_installed_team_id": self.team_id,
        }


@dataclass
class ApiCall:
    method: str
    params: Json
    token: str
    status: int
    error: str | None = None
    at: float = 0.0  # when the call arrived, by the fake's clock


@dataclass(frozen=True)
class AppAnswer:
    """The application's answer to a signed request (status 0: it could not be reached)."""

    status: int
    body: bytes
    json: Any
    headers: dict[str, str]


class State:
    """Everything the fake knows; every write bumps `version` (the UI reloads on it)."""

    def __init__(self, clock: Callable[[], float], app_name: str) -> None:
        self.lock = threading.RLock()
        self.clock, self.app_name = clock, app_name
        self.version = 0
        self.teams: dict[str, Team] = {}
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.messages: dict[str, list[Message]] = {}
        self.ephemerals: list[Ephemeral] = []
        self.tokens: dict[str, Token] = {}
        self.codes: dict[str, Code] = {}
        self.triggers: dict[str, Trigger] = {}
        self.response_urls: dict[str, ResponseUrl] = {}
        self.responses: list[ResponsePost] = []
        self.views: dict[str, View] = {}
        self.calls: list[ApiCall] = []
        self.writes: dict[str, list[float]] = {}
        self.notes: dict[str, str] = {}  # per acting user: the app's last failure, for the UI
        self._last_ts = 0

    def changed(self) -> None:
        self.version += 1

    def next_ts(self) -> str:
        """A message ts: wall-clock microseconds, unique and increasing even within one µs."""
        self._last_ts = max(self._last_ts + 1, int(time.time() * 1_000_000))
        return f"{self._last_ts // 1_000_000}.{self._last_ts % 1_000_000:06d}"

    def team(self, team_id: str) -> Team:
        if team_id not in self.teams:
            raise FakeError(f"no team {team_id}")
        return self.teams[team_id]

    def member(self, team_id: str, user_id: str) -> User:
        user = self.users.get(user_id)
        if user is None or user.team_id != team_id:
            raise FakeError(f"no user {user_id} in {team_id}")
        return user

    def channel_in(self, team_id: str, channel_id: str) -> Channel | None:
        channel = self.channels.get(channel_id)
        return channel if channel is not None and channel.team_id == team_id else None

    def message(self, channel_id: str, ts: str) -> Message | None:
        return next((m for m in self.messages.get(channel_id, []) if m.ts == ts), None)

    def im_channel(self, team_id: str, user_id: str) -> Channel:
        """The bot's direct-message channel with the user, created on first use."""
        for channel in self.channels.values():
            if channel.team_id == team_id and channel.im_user == user_id:
                return channel
        channel_id = "D" + user_id[1:]
        while channel_id in self.channels:
            channel_id = new_id("D")
        channel = Channel(channel_id, team_id, user_id, is_private=True, im_user=user_id)
        self.channels[channel_id] = channel
        self.changed()
        return channel

    def post(self, message: Message) -> Message:
        self.messages.setdefault(message.channel, []).append(message)
        self.changed()
        return message

    def bot_post(
        self, team_id: str, channel_id: str, text: str, blocks: list[Json], thread_ts: str | None
    ) -> Message:
        """A message from the app's bot user (the team's install), named as the app."""
        team = self.teams[team_id]
        message = Message(channel_id, self.next_ts(), text, blocks, thread_ts, team.bot_user_id)
        message.username, message.bot_id = self.app_name, team.bot_id
        return self.post(message)

    def update(self, message: Message, text: str, blocks: list[Json]) -> None:
        message.edits.append((message.text, message.blocks))
        message.text, message.blocks = text, blocks
        self.changed()

    def wrote(self, channel_id: str) -> None:
        """Note an app's chat.postMessage / chat.update (Slack allows ~1 a second a channel)."""
        self.writes.setdefault(channel_id, []).append(self.clock())

    def delete(self, message: Message) -> None:
        self.messages[message.channel].remove(message)
        self.changed()

    def ephemeral(self, channel: str, user: str, text: str, blocks: list[Json]) -> Ephemeral:
        ephemeral = Ephemeral(channel, user, text, blocks, self.next_ts())
        self.ephemerals.append(ephemeral)
        self.changed()
        return ephemeral

    def new_trigger(self, team_id: str, user_id: str) -> str:
        number = f"{int(self.clock())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
        trigger = Trigger(number, team_id, user_id, self.clock())
        self.triggers[trigger.id] = trigger
        return trigger.id

    def new_response_url(
        self, team_id: str, channel_id: str, user_id: str, message_ts: str | None = None
    ) -> str:
        hook_id = secrets.token_urlsafe(18)
        hook = ResponseUrl(hook_id, team_id, channel_id, user_id, self.clock(), message_ts)
        self.response_urls[hook.id] = hook
        return hook.id
