"""Markup written in Python rather than by the template engine, for long lists (a select of
2,000 services, a page of 850 analytics cells): escaping as Django's `conditional_escape`
does it, without its lazy-string wrapper, which took most of the time of such lists.
"""

from __future__ import annotations

import html
from typing import Any


def escaped(value: Any) -> str:
    """`value` as text safe in HTML content and quoted attributes: `conditional_escape`'s
    result (markup marked safe stays as it is; everything else through `html.escape`)."""
    if hasattr(value, "__html__"):
        return str(value.__html__())
    return html.escape(str(value))
