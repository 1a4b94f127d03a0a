"""The Web API that `slack_sdk.WebClient(base_url=fake.api_url)` calls: `POST /api/<method>`
with a form or JSON body and a bearer token, answered `{"ok": ...}` with HTTP 200 (429 when
rate limited), in the shapes and with the errors of Slack's own methods."""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from integrations.slack.fake.blocks import parse_blocks, parse_view
from integrations.slack.fake.model import (
    CODE_TTL,
    ApiCall,
    ApiError,
    Channel,
    Json,
    Message,
    Token,
    Trigger,
    User,
    View,
    new_hash,
    new_id,
)

if TYPE_CHECKING:
    from integrations.slack.fake.server import FakeSlack

MAX_TEXT = 40_000


def handler_name(method: str) -> str:
    """`chat.postMessage` is answered by `WebApi.api_chat_post_message`."""
    if not re.fullmatch(r"[a-z]+(\.[a-zA-Z0-9]+)+", method):
        return ""
    return "api_" + re.sub(r"[A-Z]", lambda m: "_" + m[0].lower(), method.replace(".", "_"))


@dataclass(frozen=True)
class Request:
    params: Json
    token: str
    basic: tuple[str, str] | None  # HTTP Basic client credentials (oauth.v2.access)

    def text(self, key: str) -> str:
        value = self.params.get(key)
        return "" if value is None else str(value)

    def flag(self, key: str) -> bool:
        return self.text(key).lower() in ("1", "true")


