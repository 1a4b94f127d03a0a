"""Where the SCIM resources are, as absolute URLs (`meta.location`, `$ref`)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def scim_base_url(request: HttpRequest | None = None, *args: Any, **kwargs: Any) -> str:
    """BASE_LOCATION_GETTER of django-scim2: the scheme and host the request came to (behind
    a proxy, `OPSDUTY_BEHIND_TLS_PROXY` makes the scheme right)."""
    if request is None:
        from django.conf import settings

        return str(settings.OPSDUTY_PUBLIC_URL)
    return f"{request.scheme}://{request.get_host()}"
