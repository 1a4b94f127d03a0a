"""Conditions of routing rules and event orchestrations: validate a spec, evaluate it.

A spec is JSON: `{"operator": "and" | "or", "conditions": [item, ...]}`; the item types are
`match_all`, `datetime_range`, `weekly` and `filter` (see docs/routing.md). Everything here is
pure (no database); time comes in as `now`.

Evaluation is bounded: regexes run through `processing.sandbox.regexes` (timeout per match)
and Jinja through `processing.sandbox.environment` (time and size limits). A condition whose
evaluation fails counts as not matching, and the failure is reported in `Evaluation.errors`
so the pipeline can record it on the raw event instead of losing the event.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from jsonpath_ng.ext.parser import parse as jsonpath_parse

from processing.sandbox import environment as sandbox
from processing.sandbox import regexes

OPERATORS = ("and", "or")
TYPES = ("match_all", "datetime_range", "weekly", "filter")
SOURCES = ("payload", "event")
OPERATIONS = (
    "exists",
    "not_exists",
    "matches",
    "not_matches",
    "matches_part",
    "not_matches_part",
    "matches_regex",
    "not_matches_regex",
    "jinja",
)
NEGATED = {
    "not_exists": "exists",
    "not_matches": "matches",
    "not_matches_part": "matches_part",
    "not_matches_regex": "matches_regex",
}
WITHOUT_VALUE = ("exists", "not_exists")
MAX_CONDITIONS = 50
MAX_PATH = 500
MAX_VALUE = 2000
MATCH_ALL: dict[str, Any] = {"operator": "and", "conditions": [{"type": "match_all"}]}

_HHMM = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$")


@dataclass
class Evaluation:
    """The result of evaluating a spec: whether it matched, and what failed on the way."""

    matched: bool
    errors: list[str] = field(default_factory=list)


class _EvaluationError(Exception):
    """One condition could not be evaluated (bad stored spec, regex timeout, Jinja error)."""


# --- validation -----------------------------------------------------------------------------


def conditions_validate(data: Any) -> dict[str, Any]:
    """Return the normalized spec, or raise ValidationError saying what is wrong and where."""
    if not isinstance(data, dict):
        raise ValidationError("Conditions must be an object with an operator and conditions.")
    operator = data.get("operator", "and")
    if operator not in OPERATORS:
        raise ValidationError(f"Unknown operator {operator!r}: use “and” or “or”.")
    items = data.get("conditions")
    if not isinstance(items, list) or not items:
        raise ValidationError("Add at least one condition (use “match all” to match every event).")
    if len(items) > MAX_CONDITIONS:
        raise ValidationError(f"At most {MAX_CONDITIONS} conditions are allowed.")
    normalized: list[dict[str, Any]] = []
    errors: list[str] = []
    for number, item in enumerate(items, start=1):
        try:
            normalized.append(condition_validate(item))
        except ValidationError as error:
            errors.extend(f"Condition {number}: {message}" for message in error.messages)
    if errors:
        raise ValidationError(errors)
    return {"operator": operator, "conditions": normalized}


def condition_validate(item: Any) -> dict[str, Any]:
    """Validate and normalize one condition item (the UI shows its errors on its row)."""
    if not isinstance(item, dict):
        raise ValidationError("A condition must be an object with a type.")
    kind = item.get("type")
    validator = _VALIDATORS.get(kind) if isinstance(kind, str) else None
    if validator is None:
        raise ValidationError(f"Unknown condition type {kind!r}.")
    return validator(item)


def _validate_match_all(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "match_all"}


def _parse_moment(value: Any, name: str) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"The {name} is required (ISO 8601 with an offset).")
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            f"The {name} {value!r} is not an ISO 8601 date and time, "
            "e.g. 2025-01-31T18:00:00+01:00."
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValidationError(f"The {name} {value!r} needs a UTC offset, e.g. +01:00 or Z.")
    return moment


def _validate_datetime_range(item: dict[str, Any]) -> dict[str, Any]:
    start = _parse_moment(item.get("start"), "start")
    end = _parse_moment(item.get("end"), "end")
    if start >= end:
        raise ValidationError("The start must be before the end.")
    return {"type": "datetime_range", "start": start.isoformat(), "end": end.isoformat()}


def _is_weekday(day: Any) -> bool:
    return isinstance(day, int) and not isinstance(day, bool) and 0 <= day <= 6  # noqa: PLR2004


def _validate_days(days: Any) -> list[int]:
    if isinstance(days, list) and days and all(_is_weekday(d) for d in days):
        return sorted(set(days))
    raise ValidationError("Choose at least one weekday (0 = Monday … 6 = Sunday).")


def _validate_clock(value: Any, name: str, *, allow_24: bool = False) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if _HHMM.match(text) or (allow_24 and text == "24:00"):
        return text
    raise ValidationError(f"The {name} time must be HH:MM (00:00 to 23:59), not {value!r}.")


def _zone(name: Any) -> ZoneInfo:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("The time zone is required, e.g. Europe/Oslo.")
    return _zone_cached(name.strip())


@lru_cache(maxsize=256)
def _zone_cached(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"Unknown time zone {name!r}, use a name like Europe/Oslo.") from None


def _validate_weekly(item: dict[str, Any]) -> dict[str, Any]:
    days = _validate_days(item.get("days"))
    start = _validate_clock(item.get("start"), "start")
    end = _validate_clock(item.get("end"), "end", allow_24=True)
    if start == end:
        raise ValidationError(
            "The start and end times must differ (use 00:00 to 24:00 for the whole day)."
        )
    zone = _zone(item.get("timezone"))
    return {"type": "weekly", "days": days, "start": start, "end": end, "timezone": zone.key}


@lru_cache(maxsize=2048)
def _parsed_path(path: str) -> Any:
    """Parse a jsonpath once (parsing is far slower than finding)."""
    try:
        return jsonpath_parse(path)
    except Exception as error:
        # jsonpath-ng raises its own errors, and bare Exceptions for some syntax errors.
        raise ValidationError(f"Invalid path {path!r}: {error}") from None


def _validate_filter_value(operation: str, value: Any) -> str:
    if operation in WITHOUT_VALUE:
        return ""
    if isinstance(value, int | float | bool):
        value = json.dumps(value)
    if not isinstance(value, str):
        raise ValidationError("The value must be text.")
    if operation == "jinja":
        if not value.strip():
            raise ValidationError("Write a Jinja expression, e.g. field == 'critical'.")
        try:
            sandbox.template_check(_jinja_source(value))
        except sandbox.SandboxError as error:
            raise ValidationError(f"Invalid Jinja: {error}") from None
        return value
    if len(value) > MAX_VALUE:
        raise ValidationError(f"The value can be at most {MAX_VALUE} characters.")
    if operation in ("matches_regex", "not_matches_regex"):
        try:
            regexes.regex_check(value)
        except regexes.RegexError as error:
            raise ValidationError(str(error)) from None
    return value


def _validate_filter(item: dict[str, Any]) -> dict[str, Any]:
    source = item.get("source")
    if source not in SOURCES:
        raise ValidationError(f"Unknown source {source!r}: use “payload” or “event”.")
    path = item.get("path")
    if not isinstance(path, str) or not path.strip():
        raise ValidationError("The path is required, e.g. commonLabels.team.")
    path = path.strip()
    if len(path) > MAX_PATH:
        raise ValidationError(f"The path can be at most {MAX_PATH} characters.")
    _parsed_path(path)
    operation = item.get("operation")
    if operation not in OPERATIONS:
        raise ValidationError(f"Unknown operation {operation!r}.")
    value = _validate_filter_value(operation, item.get("value", ""))
    return {
        "type": "filter",
        "source": source,
        "path": path,
        "operation": operation,
        "value": value,
    }


_VALIDATORS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "match_all": _validate_match_all,
    "datetime_range": _validate_datetime_range,
    "weekly": _validate_weekly,
    "filter": _validate_filter,
}


# --- evaluation -----------------------------------------------------------------------------


def conditions_match(
    spec: dict[str, Any], *, payload: Any, event: dict[str, Any], now: datetime
) -> bool:
    """True when `spec` matches; a condition that fails to evaluate counts as not matching."""
    return conditions_evaluate(spec, payload=payload, event=event, now=now).matched


def conditions_evaluate(
    spec: dict[str, Any], *, payload: Any, event: dict[str, Any], now: datetime
) -> Evaluation:
    """Evaluate `spec` (a validated spec) against one event, collecting evaluation errors.

    AND stops at the first condition that does not match, OR at the first that does.
    """
    errors: list[str] = []
    items = spec.get("conditions") or []
    want_all = spec.get("operator", "and") != "or"
    for number, item in enumerate(items, start=1):
        try:
            hit = _evaluate_one(item, payload=payload, event=event, now=now)
        except _EvaluationError as error:
            errors.append(f"Condition {number} ({_describe_kind(item)}): {error}")
            hit = False
        if hit != want_all:
            return Evaluation(matched=hit, errors=errors)
    return Evaluation(matched=bool(items) and want_all, errors=errors)


def _describe_kind(item: Any) -> str:
    if isinstance(item, dict):
        return str(item.get("operation") or item.get("type") or "?")
    return "?"


def _evaluate_one(item: Any, *, payload: Any, event: dict[str, Any], now: datetime) -> bool:
    if not isinstance(item, dict):
        raise _EvaluationError("not a condition object")
    kind = item.get("type")
    try:
        if kind == "match_all":
            return True
        if kind == "datetime_range":
            return _in_range(item, now)
        if kind == "weekly":
            return _in_week_window(item, now)
        if kind == "filter":
            return _filter_holds(item, payload=payload, event=event)
    except ValidationError as error:
        # A stored spec that no longer validates (edited in the database, zone data changed).
        raise _EvaluationError(" ".join(error.messages)) from None
    except (KeyError, TypeError, ValueError) as error:
        raise _EvaluationError(f"malformed condition ({error})") from None
    raise _EvaluationError(f"unknown condition type {kind!r}")


def _in_range(item: dict[str, Any], now: datetime) -> bool:
    start = _parse_moment(item["start"], "start")
    end = _parse_moment(item["end"], "end")
    return start <= now < end


def _clock(text: str) -> time:
    if text == "24:00":
        return time.max
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _in_week_window(item: dict[str, Any], now: datetime) -> bool:
    """Local wall-clock time in the zone (zoneinfo handles DST); days are the start days.

    An end before the start crosses midnight: Friday 22:00-06:00 covers Friday 22:00 until
    Saturday 06:00, so the early morning part checks whether the previous day is listed.
    """
    local = now.astimezone(_zone(item["timezone"]))
    days = set(item["days"])
    start, end = _clock(item["start"]), _clock(item["end"])
    clock = local.time().replace(tzinfo=None)
    weekday = local.weekday()
    if start < end:
        return weekday in days and start <= clock < end
    return (weekday in days and clock >= start) or ((weekday - 1) % 7 in days and clock < end)


def _as_text(value: Any) -> str:
    """Strings as they are; anything else as its JSON text (5, true, null, {"a": 1})."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _jinja_source(value: str) -> str:
    """A bare expression (`field == 'x'`) is wrapped; a template (`{{ ... }}`) is kept."""
    if "{{" in value or "{%" in value:
        return value
    return "{{ " + value + " }}"


