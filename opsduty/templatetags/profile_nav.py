"""`{% profile_nav %}`: the profile's sub-navigation, one link per registered section."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

from opsduty.views.profile import profile_sections

register = template.Library()


@register.inclusion_tag("opsduty/_profile_nav.html", takes_context=True)
def profile_nav(context: template.Context) -> dict[str, Any]:
    """The sections with their URLs; the page's own (`profile_current`, else the URL name of
    the request) is marked current."""
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    current = context.get("profile_current") or (match.url_name if match else "")
    return {
        "sections": [
            {
                "label": section.label,
                "url": reverse(section.url_name),
                "current": section.url_name == current,
            }
            for section in profile_sections()
        ]
    }
