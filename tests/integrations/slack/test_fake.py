"""The fake Slack, driven by the real `slack_sdk` (WebClient, WebhookClient, SignatureVerifier)
and calling a stand-in application: OAuth, chat, views, paging and errors on the Web API; signed
slash commands, block actions, view submissions, shortcuts and events; response URLs; the pages.
No database and no cache: these tests only talk HTTP on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from integrations.slack.fake import FakeError, FakeSlack
from integrations.slack.fake.__main__ import add_demo

SECRET, CLIENT_ID, CLIENT_SECRET = "s3cr3t", "111.222", "cs"
TEAM, ALICE, BOB, CHANNEL = "T0ACME", "U0ALICE", "U0BOB", "C0INC"
REDIRECT = "https://ops.example.com/integrations/slack/oauth/callback/"
COMMANDS, INTERACTIONS, EVENTS = (
    "/integrations/slack/commands/",
    "/integrations/slack/interactions/",
    "/integrations/slack/events/",
)
ACK_BLOCKS = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*API down*"}},
    {
        "type": "actions",
        "block_id": "incident",
        "elements": [
            {
                "type": "button",
                "action_id": "ack",
                "value": "42",
                "text": {"type": "plain_text", "text": "Acknowledge"},
            },
            {
                "type": "static_select",
                "action_id": "severity",
                "placeholder": {"type": "plain_text", "text": "Severity"},
                "options": [
                    {"text": {"type": "plain_text", "text": "SEV1"}, "value": "sev1"},
                    {"text": {"type": "plain_text", "text": "SEV2"}, "value": "sev2"},
                ],
            },
        ],
    },
]
MODAL = {
    "type": "modal",
    "callback_id": "declare",
    "private_metadata": CHANNEL,
    "title": {"type": "plain_text", "text": "Declare incident"},
    "submit": {"type": "plain_text", "text": "Declare"},
    "blocks": [
        {
            "type": "input",
            "block_id": "title",
            "label": {"type": "plain_text", "text": "Title"},
            "element": {"type": "plain_text_input", "action_id": "value"},
        },
        {
            "type": "input",
            "block_id": "severity",
            "optional": True,
            "label": {"type": "plain_text", "text": "Severity"},
            "element": ACK_BLOCKS[1]["elements"][1] | {"action_id": "value"},  # type: ignore[index]
        },
    ],
}


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    """Overrides the suite's cache clearing: nothing here touches Redis."""
    yield


# ---------------------------------------------------------------------- the stand-in app


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode()))

    def payload(self) -> Any:
        return json.loads(self.form()["payload"])

    def signed(self) -> bool:
        return SignatureVerifier(SECRET).is_valid_request(self.body, self.headers)


Answer = tuple[int, bytes, str]  # status, body, content type


def as_json(body: Any) -> Answer:
    return 200, json.dumps(body).encode(), "application/json"


class SlackApp:
    """Records what "Slack" sends and answers `routes[path](request)` (200, empty otherwise)."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[Received], Answer]] = {}
        self.received: list[Received] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def on(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        app = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received = Received(self.path, dict(self.headers.items()), body)
                app.received.append(received)
                route = app.routes.get(self.path)
                status, answer, kind = route(received) if route else (200, b"", "text/plain")
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        return Handler


class Clock:
    """The fake's clock for expiries (codes, triggers, response URLs): moved by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def app() -> Iterator[SlackApp]:
    app = SlackApp()
    thread = threading.Thread(target=app._server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield app
    app._server.shutdown()
    app._server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(app: SlackApp, clock: Clock) -> Iterator[FakeSlack]:
    with FakeSlack(
        signing_secret=SECRET,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        app_url=app.url,
        trigger_ttl=3.0,
        clock=clock,
    ) as fake:
        fake.add_team(TEAM, "Acme")
        fake.add_user(TEAM, ALICE, name="alice", real_name="Alice Doe", email="alice@a.example")
        fake.add_user(TEAM, BOB, name="bob", email="bob@a.example", tz="America/New_York")
        fake.add_channel(TEAM, CHANNEL, "incidents")
        yield fake


def oauth(fake: FakeSlack, **overrides: str) -> Any:
    arguments = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uri": REDIRECT}
    if "code" not in overrides:
        arguments["code"] = fake.authorize_code(
            team_id=TEAM, user_id=ALICE, redirect_uri=REDIRECT, scope="chat:write,commands"
        )
    return WebClient(base_url=fake.api_url).oauth_v2_access(**(arguments | overrides))


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=oauth(fake)["access_token"], base_url=fake.api_url)


