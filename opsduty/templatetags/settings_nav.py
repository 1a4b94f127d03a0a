"""`{% settings_nav %}`: the owners' settings pages that integrations registered
(opsduty/navigation.py), as entries of the main navigation."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

from opsduty.navigation import settings_pages

register = template.Library()


@register.inclusion_tag("opsduty/_settings_nav.html", takes_context=True)
def settings_nav(context: template.Context) -> dict[str, Any]:
    """One link per registered page; the page whose `active` the view set is current."""
    active = context.get("active")
    return {
        "pages": [
            {"label": page.label, "url": reverse(page.url_name), "current": page.active == active}
            for page in settings_pages()
        ]
    }
