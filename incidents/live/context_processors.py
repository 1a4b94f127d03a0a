"""Template context for live updates on every page of a signed-in user."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from incidents.live import PATH
from incidents.live.selectors import incident_open_count


def live(request: HttpRequest) -> dict[str, Any]:
    """The stream's address and the open count for the tab title (read only if a template
    shows it: fragments do not pay for the query)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "live_url": PATH,
        "open_count": SimpleLazyObject(lambda: incident_open_count(user=user)),
    }
