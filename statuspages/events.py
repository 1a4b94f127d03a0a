"""What a change of a status page tells the rest of the app, in the change's transaction.

- `page_touched(page_id, retracts=...)`: the public page must show it (its cache key,
  `StatusPage.version`, moves on: statuspages/public/ serves from a cache keyed by it; a
  change that takes something off the page also moves `retracted_version`, so that no body
  rendered before it is served again).
- `announce(...)`: customers who subscribed are told (a notice published, an update made
  visible, maintenance started, a postmortem published). Senders register with
  `announcement_register` (the subscribers' outbox registers in `StatusPagesConfig.ready`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from django.db.models import F

from statuspages.models import Notice, NoticeUpdate, Postmortem, StatusPage


class Kind(StrEnum):
    NOTICE_PUBLISHED = "notice_published"
    UPDATE_VISIBLE = "update_visible"
    MAINTENANCE_STARTED = "maintenance_started"
    POSTMORTEM_PUBLISHED = "postmortem_published"


@dataclass(frozen=True)
class Announcement:
    kind: Kind
    notice: Notice
    update: NoticeUpdate | None = None
    postmortem: Postmortem | None = None


Announcer = Callable[[Announcement], None]
_announcers: list[Announcer] = []


def announcement_register(announcer: Announcer) -> None:
    if announcer not in _announcers:
        _announcers.append(announcer)


def announce(announcement: Announcement) -> None:
    """Tell every registered announcer (in the caller's transaction: they write outbox rows)."""
    for announcer in _announcers:
        announcer(announcement)


def page_touched(page_id: int, *, retracts: bool = False) -> None:
    """The page changed in a way its visitors see: its cache key moves on. `retracts`: the
    change took something off the page, which no earlier body may show again."""
    moved = F("version") + 1
    if retracts:
        StatusPage.objects.filter(pk=page_id).update(version=moved, retracted_version=moved)
    else:
        StatusPage.objects.filter(pk=page_id).update(version=moved)
