"""Block Kit as plain HTML for the fake's pages: messages (buttons and selects become small
forms that make the fake send block_actions) and modals (a form whose fields are the input
blocks, with the app's errors next to them). Everything shown is escaped."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from html import escape
from typing import Any

from integrations.slack.fake.blocks import initial_of, options_of, shown_value
from integrations.slack.fake.model import Json, View, plain


@dataclass(frozen=True)
class Ctx:
    """Where a rendered element's forms send their clicks, and who clicks."""

    team: str
    channel: str
    acting: str
    names: dict[str, str]


def hidden(**fields: str) -> str:
    return "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items()
    )


def base(ctx: Ctx) -> dict[str, str]:
    return {"team": ctx.team, "channel": ctx.channel, "as": ctx.acting}


# ---------------------------------------------------------------------- Block Kit


def content(text: str, blocks: list[Json], ctx: Ctx, ts: str | None) -> str:
    """A message's blocks (its text when it has none); `ts` None renders inert elements."""
    if not blocks:
        return f"<p>{mrkdwn(text, ctx)}</p>"
    return "".join(block_html(block, ctx, ts) for block in blocks)


def block_html(block: Json, ctx: Ctx, ts: str | None) -> str:
    kind = block.get("type")
    if kind == "header":
        return f"<h3>{escape(plain(block.get('text')))}</h3>"
    if kind == "divider":
        return "<hr>"
    if kind == "context":
        texts = [text_html(element, ctx) for element in block.get("elements", [])]
        return f'<p class="context">{" · ".join(texts)}</p>'
    if kind == "actions":
        controls = [control(e, str(block["block_id"]), ctx, ts) for e in block.get("elements", [])]
        return f'<div class="actions">{" ".join(controls)}</div>'
    if kind == "section":
        parts = [f"<p>{text_html(block['text'], ctx)}</p>"] if block.get("text") else []
        if block.get("fields"):
            fields = "".join(f"<div>{text_html(f, ctx)}</div>" for f in block["fields"])
            parts.append(f'<div class="fields">{fields}</div>')
        if isinstance(block.get("accessory"), dict):
            parts.append(control(block["accessory"], str(block["block_id"]), ctx, ts))
        return "".join(parts)
    if kind == "image":
        return f'<p class="context">[image: {escape(str(block.get("alt_text", "")))}]</p>'
    return f'<p class="context">[{escape(str(kind))} block]</p>'


def text_html(obj: Any, ctx: Ctx) -> str:
    if isinstance(obj, dict) and obj.get("type") == "mrkdwn":
        return mrkdwn(str(obj.get("text", "")), ctx)
    if isinstance(obj, dict) and obj.get("type") == "image":
        return escape(str(obj.get("alt_text", "")))
    return escape(plain(obj))


def control(element: Json, block_id: str, ctx: Ctx, ts: str | None) -> str:
    """A button or select as a small form that makes the fake send block_actions."""
    kind = element.get("type")
    label = escape(plain(element.get("text")))
    if ts is None:
        return f"<span>{label}</span>" if kind == "button" else ""
    fields = hidden(**base(ctx), ts=ts, action_id=str(element.get("action_id")), block_id=block_id)
    start = f'<form class="inline" method="post" action="/ui/click">{fields}'
    if kind == "button":
        style = f' class="{escape(str(element["style"]))}"' if element.get("style") else ""
        return f'{start}<button type="submit"{style}>{label}</button></form>'
    if kind in ("static_select", "overflow", "radio_buttons"):
        name = escape(plain(element.get("placeholder")) or "Choose an option")
        select = f'<select name="selected" aria-label="{name}">{option_tags(element)}</select>'
        return f'{start}{select} <button type="submit">Go</button></form>'
    return f'<span class="context">[{escape(str(kind))}]</span>'


def mrkdwn(text: str, ctx: Ctx) -> str:
    """Slack's mrkdwn as HTML: links and mentions, *bold*, _italic_, `code`, ~strike~."""
    out, position = [], 0
    for match in re.finditer(r"(\*?)<([^<>|]+)(?:\|([^<>]*))?>(\*?)", text):
        out.append(inline(text[position : match.start()]))
        lead, target, label, trail = match[1], match[2], match[3], match[4]
        if target.startswith(("http://", "https://", "mailto:")):
            piece = f'<a href="{escape(target)}">{inline(label or target)}</a>'
        elif target[:1] in ("@", "#", "!"):
            name = label or ctx.names.get(target[1:], target[1:].split("^")[0])
            piece = escape(("#" if target[0] == "#" else "@") + name)
        else:
            piece = escape(match[0][len(lead) : len(match[0]) - len(trail)])
        # *<link|label>* is a bold link.
        out.append(f"<b>{piece}</b>" if lead and trail else escape(lead) + piece + escape(trail))
        position = match.end()
    out.append(inline(text[position:]))
    return "".join(out)