def error_of(call: Callable[[], Any]) -> str:
    with pytest.raises(SlackApiError) as raised:
        call()
    return str(raised.value.response["error"])


def trigger_from_command(fake: FakeSlack, app: SlackApp) -> str:
    fake.slash_command(TEAM, ALICE, "/opsduty", "declare", CHANNEL)
    return app.on(COMMANDS)[-1].form()["trigger_id"]


# ---------------------------------------------------------------------- Web API


def test_oauth_code_exchange_answers_slacks_shape_and_the_token_works(fake, clock):
    code = fake.authorize_code(
        team_id=TEAM, user_id=ALICE, redirect_uri=REDIRECT, scope="chat:write"
    )
    answer = oauth(fake, code=code)
    assert answer["token_type"] == "bot" and answer["access_token"].startswith("xoxb-")
    assert (answer["team"], answer["authed_user"]) == ({"id": TEAM, "name": "Acme"}, {"id": ALICE})
    assert (answer["enterprise"], answer["is_enterprise_install"]) == (None, False)
    assert answer["scope"] == "chat:write" and fake.install_token(TEAM) == answer["access_token"]
    who = WebClient(answer["access_token"], base_url=fake.api_url).auth_test()
    assert (who["team_id"], who["user_id"]) == (TEAM, answer["bot_user_id"]) and who["bot_id"]

    assert error_of(lambda: oauth(fake, code=code)) == "invalid_code"  # single use
    assert error_of(lambda: oauth(fake, client_secret="nope")) == "bad_client_secret"
    assert error_of(lambda: oauth(fake, redirect_uri="https://evil.example/")) == "bad_redirect_uri"
    late = fake.authorize_code(team_id=TEAM, user_id=ALICE, redirect_uri=REDIRECT)
    clock.now += 601
    assert error_of(lambda: oauth(fake, code=late)) == "invalid_code"


