"""The fake Slack's pages: the workspaces, the OAuth install screen, and a channel (Block Kit
drawn by `render.py`), so that a developer or a Playwright test can press buttons, type slash
commands and fill modals as someone. Everything shown is escaped; a page reloads itself when
the fake's state changes (not while a field has the focus)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from integrations.slack.fake.model import AppAnswer, FakeError, Message
from integrations.slack.fake.render import Ctx, base, content, hidden, modal

if TYPE_CHECKING:
    from integrations.slack.fake.server import FakeSlack

Page = tuple[int, str, dict[str, str]]

CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem}
article.message{border-top:1px solid #ddd;padding:.5rem 0}
.replies{margin-left:2rem;border-left:3px solid #ddd;padding-left:.75rem}
aside.ephemeral{background:#f4f0ff;border-left:3px solid #7c4dff;padding:.25rem .75rem}
form.inline{display:inline}.link{background:none;border:0;color:#1264a3;cursor:pointer;padding:0}
form.modal{border:2px solid #333;border-radius:8px;padding:1rem;margin:1rem 0;background:#fafafa}
form.modal label{display:block;font-weight:600;margin-top:.75rem}
.error{color:#b00020}.meta,.context{color:#555;font-size:.85em}.notice{background:#fff4e5;padding:.5rem}
.fields{display:grid;grid-template-columns:1fr 1fr;gap:.25rem 1rem}
button.primary{font-weight:bold}button.danger{color:#b00020}
"""
JS = """
const seen = document.body.dataset.version;
if (seen !== undefined) setInterval(async () => {
  try {
    const now = (await (await fetch("/_fake/version")).json()).version;
    const focus = document.activeElement;
    const typing = focus && ["INPUT", "SELECT", "TEXTAREA"].includes(focus.tagName);
    if (String(now) !== seen && !typing) location.reload();
  } catch (e) { /* the fake stopped */ }
}, 700);
"""


def page(title: str, body: str, version: int | None = None) -> str:
    data = "" if version is None else f' data-version="{version}"'
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body{data}>"
        f'<header><a href="/">Fake Slack</a></header><main>{body}</main>'
        f"<script>{JS}</script></body></html>"
    )


def error_page(status: int, message: str) -> Page:
    return status, page("Error", f'<h1>Error</h1><p role="alert">{escape(message)}</p>'), {}


def with_query(uri: str, params: dict[str, str]) -> str:
    return uri + ("&" if "?" in uri else "?") + urlencode(params)


def route(
    fake: FakeSlack, method: str, path: str, query: dict[str, str], form: dict[str, str]
) -> Page:
    """Answer one page request or form post."""
    channel = re.fullmatch(r"/team/([^/]+)/channel/([^/]+)", path)
    archive = re.fullmatch(r"/archives/([^/]+)/p\d+", path)
    try:
        if method == "GET" and path == "/":
            return 200, index(fake), {}
        if method == "GET" and path == "/oauth/v2/authorize":
            return authorize_page(fake, query)
        if method == "POST" and path == "/oauth/v2/authorize":
            return authorize_decision(fake, form)
        if method == "GET" and channel:
            return channel_page(fake, channel[1], channel[2], query.get("as", ""))
        if method == "GET" and archive and archive[1] in fake.state.channels:
            team = fake.state.channels[archive[1]].team_id
            return 302, "", {"Location": f"/team/{team}/channel/{archive[1]}"}
        if method == "POST" and path in POSTS:
            return ui_post(fake, form, POSTS[path])
    except FakeError as error:
        return error_page(400, str(error))
    return error_page(404, "Nothing here.")


# ---------------------------------------------------------------------- index and install


def index(fake: FakeSlack) -> str:
    state, parts = fake.state, ['<h1>Fake Slack</h1><p class="meta">App: ']
    parts.append(f"{escape(fake.app_name)}, sending to {escape(fake.app_url)}</p>")
    with state.lock:
        for team in state.teams.values():
            installed = "App installed" if team.token else "App not installed"
            parts.append(f"<section><h2>{escape(team.name)} <small>({escape(team.id)})</small>")
            parts.append(f'</h2><p class="meta">{installed}</p><h3>Channels</h3><ul>')
            for channel in state.channels.values():
                if channel.team_id == team.id and not channel.is_im:
                    link = f"/team/{team.id}/channel/{channel.id}"
                    parts.append(f'<li><a href="{escape(link)}">#{escape(channel.name)}</a></li>')
            parts.append("</ul><h3>People</h3><ul>")
            for user in state.users.values():
                if user.team_id == team.id and not user.is_bot:
                    parts.append(f"<li>{user_line(fake, user.id)}</li>")
            parts.append("</ul></section>")
        return page("Fake Slack", "".join(parts), state.version)