def inline(text: str) -> str:
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")  # Slack's escapes
    html = escape(text)
    for pattern, tag in (
        (r"\*([^*\n]+)\*", "b"),
        (r"(?<!\w)_([^_\n]+)_(?!\w)", "i"),
        (r"~([^~\n]+)~", "s"),
        (r"`([^`\n]+)`", "code"),
    ):
        html = re.sub(pattern, rf"<{tag}>\1</{tag}>", html)
    return html.replace("\n", "<br>")


# ---------------------------------------------------------------------- modals


def modal(view: View, ctx: Ctx) -> str:
    title = plain(view.view.get("title")) or "Modal"
    blocks = "".join(
        input_html(block, view) if block.get("type") == "input" else block_html(block, ctx, None)
        for block in view.view.get("blocks", [])
    )
    problem = view.errors.get("", "")
    buttons = [("submit", plain(view.view.get("submit")), ' class="primary"')]
    buttons.append(("cancel", plain(view.view.get("close")) or "Cancel", ""))
    controls = " ".join(
        f'<button type="submit" name="decision" value="{value}"{css}>{escape(label)}</button>'
        for value, label, css in buttons
        if label
    )
    return (
        f'<form class="modal" aria-label="{escape(title)}" method="post" action="/ui/view">'
        f"{hidden(**base(ctx), view_id=view.id)}<h2>{escape(title)}</h2>"
        + (f'<p class="error" role="alert">{escape(problem)}</p>' if problem else "")
        + f"{blocks}<p>{controls}</p></form>"
    )


def option_tags(element: Json, chosen: Any = None) -> str:
    return "".join(
        f'<option value="{escape(str(o.get("value")))}"'
        + (" selected" if o.get("value") == chosen else "")
        + f">{escape(plain(o.get('text')))}</option>"
        for o in options_of(element)
    )


def input_html(block: Json, view: View) -> str:
    """An input block: its label, its field (with what was typed), its hint and its error."""
    element, block_id = block.get("element") or {}, str(block["block_id"])
    action_id, kind = str(element.get("action_id")), element.get("type")
    field_id = escape(f"f-{block_id}-{action_id}")
    value = current(view, block_id, action_id, element)
    error = view.errors.get(block_id, "")
    attrs = f'id="{field_id}" name="{escape("v:" + json.dumps([block_id, action_id]))}"'
    if error:
        attrs += f' aria-invalid="true" aria-describedby="{field_id}-error"'
    if kind in ("static_select", "radio_buttons"):
        choose = escape(plain(element.get("placeholder")) or "Choose…")
        field = f'<select {attrs}><option value="">{choose}</option>'
        field += f"{option_tags(element, value)}</select>"
    elif kind == "plain_text_input" and element.get("multiline"):
        field = f'<textarea {attrs} rows="4">{escape(str(value or ""))}</textarea>'
    else:
        types = {"datepicker": "date", "number_input": "number", "email_text_input": "email"}
        kind_attr = types.get(str(kind), "text")
        field = f'<input {attrs} type="{kind_attr}" value="{escape(str(value or ""))}">'
    label = escape(plain(block.get("label"))) + (" (optional)" if block.get("optional") else "")
    extra = f'<p class="context">{escape(plain(block["hint"]))}</p>' if block.get("hint") else ""
    if error:
        extra += f'<p class="error" role="alert" id="{field_id}-error">{escape(error)}</p>'
    return (
        f'<div class="input" data-block-id="{escape(block_id)}">'
        f'<label for="{field_id}">{label}</label>{field}{extra}</div>'
    )


def current(view: View, block_id: str, action_id: str, element: Json) -> Any:
    """What the field shows: what was last submitted, else its initial value."""
    entry = view.submitted.get(block_id, {}).get(action_id)
    return initial_of(element) if entry is None else shown_value(entry)
