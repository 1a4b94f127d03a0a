"""Template context shared by every page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def organization(request: HttpRequest) -> dict[str, Any]:
    """Expose the request's organization to templates (None when signed out)."""
    return {
        "organization": getattr(request, "organization", None),
        "dev_inbox": settings.OPSDUTY_DEV_INBOX,
        "dev_phone": settings.OPSDUTY_DEV_PHONE,
    }