def user_line(fake: FakeSlack, user_id: str) -> str:
    user = fake.state.users[user_id]
    line = f"{escape(user.real_name)} (@{escape(user.name)}, {escape(user.email or 'no email')})"
    for channel in fake.state.channels.values():
        if channel.im_user == user.id:
            link = f"/team/{user.team_id}/channel/{channel.id}?as={user.id}"
            line += f' — <a href="{escape(link)}">DM with {escape(fake.app_name)}</a>'
    return line


def authorize_page(fake: FakeSlack, query: dict[str, str]) -> Page:
    if query.get("client_id") != fake.client_id:
        return error_page(400, f"Unknown client_id {query.get('client_id', '')!r}.")
    if not query.get("redirect_uri"):
        return error_page(400, "This fake needs a redirect_uri.")
    with fake.state.lock:
        teams = list(fake.state.teams.values())
        people = [u for u in fake.state.users.values() if not u.is_bot and not u.deleted]
    where = teams[0].name if len(teams) == 1 else "a workspace"
    team_options = "".join(
        f'<option value="{escape(t.id)}">{escape(t.name)}</option>' for t in teams
    )
    user_options = "".join(
        f'<option value="{escape(u.id)}">{escape(u.name)} ({escape(u.team_id)})</option>'
        for u in people
    )
    scopes = "".join(f"<li>{escape(s)}</li>" for s in query.get("scope", "").split(",") if s)
    keep = {
        k: query.get(k, "") for k in ("client_id", "scope", "user_scope", "redirect_uri", "state")
    }
    body = (
        f"<h1>Install {escape(fake.app_name)} to {escape(where)}</h1>"
        f'<form method="post" action="/oauth/v2/authorize">{hidden(**keep)}'
        f"<p>{escape(fake.app_name)} is requesting permission to:</p><ul>{scopes}</ul>"
        f'<p><label>Workspace <select name="team">{team_options}</select></label></p>'
        f'<p><label>Acting as <select name="user">{user_options}</select></label></p>'
        '<button type="submit" name="decision" value="allow" class="primary">Allow</button> '
        '<button type="submit" name="decision" value="cancel">Cancel</button></form>'
    )
    return 200, page(f"Install {fake.app_name}", body), {}


def authorize_decision(fake: FakeSlack, form: dict[str, str]) -> Page:
    if form.get("client_id") != fake.client_id or not form.get("redirect_uri"):
        return error_page(400, "Unknown client_id or no redirect_uri.")
    redirect, state = form["redirect_uri"], form.get("state", "")
    if form.get("decision") != "allow":
        return (
            302,
            "",
            {"Location": with_query(redirect, {"error": "access_denied", "state": state})},
        )
    code = fake.authorize_code(
        team_id=form.get("team", ""),
        user_id=form.get("user", ""),
        redirect_uri=redirect,
        scope=form.get("scope", ""),
    )
    return 302, "", {"Location": with_query(redirect, {"code": code, "state": state})}


# ---------------------------------------------------------------------- a channel


def channel_page(fake: FakeSlack, team_id: str, channel_id: str, acting: str) -> Page:
    state = fake.state
    with state.lock:
        channel = state.channel_in(team_id, channel_id)
        if channel is None:
            return error_page(404, f"No channel {channel_id} in {team_id}.")
        people = [u for u in state.users.values() if u.team_id == team_id and not u.is_bot]
        ids = [u.id for u in people]
        if acting not in ids:
            acting = channel.im_user if channel.is_im else (ids[0] if ids else "")
        names = {u.id: u.name for u in state.users.values()}
        ctx = Ctx(team_id, channel_id, acting, names)
        title = f"DM with @{names.get(channel.im_user)}" if channel.is_im else f"#{channel.name}"
        choices = "".join(
            f'<option value="{escape(u.id)}"{" selected" if u.id == acting else ""}>'
            f"{escape(u.name)}</option>"
            for u in people
        )
        note = state.notes.pop(acting, "")
        view = fake.open_view_of(acting)
        body = (
            f"<h1>{escape(title)}</h1>"
            f'<form method="get"><label>Acting as <select name="as">{choices}</select></label> '
            '<button type="submit">Switch</button></form>'
            + (f'<p class="notice" role="status">{escape(note)}</p>' if note else "")
            + (modal(view, ctx) if view else "")
            + messages_html(fake, ctx)
            + ephemerals_html(fake, ctx)
            + f'<form method="post" action="/ui/command">{hidden(**base(ctx))}'
            f'<label for="composer">Message {escape(title)}</label> '
            '<input id="composer" name="text" size="50" placeholder="/opsduty help" '
            'autocomplete="off"> <button type="submit">Send</button></form>'
        )
        return 200, page(title, body, state.version), {}


