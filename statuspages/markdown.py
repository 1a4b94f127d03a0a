"""Markdown of notices, updates and postmortems to HTML that is safe to show: rendered by
markdown-it-py (CommonMark, raw HTML off), then sanitized by nh3 (an allow-list of tags and
attributes; `javascript:` and other schemes dropped; links get rel="noopener noreferrer
nofollow"). Written by the team, read by anyone who can see the page."""

from __future__ import annotations

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_TAGS = {
    "a", "p", "br", "hr", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "del",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}, "ol": {"start"}}


def markdown_html(text: str) -> SafeString:
    """`text` (Markdown) as sanitized HTML."""
    rendered = _MARKDOWN.render(text or "")
    clean = nh3.clean(
        rendered,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(clean)  # noqa: S308 (sanitized by nh3 just above)
