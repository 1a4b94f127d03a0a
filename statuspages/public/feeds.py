"""The page's Atom feed (Django's syndication framework): one entry per published notice,
newest first, with its visible updates and, once published, its postmortem."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.syndication.views import Feed
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.feedgenerator import Atom1Feed

from statuspages.models import StatusPage
from statuspages.public.selectors import NoticeView, feed_notices


class PageFeed(Feed):  # type: ignore[type-arg]
    """Called with the page and its base path (`/status/<slug>/` or `/` on its domain)."""

    feed_type = Atom1Feed

    def __init__(self, page: StatusPage, base: str) -> None:
        super().__init__()
        self.page = page
        self.base = base

    def get_object(self, request: HttpRequest, *args: Any, **kwargs: Any) -> StatusPage:
        return self.page

    def title(self, obj: StatusPage) -> str:
        return f"{obj.name}: status"

    def link(self, obj: StatusPage) -> str:
        return self.base

    def feed_url(self, obj: StatusPage) -> str:
        return f"{self.base}feed.atom"

    def subtitle(self, obj: StatusPage) -> str:
        return obj.description or f"Incidents and maintenance of {obj.name}"

    def items(self, obj: StatusPage) -> list[NoticeView]:
        return feed_notices(obj)

    def item_title(self, item: NoticeView) -> str:
        return f"{item.notice.title} ({item.status_label})"

    def item_description(self, item: NoticeView) -> str:
        return render_to_string("statuspages/public/_feed_entry.html", {"view": item})

    def item_link(self, item: NoticeView) -> str:
        return f"{self.base}incidents/{item.notice.pk}/"

    def item_guid(self, item: NoticeView) -> str:
        return f"statuspage-{self.page.pk}-notice-{item.notice.pk}"

    def item_pubdate(self, item: NoticeView) -> datetime:
        return item.notice.created_at

    def item_updateddate(self, item: NoticeView) -> datetime:
        return item.last_at