def messages_html(fake: FakeSlack, ctx: Ctx) -> str:
    messages = fake.state.messages.get(ctx.channel, [])
    top = sorted((m for m in messages if not m.thread_ts), key=lambda m: m.ts)
    parts = ['<section aria-label="Messages">']
    for message in top:
        parts.append(article(fake, message, ctx))
        replies = sorted((m for m in messages if m.thread_ts == message.ts), key=lambda m: m.ts)
        if replies:  # after their message, not inside it: each article holds one message's forms
            inner = "".join(article(fake, reply, ctx) for reply in replies)
            parts.append(f'<div class="replies" aria-label="Replies">{inner}</div>')
    return "".join(parts) + "</section>"


def article(fake: FakeSlack, message: Message, ctx: Ctx) -> str:
    author = message.username if message.bot_id else ctx.names.get(message.user, message.user)
    when = time.strftime("%H:%M:%S", time.gmtime(float(message.ts)))
    edited = " (edited)" if message.edits else ""
    shortcut = (
        f'<form class="inline" method="post" action="/ui/shortcut">'
        f'{hidden(**base(ctx), ts=message.ts)}<button type="submit" class="link">'
        f"{escape(fake.shortcut_name)}</button></form>"
    )
    return (
        f'<article class="message" id="m{message.ts.replace(".", "")}" '
        f'data-ts="{escape(message.ts)}"><p class="meta"><b>{escape(author)}</b> '
        f"<time>{when}</time>{edited}</p>"
        f"{content(message.text, message.blocks, ctx, message.ts)}{shortcut}</article>"
    )


def ephemerals_html(fake: FakeSlack, ctx: Ctx) -> str:
    return "".join(
        f'<aside class="ephemeral" data-ts="{escape(e.ts)}"><p class="meta">Only visible to you</p>'
        f"{content(e.text, e.blocks, ctx, e.ts)}</aside>"
        for e in fake.state.ephemerals
        if e.channel == ctx.channel and e.user == ctx.acting
    )


# ---------------------------------------------------------------------- form posts


def ui_post(
    fake: FakeSlack,
    form: dict[str, str],
    action: Callable[[FakeSlack, dict[str, str]], AppAnswer | None],
) -> Page:
    """Run the user's action, note a failing app for them, and go back to the channel."""
    acting = form.get("as", "")
    try:
        answer = action(fake, form)
        if answer is not None and answer.status != 200 and (answer.status or answer.body):
            detail = answer.body.decode("utf-8", "replace")[:200] if answer.status == 0 else ""
            note = f"The app answered HTTP {answer.status}. {detail}".strip()
            with fake.state.lock:
                fake.state.notes[acting] = note
    except FakeError as error:
        with fake.state.lock:
            fake.state.notes[acting] = str(error)
    where = f"/team/{form.get('team', '')}/channel/{form.get('channel', '')}"
    return 303, "", {"Location": f"{where}?{urlencode({'as': acting})}"}


def do_click(fake: FakeSlack, form: dict[str, str]) -> AppAnswer:
    return fake.click(
        form.get("team", ""),
        form.get("as", ""),
        form.get("channel", ""),
        form.get("ts", ""),
        form.get("action_id", ""),
        selected_option=form.get("selected"),
        block_id=form.get("block_id") or None,
    )


def do_command(fake: FakeSlack, form: dict[str, str]) -> AppAnswer | None:
    """`/command text` runs the slash command; anything else is posted as the user."""
    text, team, acting, channel = (form.get(k, "") for k in ("text", "team", "as", "channel"))
    text = text.strip()
    if text.startswith("/"):
        command, _, rest = text.partition(" ")
        return fake.slash_command(team, acting, command, rest.strip(), channel)
    if text:
        with fake.state.lock:
            fake.state.member(team, acting)
            fake.state.post(Message(channel, fake.state.next_ts(), text, [], None, acting))
    return None


def do_shortcut(fake: FakeSlack, form: dict[str, str]) -> AppAnswer:
    team, acting, channel, ts = (form.get(k, "") for k in ("team", "as", "channel", "ts"))
    return fake.message_shortcut(team, acting, channel, ts)


def do_view(fake: FakeSlack, form: dict[str, str]) -> AppAnswer | None:
    view_id, acting = form.get("view_id", ""), form.get("as", "")
    if form.get("decision") == "cancel":
        return fake.close_view(view_id, acting)
    values: dict[str, dict[str, Any]] = {}
    for key, value in form.items():
        if key.startswith("v:"):
            block_id, action_id = json.loads(key[2:])
            values.setdefault(block_id, {})[action_id] = value or None
    return fake.submit_view(view_id, acting, values)


POSTS = {
    "/ui/click": do_click,
    "/ui/command": do_command,
    "/ui/shortcut": do_shortcut,
    "/ui/view": do_view,
}
