"""A fake Slack on loopback: the Web API `slack_sdk` calls, signed requests to the application
(slash commands, interactions, events), response URLs, and a small HTML client.

    with FakeSlack(signing_secret="s3cr3t", app_url="http://127.0.0.1:8000") as fake:
        fake.add_team("T0ACME", "Acme"); fake.add_user("T0ACME", "U0ALICE", name="alice")
        client = WebClient(token, base_url=fake.api_url)
        ...; fake.click("T0ACME", "U0ALICE", "C0INC", ts, "ack")
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from integrations.slack.fake import ui
from integrations.slack.fake.answers import response_post
from integrations.slack.fake.api import WebApi
from integrations.slack.fake.interactions import Interactions
from integrations.slack.fake.model import (
    ApiCall,
    ApiError,
    Channel,
    Code,
    Ephemeral,
    Json,
    Message,
    ResponsePost,
    State,
    Team,
    User,
    View,
    new_id,
)
from integrations.slack.fake.outbound import Sender

__all__ = ["FakeSlack"]


class FakeSlack(Interactions):
    """The fake. `start()` (or `with`) serves on `url`; `stop()` ends it. What people do (slash
    commands, clicks, modals, shortcuts, events) comes from `Interactions`."""

    def __init__(
        self,
        *,
        signing_secret: str = "fake-signing-secret",  # noqa: S107 (a fake's test value)
        client_id: str = "111.222",
        client_secret: str = "fake-client-secret",  # noqa: S107
        app_url: str = "http://127.0.0.1:8000",
        host: str = "127.0.0.1",
        port: int = 0,
        trigger_ttl: float = 3.0,
        app_name: str = "OpsDuty",
        app_id: str = "A0OPSDUTY",
        verification_token: str = "fake-verification-token",  # noqa: S107
        shortcut_callback_id: str = "create_incident_from_message",
        shortcut_name: str = "Create incident from message",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the fake Slack listens on loopback only")
        self.signing_secret, self.client_id, self.client_secret = (
            signing_secret,
            client_id,
            client_secret,
        )
        self.app_url, self.trigger_ttl = app_url, trigger_ttl
        self.app_name, self.app_id, self.verification_token = app_name, app_id, verification_token
        self.shortcut_callback_id, self.shortcut_name = shortcut_callback_id, shortcut_name
        self.sender: Sender | None = None
        self.state = State(clock, app_name)
        self.api = WebApi(self)
        self.rate = (1.0, 1.0)  # per channel: writes per second, burst
        self._server = ThreadingHTTPServer((host, port), handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    @property
    def authorize_url(self) -> str:
        return self.url + "/oauth/v2/authorize"

    # ------------------------------------------------------------------ life cycle

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ set-up

    def add_team(self, team_id: str, name: str, domain: str | None = None) -> Team:
        with self.state.lock:
            slug = domain or re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
            team = self.state.teams.setdefault(team_id, Team(team_id, name, slug))
            self.state.changed()
            return team

    def add_user(
        self,
        team_id: str,
        user_id: str,
        *,
        name: str,
        real_name: str = "",
        email: str = "",
        tz: str = "Europe/Oslo",
        is_bot: bool = False,
        deleted: bool = False,
    ) -> User:
        with self.state.lock:
            self.state.team(team_id)
            user = User(user_id, team_id, name, real_name or name, email, tz, is_bot, deleted)
            self.state.users[user_id] = user
            self.state.changed()
            return user

    def add_channel(
        self,
        team_id: str,
        channel_id: str,
        name: str,
        *,
        is_private: bool = False,
        bot_in_channel: bool = True,
        archived: bool = False,
    ) -> Channel:
        with self.state.lock:
            self.state.team(team_id)
            channel = Channel(channel_id, team_id, name, is_private, "", bot_in_channel, archived)
            self.state.channels[channel_id] = channel
            self.state.changed()
            return channel

    def authorize_code(
        self, *, team_id: str, user_id: str, redirect_uri: str = "", scope: str = ""
    ) -> str:
        """What the Allow button does: a single-use code for oauth.v2.access (ten minutes)."""
        with self.state.lock:
            self.state.member(team_id, user_id)
            code_id = new_id("", 24).lower()
            code = Code(code_id, team_id, user_id, redirect_uri, scope, self.state.clock())
            self.state.codes[code.code] = code
            return code.code

    def install(
        self, team_id: str, scope: str = "chat:write,commands", token: str | None = None
    ) -> str:
        """Install without the OAuth dance; the new bot token (`token`: this one)."""
        with self.state.lock:
            return self.api.install(team_id, scope, token).token

    def install_token(self, team_id: str) -> str | None:
        with self.state.lock:
            return self.state.team(team_id).token

    def revoke(self, team_id: str, error: str = "invalid_auth") -> None:
        """The team's bot token stops working: calls with it answer `error`."""
        with self.state.lock:
            self.api.revoke(team_id, error)

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """The next `times` calls of `method` answer HTTP 429 with `Retry-After`."""
        with self.state.lock:
            self.api.limits.setdefault(method, deque()).extend([retry_after] * times)

    def channel_rate(self, per_second: float = 1.0, burst: float = 1.0) -> None:
        """The per-channel write rate `channel_overruns` measures against (not enforced)."""
        self.rate = (per_second, burst)

    # ------------------------------------------------------------------ what happened

    def messages(self, channel_id: str) -> list[Message]:
        """Top-level messages and thread replies, in ts order (copies)."""
        with self.state.lock:
            found = copy.deepcopy(self.state.messages.get(channel_id, []))
        return sorted(found, key=lambda m: tuple(int(p) for p in m.ts.split(".")))

    def dm_channel(self, team_id: str, user_id: str) -> str:
        with self.state.lock:
            self.state.member(team_id, user_id)
            return self.state.im_channel(team_id, user_id).id

    def ephemerals(
        self, channel_id: str | None = None, user_id: str | None = None
    ) -> list[Ephemeral]:
        with self.state.lock:
            found = [e for e in self.state.ephemerals if channel_id in (None, e.channel)]
            return [copy.deepcopy(e) for e in found if user_id in (None, e.user)]

    def responses(self, url_id: str | None = None) -> list[ResponsePost]:
        """Bodies POSTed to response URLs (`url_id`: the last part of the URL), in order."""
        with self.state.lock:
            return [copy.deepcopy(r) for r in self.state.responses if url_id in (None, r.url_id)]

    def views(self, user_id: str | None = None) -> list[View]:
        with self.state.lock:
            found = [v for v in self.state.views.values() if user_id in (None, v.user_id)]
            return copy.deepcopy(found)

    def calls(self, method: str | None = None) -> list[ApiCall]:
        with self.state.lock:
            return [copy.deepcopy(c) for c in self.state.calls if method in (None, c.method)]

    def channel_writes(self, channel_id: str) -> list[float]:
        """When (by the fake's clock) the app posted or updated a message in the channel."""
        with self.state.lock:
            return list(self.state.writes.get(channel_id, []))

    def channel_overruns(self, channel_id: str) -> int:
        """How many writes a token bucket at `channel_rate` would have refused."""
        per_second, burst = self.rate
        tokens, last, refused = burst, None, 0
        for at in self.channel_writes(channel_id):
            tokens = tokens if last is None else min(burst, tokens + (at - last) * per_second)
            last = at
            if tokens >= 1:
                tokens -= 1
            else:
                refused += 1
        return refused

    def open_view_of(self, user_id: str) -> View | None:
        """The modal the user sees now: the latest one still open (live object)."""
        with self.state.lock:
            open_views = [v for v in self.state.views.values() if v.user_id == user_id]
            return next((v for v in reversed(open_views) if not v.closed), None)


