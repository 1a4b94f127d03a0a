"""The analytics' query parameters, shared by the pages and the API: a range (`range=7`,
`30`, `90`, or `custom` with `start` and `end`, at most a year), and filters (`team`,
`service`, `urgency`, `label`). Days are the organization's; "today" is its today."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.utils import timezone

from analytics.selectors import MAX_RANGE_DAYS, Filters
from opsduty.choices import Urgency
from opsduty.models import Organization, Service, Team
from opsduty.timebounds import DATE_RANGE_MESSAGE, date_in_range

__all__ = ["PRESETS", "filters_from_query", "organization_today"]

PRESETS = ("7", "30", "90")
DEFAULT_PRESET = "30"


def organization_today(organization: Organization, now: datetime | None = None) -> date:
    """Today's date in the organization's time zone."""
    try:
        zone = ZoneInfo(organization.time_zone or "UTC")
    except (ValueError, KeyError):
        zone = ZoneInfo("UTC")
    return (now or timezone.now()).astimezone(zone).date()


def _day(raw: str, name: str, errors: dict[str, str]) -> date | None:
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        errors[name] = "Use a date like 2026-01-31."
        return None
    if not date_in_range(value):
        errors[name] = DATE_RANGE_MESSAGE
        return None
    return value


def _id(raw: str | None, name: str, errors: dict[str, str]) -> int | None:
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        errors[name] = "Use an id (a whole number)."
        return None
    return int(raw)


def filters_from_query(
    query: Mapping[str, str], organization: Organization, now: datetime | None = None
) -> Filters:
    """The filters the query asks for; `ValidationError` (a message per parameter) if not."""
    errors: dict[str, str] = {}
    today = organization_today(organization, now)
    preset = query.get("range") or DEFAULT_PRESET
    start = end = today
    if preset in PRESETS:
        start = today - timedelta(days=int(preset) - 1)
    elif preset == "custom":
        first = _day(query.get("start", ""), "start", errors)
        last = _day(query.get("end", ""), "end", errors)
        if first and last:
            start, end = first, last
            if end < start:
                errors["end"] = "The end is before the start."
            elif (end - start).days + 1 > MAX_RANGE_DAYS:
                errors["end"] = f"A range is at most {MAX_RANGE_DAYS} days."
    else:
        errors["range"] = "Choose 7, 30 or 90 days, or custom with a start and an end."
    team_id = _id(query.get("team"), "team", errors)
    if (
        team_id is not None
        and not Team.objects.filter(pk=team_id, organization=organization).exists()
    ):
        errors["team"] = "No such team."
    service_id = _id(query.get("service"), "service", errors)
    if (
        service_id is not None
        and not Service.objects.filter(pk=service_id, organization=organization).exists()
    ):
        errors["service"] = "No such service."
    urgency = query.get("urgency") or None
    if urgency is not None and urgency not in Urgency.values:
        errors["urgency"] = "Urgency is high or low."
    label = (query.get("label") or "").strip() or None
    if label is not None and ("\x00" in label or len(label) > 100):
        errors["label"] = "No such label."
    if errors:
        raise ValidationError(errors)
    return Filters(
        start=start,
        end=end,
        team_id=team_id,
        service_id=service_id,
        urgency=urgency,
        label=label,
    )