def test_a_new_install_replaces_the_token_and_revoke_ends_it(fake, client):
    newer = oauth(fake)["access_token"]
    assert error_of(client.auth_test) == "token_revoked"
    fresh = WebClient(newer, base_url=fake.api_url)
    assert fresh.auth_test()["ok"]
    fake.revoke(TEAM)
    assert error_of(fresh.auth_test) == "invalid_auth" and fake.install_token(TEAM) is None
    assert error_of(WebClient("xoxb-unknown", base_url=fake.api_url).auth_test) == "invalid_auth"

    third = WebClient(oauth(fake)["access_token"], base_url=fake.api_url)
    third.apps_uninstall(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    assert error_of(third.auth_test) == "invalid_auth"


def test_post_update_and_thread_keep_order_and_edit_history(fake, client):
    posted = client.chat_postMessage(channel=CHANNEL, text="API down", blocks=ACK_BLOCKS)
    assert posted["channel"] == CHANNEL and posted["message"]["blocks"][1]["block_id"] == "incident"
    reply = client.chat_postMessage(channel=CHANNEL, text="paging alice", thread_ts=posted["ts"])
    updated = client.chat_update(
        channel=CHANNEL, ts=posted["ts"], text="API down (acked)", blocks=[]
    )
    assert updated["text"] == "API down (acked)"
    first, second = fake.messages(CHANNEL)
    assert (first.ts, second.ts) == (posted["ts"], reply["ts"]) and first.ts < second.ts
    assert (second.thread_ts, first.thread_ts) == (posted["ts"], None)
    assert first.text == "API down (acked)" and first.blocks == []
    assert [text for text, _ in first.edits] == ["API down"] and first.edits[0][1][0]["type"]
    assert first.user == client.auth_test()["user_id"] and first.username == "OpsDuty"
    as_form = {"channel": CHANNEL, "text": "x", "blocks": json.dumps(ACK_BLOCKS)}  # form-encoded
    assert client.api_call("chat.postMessage", params=as_form)["message"]["blocks"][0]["type"]
    link = client.chat_getPermalink(channel=CHANNEL, message_ts=posted["ts"])["permalink"]
    assert link == f"{fake.url}/archives/{CHANNEL}/p{posted['ts'].replace('.', '')}"


def test_chat_errors_are_slacks(fake, client):
    fake.add_channel(TEAM, "C0QUIET", "quiet", bot_in_channel=False)
    assert (
        error_of(lambda: client.chat_postMessage(channel="C0NOPE", text="x")) == "channel_not_found"
    )
    assert (
        error_of(lambda: client.chat_postMessage(channel="C0QUIET", text="x")) == "not_in_channel"
    )
    assert (
        error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x", blocks=[{"no": 1}]))
        == "invalid_blocks"
    )
    assert (
        error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x" * 40_001))
        == "msg_too_long"
    )
    assert (
        error_of(lambda: client.chat_postMessage(channel="U0NOBODY", text="x")) == "user_not_found"
    )
    assert (
        error_of(lambda: client.chat_update(channel=CHANNEL, ts="1.000001", text="x"))
        == "message_not_found"
    )
    assert error_of(lambda: client.api_call("chat.shout")) == "unknown_method"
    client.conversations_join(channel="C0QUIET")
    assert client.chat_postMessage(channel="C0QUIET", text="joined")["ok"]


def test_posting_to_a_user_id_posts_in_their_dm_and_ephemerals_are_recorded(fake, client):
    dm = client.chat_postMessage(channel=ALICE, text="You are on call")["channel"]
    assert (
        dm
        == fake.dm_channel(TEAM, ALICE)
        == client.conversations_open(users=ALICE)["channel"]["id"]
    )
    assert dm.startswith("D") and [m.text for m in fake.messages(dm)] == ["You are on call"]
    ts = client.chat_postEphemeral(channel=CHANNEL, user=BOB, text="only bob")["message_ts"]
    [ephemeral] = fake.ephemerals(user_id=BOB)
    assert (ephemeral.channel, ephemeral.text, ephemeral.ts) == (CHANNEL, "only bob", ts)
    assert fake.ephemerals(user_id=ALICE) == [] and fake.messages(CHANNEL) == []


def test_conversations_list_pages_with_cursors(fake, client):
    for number in range(5):
        fake.add_channel(TEAM, f"C0X{number}", f"extra-{number}")
    fake.add_channel(TEAM, "C0SECRET", "secret", is_private=True, bot_in_channel=False)
    fake.add_channel(TEAM, "C0OLD", "old", archived=True)
    seen, cursor, pages = [], "", 0
    while True:
        page = client.conversations_list(limit=2, cursor=cursor, exclude_archived=True)
        seen += [c["name"] for c in page["channels"]]
        pages, cursor = pages + 1, page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert seen == ["incidents"] + [f"extra-{n}" for n in range(5)] and pages == 3
    assert "old" in [c["name"] for c in client.conversations_list()["channels"]]
    dm = fake.dm_channel(TEAM, BOB)
    fake.add_channel(TEAM, "C0OPS", "ops", is_private=True)
    others = client.conversations_list(types="im,private_channel")["channels"]
    assert [(c["id"], c["is_im"]) for c in others] == [(dm, True), ("C0OPS", False)]
    assert error_of(lambda: client.conversations_list(cursor="bm9wZQ==")) == "invalid_cursor"
    assert error_of(lambda: client.conversations_info(channel="C0SECRET")) == "channel_not_found"
    assert client.conversations_info(channel=CHANNEL)["channel"]["name"] == "incidents"


def test_users_info_and_lookup_by_email(fake, client):
    user = client.users_info(user=BOB)["user"]
    assert (user["name"], user["tz"], user["profile"]["email"]) == (
        "bob",
        "America/New_York",
        "bob@a.example",
    )
    assert client.users_lookupByEmail(email="ALICE@a.example")["user"]["id"] == ALICE
    assert error_of(lambda: client.users_info(user="U0NOBODY")) == "user_not_found"
    assert error_of(lambda: client.users_lookupByEmail(email="x@a.example")) == "users_not_found"


def test_rate_limit_answers_429_with_retry_after_then_recovers(fake, client):
    fake.rate_limit("chat.postMessage", times=2, retry_after=7)
    for _ in range(2):
        with pytest.raises(SlackApiError) as raised:
            client.chat_postMessage(channel=CHANNEL, text="flood")
        assert raised.value.response.status_code == 429
        assert raised.value.response.headers["Retry-After"] == "7"
        assert raised.value.response["error"] == "ratelimited"
    assert client.chat_postMessage(channel=CHANNEL, text="calm")["ok"]
    calls = fake.calls("chat.postMessage")
    assert [c.status for c in calls] == [429, 429, 200] and calls[2].params["text"] == "calm"
    assert calls[2].token == fake.install_token(TEAM)


def test_channel_writes_are_recorded_for_rate_checks(fake, client, clock):
    fake.channel_rate(per_second=1.0, burst=1.0)
    for n in range(3):
        client.chat_postMessage(channel=CHANNEL, text=f"burst {n}")
    clock.now += 1.0
    client.chat_update(channel=CHANNEL, ts=fake.messages(CHANNEL)[0].ts, text="calm")
    writes = fake.channel_writes(CHANNEL)
    assert len(writes) == 4 and writes[3] - writes[0] == 1.0
    assert fake.channel_overruns(CHANNEL) == 2  # the 2nd and 3rd in the same instant
    # Each call carries its arrival on the fake's clock (benchmarks time the app by it).
    assert [c.at for c in fake.calls("chat.update")] == [writes[3]]


def test_views_open_takes_a_fresh_single_use_trigger(fake, app, client, clock):
    trigger = trigger_from_command(fake, app)
    view = client.views_open(trigger_id=trigger, view=MODAL)["view"]
    assert view["id"].startswith("V") and view["hash"] and view["callback_id"] == "declare"
    assert (
        error_of(lambda: client.views_open(trigger_id=trigger, view=MODAL)) == "expired_trigger_id"
    )
    assert (
        error_of(lambda: client.views_open(trigger_id="1.2.x", view=MODAL)) == "invalid_trigger_id"
    )
    stale = trigger_from_command(fake, app)
    clock.now += 3.5
    assert error_of(lambda: client.views_open(trigger_id=stale, view=MODAL)) == "expired_trigger_id"
    bad = {"type": "modal", "blocks": []}  # no title
    fresh = trigger_from_command(fake, app)
    assert error_of(lambda: client.views_open(trigger_id=fresh, view=bad)) == "invalid_arguments"
    changed = client.views_update(view_id=view["id"], view=MODAL | {"private_metadata": "x"})
    assert changed["view"]["private_metadata"] == "x"
    [opened] = fake.views(ALICE)
    assert (opened.trigger_id, opened.private_metadata, opened.hash) == (
        trigger,
        "x",
        changed["view"]["hash"],
    )


# ---------------------------------------------------------------------- requests to the app


def test_requests_to_the_app_are_signed_as_slack_signs_them(fake, app, client):
    posted = client.chat_postMessage(channel=CHANNEL, text="API down", blocks=ACK_BLOCKS)
    fake.slash_command(TEAM, ALICE, "/who", "api", CHANNEL)
    fake.click(TEAM, ALICE, CHANNEL, posted["ts"], "ack")
    fake.event(TEAM, {"type": "app_mention", "user": ALICE, "text": "hi"}, retry_num=1)
    challenge = fake.url_verification()
    assert len(app.received) == 4 and all(r.signed() for r in app.received)
    assert not SignatureVerifier("other").is_valid_request(
        app.received[0].body, app.received[0].headers
    )
    stale = fake.signed_headers(b"x=1", timestamp=int(time.time()) - 600)
    assert not SignatureVerifier(SECRET).is_valid_request(b"x=1", stale)
    assert SignatureVerifier(SECRET).is_valid_request(b"x=1", fake.signed_headers(b"x=1"))

    command = app.on(COMMANDS)[0].form()
    assert {
        k: command[k]
        for k in ("team_id", "user_id", "user_name", "command", "text", "channel_name")
    } == {
        "team_id": TEAM,
        "user_id": ALICE,
        "user_name": "alice",
        "command": "/who",
        "text": "api",
        "channel_name": "incidents",
    }
    assert command["response_url"].startswith(fake.url + "/response/") and command["trigger_id"]
    event = app.on(EVENTS)[0]
    assert (
        event.headers["X-Slack-Retry-Num"] == "1"
        and event.headers["X-Slack-Retry-Reason"] == "http_timeout"
    )
    body = json.loads(event.body)
    assert (body["type"], body["event"]["type"], body["team_id"]) == (
        "event_callback",
        "app_mention",
        TEAM,
    )
    assert body["event_id"].startswith("Ev") and body["authorizations"][0]["is_bot"]
    assert json.loads(app.on(EVENTS)[1].body)["type"] == "url_verification"
    assert challenge.status == 200


def test_click_sends_block_actions_for_the_element_in_the_message(fake, app, client):
    posted = client.chat_postMessage(channel=CHANNEL, text="API down", blocks=ACK_BLOCKS)
    fake.click(TEAM, ALICE, CHANNEL, posted["ts"], "ack")
    fake.click(TEAM, BOB, CHANNEL, posted["ts"], "severity", selected_option="sev1")
    button, select = (r.payload() for r in app.on(INTERACTIONS))
    assert button["type"] == "block_actions" and button["team"] == {"id": TEAM, "domain": "acme"}
    assert button["user"] == {"id": ALICE, "username": "alice", "name": "alice", "team_id": TEAM}
    assert button["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": CHANNEL,
        "is_ephemeral": False,
    }
    assert button["channel"] == {"id": CHANNEL, "name": "incidents"}
    assert (
        button["message"]["ts"] == posted["ts"]
        and button["message"]["blocks"][1]["block_id"] == "incident"
    )
    [action] = button["actions"]
    assert (action["type"], action["action_id"], action["block_id"], action["value"]) == (
        "button",
        "ack",
        "incident",
        "42",
    )
    assert action["text"]["text"] == "Acknowledge" and action["action_ts"]
    assert button["trigger_id"] != select["trigger_id"] and button["api_app_id"] and button["token"]
    assert select["actions"][0]["selected_option"]["value"] == "sev1"
    assert select["actions"][0]["selected_option"]["text"]["text"] == "SEV1"
    with pytest.raises(FakeError):
        fake.click(TEAM, ALICE, CHANNEL, posted["ts"], "no-such-button")


def test_slash_command_answers_show_as_ephemeral_or_in_channel(fake, app, client):
    app.routes[COMMANDS] = lambda r: as_json({"text": f"on call for {r.form()['text']}: bob"})
    fake.slash_command(TEAM, ALICE, "/who", "api", CHANNEL)
    assert [e.text for e in fake.ephemerals(CHANNEL, ALICE)] == ["on call for api: bob"]
    app.routes[COMMANDS] = lambda r: as_json({"response_type": "in_channel", "text": "Declared"})
    answer = fake.slash_command(TEAM, ALICE, "/opsduty", "declare", CHANNEL)
    assert answer.json == {"response_type": "in_channel", "text": "Declared"}
    assert [m.text for m in fake.messages(CHANNEL)] == ["Declared"]
    app.routes[COMMANDS] = lambda r: (500, b"boom", "text/plain")
    assert fake.slash_command(TEAM, ALICE, "/opsduty", "", CHANNEL).status == 500
    assert (
        fake.ephemerals(CHANNEL, ALICE)[-1].text
        == '/opsduty failed with the error "dispatch_failed"'
    )


def test_response_url_replaces_deletes_posts_and_expires(fake, app, client, clock):
    posted = client.chat_postMessage(channel=CHANNEL, text="API down", blocks=ACK_BLOCKS)
    fake.click(TEAM, ALICE, CHANNEL, posted["ts"], "ack")
    hook = WebhookClient(app.on(INTERACTIONS)[-1].payload()["response_url"])
    assert hook.send(text="Acked by alice", replace_original=True).status_code == 200
    assert hook.send(text="only you see this").status_code == 200
    assert hook.send(text="Alice is on it", response_type="in_channel").status_code == 200
    texts = [m.text for m in fake.messages(CHANNEL)]
    assert texts == ["Acked by alice", "Alice is on it"]
    assert fake.messages(CHANNEL)[0].edits[0][0] == "API down"
    assert [e.text for e in fake.ephemerals(CHANNEL, ALICE)] == ["only you see this"]
    assert hook.send(delete_original=True).status_code == 200
    assert [m.text for m in fake.messages(CHANNEL)] == ["Alice is on it"]
    assert hook.send(text="fifth").status_code == 200
    assert hook.send(text="sixth").status_code == 404  # five uses
    did = [r.did for r in fake.responses()]
    assert did == [
        "replaced",
        "ephemeral",
        "in_channel",
        "deleted",
        "ephemeral",
        "rejected: used_url",
    ]

    fake.slash_command(TEAM, ALICE, "/who", "api", CHANNEL)
    late = WebhookClient(app.on(COMMANDS)[-1].form()["response_url"])
    clock.now += 1801
    assert late.send(text="too late").status_code == 404
    assert fake.responses()[-1].did == "rejected: expired_url"


def test_view_submission_errors_keep_the_modal_open_and_success_closes_it(fake, app, client):
    def open_modal(request: Received) -> Answer:
        client.views_open(trigger_id=request.form()["trigger_id"], view=MODAL)
        return 200, b"", "text/plain"

    app.routes[COMMANDS] = open_modal
    fake.slash_command(TEAM, ALICE, "/opsduty", "declare", CHANNEL)
    [view] = fake.views(ALICE)
    answers = iter(
        [as_json({"response_action": "errors", "errors": {"title": "Too short"}}), (200, b"", "")]
    )
    app.routes[INTERACTIONS] = lambda request: next(answers)

    missing = fake.submit_view(view.id, ALICE, {"title": {"value": ""}})
    assert missing.status == 0 and app.on(INTERACTIONS) == []  # Slack's client refuses it
    assert fake.views(ALICE)[0].errors == {"title": "Please complete this required field."}

    fake.submit_view(view.id, ALICE, {"title": {"value": "DB"}, "severity": {"value": "sev2"}})
    [shown] = fake.views(ALICE)
    assert shown.errors == {"title": "Too short"} and not shown.closed
    payload = app.on(INTERACTIONS)[0].payload()
    assert payload["type"] == "view_submission" and payload["user"]["id"] == ALICE
    sent = payload["view"]
    assert (sent["id"], sent["callback_id"], sent["private_metadata"], sent["type"]) == (
        view.id,
        "declare",
        CHANNEL,
        "modal",
    )
    assert sent["hash"] == view.hash
    values = sent["state"]["values"]
    assert values["title"] == {"value": {"type": "plain_text_input", "value": "DB"}}
    assert values["severity"]["value"]["selected_option"] == {
        "text": {"type": "plain_text", "text": "SEV2"},
        "value": "sev2",
    }

    fake.submit_view(view.id, ALICE, {"title": {"value": "Database down"}})
    assert app.on(INTERACTIONS)[1].payload()["view"]["state"]["values"]["severity"] == {
        "value": {"type": "static_select", "selected_option": None}
    }
    assert fake.views(ALICE)[0].closed


def test_view_submission_can_push_and_clear(fake, app, client):
    client.views_open(trigger_id=trigger_from_command(fake, app), view=MODAL)
    [root] = fake.views(ALICE)
    pushed = MODAL | {"callback_id": "confirm", "title": {"type": "plain_text", "text": "Sure?"}}
    app.routes[INTERACTIONS] = lambda request: as_json({"response_action": "push", "view": pushed})
    fake.submit_view(root.id, ALICE, {"title": {"value": "DB"}})
    top = fake.open_view_of(ALICE)
    assert top is not None and top.callback_id == "confirm" and top.previous_view_id == root.id
    app.routes[INTERACTIONS] = lambda request: as_json({"response_action": "clear"})
    fake.submit_view(top.id, ALICE, {"title": {"value": "yes"}})
    assert all(v.closed for v in fake.views(ALICE)) and fake.open_view_of(ALICE) is None


def test_message_shortcut_sends_the_message(fake, app, client):
    posted = client.chat_postMessage(channel=CHANNEL, text="checkout is slow")
    fake.message_shortcut(TEAM, BOB, CHANNEL, posted["ts"], "create_incident_from_message")
    payload = app.on(INTERACTIONS)[0].payload()
    assert (payload["type"], payload["callback_id"]) == (
        "message_action",
        "create_incident_from_message",
    )
    assert (
        payload["message"]["text"] == "checkout is slow"
        and payload["message"]["ts"] == posted["ts"]
    )
    assert payload["channel"]["id"] == CHANNEL and payload["trigger_id"] and payload["response_url"]


def test_sender_hook_replaces_http_to_the_app(fake, app):
    seen: list[tuple[str, bytes, dict[str, str]]] = []

    def sender(
        path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        seen.append((path, body, headers))
        return 200, b'{"text": "hello"}', {"Content-Type": "application/json"}

    fake.sender = sender
    answer = fake.slash_command(TEAM, ALICE, "/opsduty", "help", CHANNEL)
    assert answer.json == {"text": "hello"} and app.received == []
    [(path, body, headers)] = seen
    assert path == COMMANDS and SignatureVerifier(SECRET).is_valid_request(body, headers)
    assert fake.ephemerals(CHANNEL, ALICE)[0].text == "hello"


# ---------------------------------------------------------------------- the pages


def request(
    method: str, url: str, form: dict[str, str] | None = None
) -> tuple[int, str, dict[str, str]]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=10)
    body = urlencode(form) if form is not None else None
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if form is not None else {}
    try:
        connection.request(
            method, parts.path + (f"?{parts.query}" if parts.query else ""), body, headers
        )
        response = connection.getresponse()
        return response.status, response.read().decode(), dict(response.getheaders())
    finally:
        connection.close()


class Forms(HTMLParser):
    """The forms of a page: action, fields (hidden inputs and selects' first options), buttons."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._button = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attr.get("action"), "fields": {}, "buttons": [], **attr})
        elif tag == "input" and attr.get("type") == "hidden" and self.forms:
            self.forms[-1]["fields"][attr["name"]] = attr.get("value") or ""
        self._button = tag == "button"

    def handle_data(self, data: str) -> None:
        if self._button and self.forms:
            self.forms[-1]["buttons"].append(data)
            self._button = False


def test_pages_show_the_workspace_and_a_button_posts_signed_block_actions(fake, app, client):
    posted = client.chat_postMessage(channel=CHANNEL, text="API down", blocks=ACK_BLOCKS)
    status, index, _ = request("GET", fake.url + "/")
    assert status == 200 and "Acme" in index and "#incidents" in index and "App installed" in index
    status, html, _ = request("GET", f"{fake.url}/team/{TEAM}/channel/{CHANNEL}?as={BOB}")
    anchor = posted["ts"].replace(".", "")
    assert (
        status == 200
        and f'<article class="message" id="m{anchor}" data-ts="{posted["ts"]}"' in html
    )
    assert "<b>API down</b>" in html and "Create incident from message" in html
    [ack] = [f for f in Forms(html).forms if f["buttons"] == ["Acknowledge"]]
    status, _, headers = request("POST", fake.url + ack["action"], ack["fields"])
    assert status == 303 and headers["Location"] == f"/team/{TEAM}/channel/{CHANNEL}?as={BOB}"
    [received] = app.on(INTERACTIONS)
    assert received.signed() and received.payload()["user"]["id"] == BOB
    assert received.payload()["actions"][0]["action_id"] == "ack"


def test_the_composer_runs_slash_commands_and_the_modal_form_submits(fake, app, client):
    def open_modal(request: Received) -> Answer:
        client.views_open(trigger_id=request.form()["trigger_id"], view=MODAL)
        return 200, b"", "text/plain"

    app.routes[COMMANDS] = open_modal
    before = json.loads(request("GET", fake.url + "/_fake/version")[1])["version"]
    page = f"{fake.url}/team/{TEAM}/channel/{CHANNEL}?as={ALICE}"
    [composer] = [f for f in Forms(request("GET", page)[1]).forms if f["action"] == "/ui/command"]
    request("POST", fake.url + "/ui/command", composer["fields"] | {"text": "/opsduty declare"})
    assert app.on(COMMANDS)[0].form()["text"] == "declare"
    assert json.loads(request("GET", fake.url + "/_fake/version")[1])["version"] > before

    app.routes[INTERACTIONS] = lambda r: as_json(
        {"response_action": "errors", "errors": {"title": "Too <short>"}}
    )
    html = request("GET", page)[1]
    [modal] = [f for f in Forms(html).forms if f.get("class") == "modal"]
    assert modal["aria-label"] == "Declare incident" and modal["buttons"] == ["Declare", "Cancel"]
    title_field = "v:" + json.dumps(["title", "value"])
    request(
        "POST", fake.url + "/ui/view", modal["fields"] | {title_field: "DB", "decision": "submit"}
    )
    assert (
        app.on(INTERACTIONS)[0].payload()["view"]["state"]["values"]["title"]["value"]["value"]
        == "DB"
    )
    html = request("GET", page)[1]
    assert "Too &lt;short&gt;" in html and 'value="DB"' in html
    request("POST", fake.url + "/ui/view", modal["fields"] | {"decision": "cancel"})
    assert fake.open_view_of(ALICE) is None


def test_install_page_redirects_with_a_code_or_access_denied(fake):
    query = urlencode(
        {
            "client_id": CLIENT_ID,
            "scope": "chat:write,commands",
            "redirect_uri": REDIRECT,
            "state": "xyz",
        }
    )
    status, html, _ = request("GET", f"{fake.authorize_url}?{query}")
    assert status == 200 and "Install OpsDuty to Acme" in html
    [form] = Forms(html).forms
    assert form["buttons"] == ["Allow", "Cancel"]
    status, _, headers = request(
        "POST",
        fake.authorize_url,
        form["fields"] | {"team": TEAM, "user": ALICE, "decision": "allow"},
    )
    location = urlsplit(headers["Location"])
    assert status == 302 and location.geturl().startswith(REDIRECT)
    code = parse_qs(location.query)["code"][0]
    assert parse_qs(location.query)["state"] == ["xyz"] and oauth(fake, code=code)["ok"]
    _, _, headers = request("POST", fake.authorize_url, form["fields"] | {"decision": "cancel"})
    assert parse_qs(urlsplit(headers["Location"]).query) == {
        "error": ["access_denied"],
        "state": ["xyz"],
    }
    assert request("GET", f"{fake.authorize_url}?client_id=999")[0] == 400


# ---------------------------------------------------------------------- the command line


def test_demo_workspace_has_the_demo_people_and_channels():
    with FakeSlack() as fake:
        add_demo(fake)
        client = WebClient(fake.install("T0DEMO"), base_url=fake.api_url)
        names = [c["name"] for c in client.conversations_list()["channels"]]
        assert names == ["incidents", "api-alerts", "checkout"]
        emails = {f"{n}@demo.example" for n in ("owner", "alice", "bob", "carol")}
        assert {client.users_lookupByEmail(email=e)["user"]["id"] for e in emails} == {
            "U0OWNER",
            "U0ALICE",
            "U0BOB",
            "U0CAROL",
        }


def test_command_line_serves_until_terminated():
    process = subprocess.Popen(  # noqa: S603 (our own module)
        [sys.executable, "-m", "integrations.slack.fake", "--demo", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        ready, _, _ = select.select([process.stderr], [], [], 30)  # bounded: never hang the suite
        line = process.stderr.readline() if ready else ""
        url = line.split()[3]
        assert line.startswith("fake Slack on http://127.0.0.1:")
        assert "OpsDuty Demo" in request("GET", url + "/")[1]
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
