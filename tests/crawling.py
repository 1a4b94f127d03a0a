"""A same-origin crawler over Django's test client: from a start page it GETs every link and
every htmx GET it finds, follows redirects, and reports each URL's status and what is wrong
with each page's markup for narrow screens (a table that does not stack into cards, a cell
without the label a card shows).

It only ever sends GET: sign-out and every action are POST forms, which it never submits.
Pages that differ only by their query string (a schedule's earlier / later windows, override
prefills) are visited a few times per path, so the crawl ends.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from django.test import Client

ORIGIN = "http://testserver"
# Never followed: signing out (a POST anyway), files, Django's admin (not part of the product).
SKIPPED_PREFIXES = ("/logout/", "/static/", "/admin/")
QUERY_VARIANTS_PER_PATH = 3


@dataclass
class CrawledPage:
    url: str
    status: int
    problems: list[str] = field(default_factory=list)
    document: bool = False  # a whole HTML page (not an htmx fragment, a feed or JSON)


class _PageParser(HTMLParser):
    """Links and htmx GETs of a page; tables that do not stack on a phone."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.problems: list[str] = []
        self._tables = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("href", "hx-get"):
            if (tag == "a" or name == "hx-get") and values.get(name):
                self.links.append(str(values[name]))
        if tag == "table":
            self._tables += 1
            if "stack" not in (values.get("class") or "").split():
                self.problems.append(f"table #{self._tables} has no class 'stack'")
        if tag == "td" and "data-label" not in values:
            self.problems.append(f"a cell of table #{self._tables} has no data-label")


def _same_origin_path(base: str, href: str) -> str | None:
    """The path and query of `href` (relative to `base`) when it is on this site, else None."""
    parts = urlsplit(urljoin(base, href.strip()))
    if parts.scheme not in ("http", "https") or parts.netloc not in ("testserver", ""):
        return None
    if parts.path.startswith(SKIPPED_PREFIXES):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def crawl(
    client: Client, starts: Iterable[str] = ("/",), limit: int = 2000
) -> dict[str, CrawledPage]:
    """Every page reachable from `starts` by GET, with its status and markup problems. The
    starts themselves are always visited (hand-written URLs with odd query strings)."""
    pages: dict[str, CrawledPage] = {}
    variants: dict[str, int] = {}
    forced = set(starts)
    queue: deque[str] = deque(forced)
    while queue and len(pages) < limit:
        url = queue.popleft()
        path = url.split("?", 1)[0]
        if url in pages:
            continue
        if url not in forced and "?" in url:
            if variants.get(path, 0) >= QUERY_VARIANTS_PER_PATH:
                continue
            variants[path] = variants.get(path, 0) + 1
        response: Any = client.get(url)
        page = pages[url] = CrawledPage(url=url, status=response.status_code)
        found: list[str] = []
        if 300 <= response.status_code < 400 and response.get("Location"):
            found.append(response["Location"])
        if response.get("Content-Type", "").startswith("text/html") and hasattr(
            response, "content"
        ):
            parser = _PageParser()
            text = response.content.decode()
            page.document = text.lstrip()[:15].lower().startswith("<!doctype html")
            parser.feed(text)
            page.problems = sorted(set(parser.problems))
            found.extend(parser.links)
        for href in found:
            target = _same_origin_path(ORIGIN + url, href)
            if target is not None and target not in pages:
                queue.append(target)
    return pages


def api_crawl(client: Client, paths: list[str]) -> dict[str, int]:
    """GET each API path and every page after it (`next`); the status of each URL."""
    statuses: dict[str, int] = {}
    queue = deque(paths)
    while queue:
        url = queue.popleft()
        if url in statuses:
            continue
        response: Any = client.get(url)
        statuses[url] = response.status_code
        if response.status_code == 200 and response.get("Content-Type", "").startswith(
            "application/json"
        ):
            body = response.json()
            following = body.get("next") if isinstance(body, dict) else None
            if following:
                target = _same_origin_path(ORIGIN + url, following)
                if target is not None:
                    queue.append(target)
    return statuses


def server_errors(statuses: dict[str, int]) -> dict[str, int]:
    """The URLs that answered 5xx."""
    return {url: status for url, status in statuses.items() if status >= 500}