def _field_values(item: dict[str, Any], *, payload: Any, event: dict[str, Any]) -> list[Any]:
    data = payload if item["source"] == "payload" else event
    try:
        return [match.value for match in _parsed_path(item["path"]).find(data)]
    except ValidationError:
        raise
    except Exception as error:  # jsonpath filters can raise anything on odd data
        raise _EvaluationError(f"path {item['path']!r} failed: {error}") from None


def _filter_holds(item: dict[str, Any], *, payload: Any, event: dict[str, Any]) -> bool:
    operation = item["operation"]
    values = _field_values(item, payload=payload, event=event)
    if operation in NEGATED:
        positive = {**item, "operation": NEGATED[operation]}
        return not _filter_positive(positive, values, payload=payload, event=event)
    return _filter_positive(item, values, payload=payload, event=event)


def _filter_positive(
    item: dict[str, Any], values: list[Any], *, payload: Any, event: dict[str, Any]
) -> bool:
    operation, expected = item["operation"], str(item.get("value", ""))
    if operation == "exists":
        return bool(values)
    if operation == "matches":
        return any(_as_text(v) == expected for v in values)
    if operation == "matches_part":
        return any(expected in _as_text(v) for v in values)
    if operation == "matches_regex":
        try:
            return any(regexes.regex_search(expected, _as_text(v)) for v in values)
        except regexes.RegexError as error:
            raise _EvaluationError(str(error)) from None
    if operation == "jinja":
        # Without a match the expression still runs once, with `field` = None, so it can
        # test `payload`/`event` directly or check `field is none`.
        return any(_jinja_holds(expected, v, payload, event) for v in (values or [None]))
    raise _EvaluationError(f"unknown operation {operation!r}")


def _jinja_holds(source: str, value: Any, payload: Any, event: dict[str, Any]) -> bool:
    context = {"field": value, "payload": payload, "event": event}
    try:
        return sandbox.is_truthy(sandbox.render(_jinja_source(source), context))
    except sandbox.SandboxError as error:
        raise _EvaluationError(str(error)) from None