# ---------------------------------------------------------------------- HTTP


def parse_params(query: str, raw: bytes, content_type: str) -> Json:
    """A Web API call's arguments: the query string, then a form or a JSON body."""
    params: Json = dict(parse_qsl(query, keep_blank_values=True))
    if "json" in content_type:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise ApiError("invalid_json") from None
        if not isinstance(body, dict):
            raise ApiError("invalid_json")
        params.update(body)
    else:
        params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def basic_auth(header: str) -> tuple[str, str] | None:
    if not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def handler_for(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "FakeSlack/1.0"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Quiet: the fake records Web API calls in `fake.calls()`."""

        def do_GET(self) -> None:  # noqa: N802
            self._dispatch("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._dispatch("POST")

        def _dispatch(self, method: str) -> None:
            parts = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if parts.path.startswith("/api/"):
                self._api(parts.path[5:], parts.query, raw)
            elif parts.path.startswith("/response/") and method == "POST":
                status, body = response_post(fake, parts.path[10:], raw)
                self._json(status, body)
            elif parts.path == "/_fake/version":
                self._json(200, {"version": fake.state.version})
            else:
                form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
                query = dict(parse_qsl(parts.query, keep_blank_values=True))
                status, page, headers = ui.route(fake, method, parts.path, query, form)
                self._reply(status, page.encode(), "text/html; charset=utf-8", headers)

        def _api(self, method: str, query: str, raw: bytes) -> None:
            authorization = self.headers.get("Authorization", "")
            bearer = authorization[7:] if authorization.startswith("Bearer ") else ""
            try:
                params = parse_params(query, raw, self.headers.get("Content-Type", ""))
            except ApiError as error:
                self._json(200, {"ok": False, "error": error.error})
                return
            self._json(*fake.api.handle(method, params, bearer, basic_auth(authorization)))

        def _json(self, status: int, body: Json, headers: dict[str, str] | None = None) -> None:
            payload = json.dumps(body).encode()
            self._reply(status, payload, "application/json; charset=utf-8", headers or {})

        def _reply(
            self, status: int, payload: bytes, content_type: str, headers: dict[str, str]
        ) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client went away

    return Handler