class WebApi:
    """Authenticates, rate-limits, records and answers each call (under the state lock)."""

    def __init__(self, fake: FakeSlack) -> None:
        self.fake, self.state = fake, fake.state
        self.limits: dict[str, deque[int]] = {}

    def handle(
        self, method: str, params: Json, bearer: str, basic: tuple[str, str] | None
    ) -> tuple[int, Json, dict[str, str]]:
        """Answer one call: (HTTP status, JSON body, extra headers)."""
        token = bearer or str(params.get("token") or "")
        with self.state.lock:
            arrived = self.state.clock()
            try:
                status, body, headers = 200, self._answer(method, Request(params, token, basic)), {}
            except ApiError as error:
                status, body, headers = (
                    error.status,
                    {"ok": False, "error": error.error},
                    error.headers,
                )
            self.state.calls.append(
                ApiCall(method, params, token, status, body.get("error"), arrived)
            )
            return status, body, headers

    def _answer(self, method: str, request: Request) -> Json:
        limit = self.limits.get(method)
        if limit:
            retry_after = limit.popleft()
            raise ApiError("ratelimited", 429, {"Retry-After": str(retry_after)})
        handler: Callable[[Request], Json] | None = getattr(self, handler_name(method), None)
        if handler is None:
            raise ApiError("unknown_method")
        return {"ok": True, **handler(request)}

    # ------------------------------------------------------------------ auth and install

    def auth(self, request: Request) -> Token:
        if not request.token:
            raise ApiError("not_authed")
        token = self.state.tokens.get(request.token)
        if token is None:
            raise ApiError("invalid_auth")
        if token.revoked:
            raise ApiError(token.revoked)
        return token

    def client(self, request: Request) -> None:
        """Check the app's client credentials (HTTP Basic, or form fields as Slack allows)."""
        client_id, secret = request.basic or (
            request.text("client_id"),
            request.text("client_secret"),
        )
        if client_id != self.fake.client_id:
            raise ApiError("invalid_client_id")
        if secret != self.fake.client_secret:
            raise ApiError("bad_client_secret")

    def install(self, team_id: str, scope: str, secret: str | None = None) -> Token:
        """A new bot token for the team (`secret`: this one, e.g. a token stored by the app
        on an earlier run); the previous one stops working (token_revoked)."""
        team = self.state.team(team_id)
        if not team.bot_user_id:
            team.bot_user_id, team.bot_id = new_id("U"), new_id("B")
            bot = User(team.bot_user_id, team_id, self.fake.app_name.lower(), self.fake.app_name)
            bot.is_bot = True
            self.state.users[bot.id] = bot
        if team.token:
            self.state.tokens[team.token].revoked = "token_revoked"
        secret = secret or (
            f"xoxb-{secrets.randbelow(10**12)}-{secrets.randbelow(10**12)}-{secrets.token_hex(12)}"
        )
        token = Token(secret, team_id, team.bot_user_id, team.bot_id, scope)
        self.state.tokens[secret], team.token = token, secret
        self.state.changed()
        return token

    def revoke(self, team_id: str, error: str = "invalid_auth") -> None:
        team = self.state.team(team_id)
        if team.token:
            self.state.tokens[team.token].revoked = error
            team.token = None
            self.state.changed()

    def api_oauth_v2_access(self, request: Request) -> Json:
        self.client(request)
        code = self.state.codes.get(request.text("code"))
        if code is None or code.used or self.state.clock() - code.created > CODE_TTL:
            raise ApiError("invalid_code")
        if code.redirect_uri and request.text("redirect_uri") != code.redirect_uri:
            raise ApiError("bad_redirect_uri")
        code.used = True
        token = self.install(code.team_id, code.scope)
        team = self.state.teams[code.team_id]
        return {
            "app_id": self.fake.app_id,
            "authed_user": {"id": code.user_id},
            "scope": code.scope,
            "token_type": "bot",
            "access_token": token.token,
            "bot_user_id": token.bot_user_id,
            "team": {"id": team.id, "name": team.name},
            "enterprise": None,
            "is_enterprise_install": False,
        }

    def api_auth_test(self, request: Request) -> Json:
        token = self.auth(request)
        team = self.state.teams[token.team_id]
        return {
            "url": f"https://{team.domain}.slack.com/",
            "team": team.name,
            "user": self.state.users[token.bot_user_id].name,
            "team_id": team.id,
            "user_id": token.bot_user_id,
            "bot_id": token.bot_id,
            "is_enterprise_install": False,
        }

    def api_auth_revoke(self, request: Request) -> Json:
        self.revoke(self.auth(request).team_id, "token_revoked")
        return {"revoked": True}

    def api_apps_uninstall(self, request: Request) -> Json:
        self.client(request)
        self.revoke(self.auth(request).team_id)
        return {}

    # ------------------------------------------------------------------ chat

    def writable(self, token: Token, channel_id: str) -> Channel:
        """The channel to write to: a channel id, or a user id for the bot's DM with them."""
        if channel_id[:1] in ("U", "W"):
            return self.state.im_channel(token.team_id, self.user(token, channel_id).id)
        channel = self.state.channel_in(token.team_id, channel_id)
        if channel is None:
            raise ApiError("channel_not_found")
        if channel.archived:
            raise ApiError("is_archived")
        if not channel.bot_member:
            raise ApiError("not_in_channel")
        return channel

    def user(self, token: Token, user_id: str) -> User:
        user = self.state.users.get(user_id)
        if user is None or user.team_id != token.team_id:
            raise ApiError("user_not_found")
        return user

    def api_chat_post_message(self, request: Request) -> Json:
        token = self.auth(request)
        channel = self.writable(token, request.text("channel"))
        text, blocks = content(request)
        thread_ts = request.text("thread_ts") or None
        if thread_ts:
            parent = self.state.message(channel.id, thread_ts)
            if parent is None:
                raise ApiError("thread_not_found")
            thread_ts = parent.thread_ts or parent.ts  # a reply to a reply joins the thread
        message = self.state.bot_post(token.team_id, channel.id, text, blocks, thread_ts)
        self.state.wrote(channel.id)
        return {"channel": channel.id, "ts": message.ts, "message": message.resource()}

    def own_message(self, token: Token, request: Request, ts_key: str, error: str) -> Message:
        channel = self.writable(token, request.text("channel"))
        message = self.state.message(channel.id, request.text(ts_key))
        if message is None:
            raise ApiError("message_not_found")
        if message.user != token.bot_user_id:
            raise ApiError(error)
        return message

    def api_chat_update(self, request: Request) -> Json:
        message = self.own_message(self.auth(request), request, "ts", "cant_update_message")
        blocks = parse_blocks(request.params["blocks"]) if "blocks" in request.params else None
        text = request.text("text") if "text" in request.params else message.text
        if len(text) > MAX_TEXT:
            raise ApiError("msg_too_long")
        self.state.update(message, text, message.blocks if blocks is None else blocks)
        self.state.wrote(message.channel)
        return {
            "channel": message.channel,
            "ts": message.ts,
            "text": text,
            "message": message.resource(),
        }

    def api_chat_delete(self, request: Request) -> Json:
        message = self.own_message(self.auth(request), request, "ts", "cant_delete_message")
        self.state.delete(message)
        return {"channel": message.channel, "ts": message.ts}

    def api_chat_post_ephemeral(self, request: Request) -> Json:
        token = self.auth(request)
        channel = self.writable(token, request.text("channel"))
        user = self.user(token, request.text("user"))
        text, blocks = content(request)
        return {"message_ts": self.state.ephemeral(channel.id, user.id, text, blocks).ts}

    def api_chat_get_permalink(self, request: Request) -> Json:
        token = self.auth(request)
        channel = self.state.channel_in(token.team_id, request.text("channel"))
        if channel is None:
            raise ApiError("channel_not_found")
        ts = request.text("message_ts")
        if self.state.message(channel.id, ts) is None:
            raise ApiError("message_not_found")
        link = f"{self.fake.url}/archives/{channel.id}/p{ts.replace('.', '')}"
        return {"channel": channel.id, "permalink": link}

    # ------------------------------------------------------------------ views

    def trigger(self, token: Token, request: Request) -> Trigger:
        trigger = self.state.triggers.get(request.text("trigger_id"))
        if trigger is None or trigger.team_id != token.team_id:
            raise ApiError("invalid_trigger_id")
        if trigger.used or self.state.clock() - trigger.created > self.fake.trigger_ttl:
            raise ApiError("expired_trigger_id")
        trigger.used = True
        return trigger

    def add_view(
        self, trigger_id: str, team_id: str, user_id: str, view: Json, previous: View | None
    ) -> View:
        """A modal now open for the user (on top of `previous`, when pushed)."""
        opened = View(new_id("V"), trigger_id, user_id, team_id, view, new_hash())
        opened.previous_view_id = previous.id if previous else None
        opened.root_view_id = previous.root_view_id if previous else opened.id
        self.state.views[opened.id] = opened
        self.state.changed()
        return opened

    def resource(self, view: View) -> Json:
        return view.resource(self.fake.app_id, self.state.teams[view.team_id].bot_id)

    def api_views_open(self, request: Request, push: bool = False) -> Json:
        token = self.auth(request)
        view = parse_view(request.params.get("view"))
        trigger = self.trigger(token, request)
        top = self.fake.open_view_of(trigger.user_id) if push else None
        if push and top is None:
            raise ApiError("not_found")
        opened = self.add_view(trigger.id, token.team_id, trigger.user_id, view, top)
        return {"view": self.resource(opened)}

    def api_views_push(self, request: Request) -> Json:
        return self.api_views_open(request, push=True)

    def api_views_update(self, request: Request) -> Json:
        token = self.auth(request)
        wanted, external = request.text("view_id"), request.text("external_id")
        found = [
            v
            for v in self.state.views.values()
            if v.team_id == token.team_id
            and (v.id == wanted or (external and v.view.get("external_id") == external))
        ]
        if not found:
            raise ApiError("not_found")
        view = found[0]
        if request.text("hash") and request.text("hash") != view.hash:
            raise ApiError("hash_conflict")
        view.view, view.hash, view.errors = parse_view(request.params.get("view")), new_hash(), {}
        self.state.changed()
        return {"view": self.resource(view)}

    # ------------------------------------------------------------------ conversations, users

    def visible(self, token: Token, channel_id: str) -> Channel:
        channel = self.state.channel_in(token.team_id, channel_id)
        if channel is None or (channel.is_private and not channel.is_im and not channel.bot_member):
            raise ApiError("channel_not_found")  # Slack hides private channels the bot is not in
        return channel

    def api_conversations_list(self, request: Request) -> Json:
        token = self.auth(request)
        kinds = set((request.text("types") or "public_channel").split(","))
        channels = [
            c
            for c in self.state.channels.values()
            if c.team_id == token.team_id
            and kind_of(c) in kinds
            and not (request.flag("exclude_archived") and c.archived)
            and not (c.is_private and not c.is_im and not c.bot_member)
        ]
        try:
            limit = min(max(int(request.text("limit") or 100), 1), 1000)
        except ValueError:
            raise ApiError("invalid_limit") from None
        start = cursor_index(request.text("cursor"), channels)
        more = channels[start + limit : start + limit + 1]
        return {
            "channels": [c.resource() for c in channels[start : start + limit]],
            "response_metadata": {"next_cursor": encode_cursor(more[0].id) if more else ""},
        }

    def api_conversations_info(self, request: Request) -> Json:
        return {"channel": self.visible(self.auth(request), request.text("channel")).resource()}

    def api_conversations_open(self, request: Request) -> Json:
        token = self.auth(request)
        users = [u for u in request.text("users").split(",") if u]
        if len(users) != 1:
            raise ApiError("not_supported")  # the fake knows no group DMs
        channel = self.state.im_channel(token.team_id, self.user(token, users[0]).id)
        return {"channel": {"id": channel.id}}

    def api_conversations_join(self, request: Request) -> Json:
        token = self.auth(request)
        channel = self.state.channel_in(token.team_id, request.text("channel"))
        if channel is None:
            raise ApiError("channel_not_found")
        if channel.is_private:
            raise ApiError("method_not_supported_for_channel_type")
        channel.bot_member = True
        self.state.changed()
        return {"channel": channel.resource()}

    def api_users_info(self, request: Request) -> Json:
        return {"user": self.user(self.auth(request), request.text("user")).resource()}

    def api_users_lookup_by_email(self, request: Request) -> Json:
        token = self.auth(request)
        email = request.text("email").lower()
        for user in self.state.users.values():
            if user.team_id == token.team_id and user.email and user.email.lower() == email:
                return {"user": user.resource()}
        raise ApiError("users_not_found")


# ---------------------------------------------------------------------- validation


def kind_of(channel: Channel) -> str:
    if channel.is_im:
        return "im"
    return "private_channel" if channel.is_private else "public_channel"


def encode_cursor(channel_id: str) -> str:
    return base64.b64encode(f"channel:{channel_id}".encode()).decode()


def cursor_index(cursor: str, channels: list[Channel]) -> int:
    """Where a page starts: Slack's cursors name the first item of the next page."""
    if not cursor:
        return 0
    try:
        wanted = base64.b64decode(cursor, validate=True).decode().removeprefix("channel:")
    except (binascii.Error, UnicodeDecodeError):
        raise ApiError("invalid_cursor") from None
    for index, channel in enumerate(channels):
        if channel.id == wanted:
            return index
    raise ApiError("invalid_cursor")


def content(request: Request) -> tuple[str, list[Json]]:
    """A message's text and blocks, checked as chat.postMessage checks them."""
    blocks = parse_blocks(request.params.get("blocks"))
    text = request.text("text")
    if not text and not blocks:
        raise ApiError("no_text")
    if len(text) > MAX_TEXT:
        raise ApiError("msg_too_long")
    return text, blocks
