"""`{% moment t %}`: a time as templates/incidents/_time.html draws it (relative, with the
absolute time next to it, machine-readable in `datetime`), in one call: the include and its
five filters were a third of the incident list's rows (50 a page)."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import dateformat, timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince

register = template.Library()

# timesince joins number and unit with a no-break space.
_JUST_NOW = "0\xa0minutes"


@register.simple_tag
def moment(t: datetime | None) -> SafeString | str:
    """The markup of _time.html for `t` (nothing for no time)."""
    if t is None:
        return ""
    try:
        local = timezone.localtime(t) if timezone.is_aware(t) else t  # as the `date` filter
    except OverflowError:  # year 1 or 9999 moved past the calendar's ends by the zone
        local = t
    since = timesince(t)
    relative = "just now" if since == _JUST_NOW else f"{since} ago"
    zone = dateformat.format(local, "T")
    return format_html(
        '<time datetime="{}" title="{}">{}</time> <small class="muted nowrap">{} {}</small>',
        dateformat.format(local, "c"),
        dateformat.format(local, "Y-m-d H:i:s T"),
        relative,
        dateformat.format(local, "Y-m-d H:i"),
        zone,
    )
