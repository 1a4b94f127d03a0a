"""Conditions: every type and filter operation, AND/OR, time windows (midnight, DST),
jsonpath list paths, bounded regex and Jinja, and the validation messages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from processing.routing.conditions import conditions_evaluate, conditions_match, conditions_validate

NOW = datetime(2024, 5, 15, 12, 0, tzinfo=UTC)  # a Wednesday

PAYLOAD: dict[str, Any] = {
    "commonLabels": {"team": "payments", "env": "prod"},
    "alerts": [
        {"labels": {"severity": "warning", "instance": "db-1"}, "value": 5},
        {"labels": {"severity": "critical", "instance": "db-2"}, "value": 7.5},
    ],
    "count": 3,
    "flag": True,
    "nothing": None,
    "tags": ["disk", "db"],
    "long": "a" * 5000 + "!",
}
EVENT: dict[str, Any] = {
    "summary": "Disk full on db-2",
    "description": "",
    "source_url": "https://grafana.example/d/1",
    "dedup_id": "disk-db-2",
    "acknowledge": False,
    "resolve": False,
    "urgency": "high",
    "labels": ["team:payments", "db"],
}


def spec(*items: dict[str, Any], operator: str = "and") -> dict[str, Any]:
    return conditions_validate({"operator": operator, "conditions": list(items)})


def flt(path: str, operation: str, value: str = "", source: str = "payload") -> dict[str, Any]:
    return {
        "type": "filter",
        "source": source,
        "path": path,
        "operation": operation,
        "value": value,
    }


def match(*items: dict[str, Any], now: datetime = NOW, operator: str = "and") -> bool:
    return conditions_match(spec(*items, operator=operator), payload=PAYLOAD, event=EVENT, now=now)


# --- match all, AND / OR ----------------------------------------------------------------------


def test_match_all_matches_every_event() -> None:
    assert match({"type": "match_all"})
    assert conditions_match(spec({"type": "match_all"}), payload={}, event={}, now=NOW)


def test_and_needs_every_condition_or_needs_one() -> None:
    yes = flt("commonLabels.team", "matches", "payments")
    no = flt("commonLabels.team", "matches", "web")
    assert match(yes, yes) and not match(yes, no)
    assert match(no, yes, operator="or") and not match(no, no, operator="or")


# --- filter operations --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "path", "value", "expected"),
    [
        ("exists", "commonLabels.team", "", True),
        ("exists", "commonLabels.missing", "", False),
        ("exists", "nothing", "", True),  # present with a null value still exists
        ("not_exists", "commonLabels.missing", "", True),
        ("not_exists", "commonLabels.team", "", False),
        ("matches", "commonLabels.team", "payments", True),
        ("matches", "commonLabels.team", "payment", False),
        ("matches", "count", "3", True),
        ("matches", "flag", "true", True),
        ("matches", "nothing", "null", True),
        ("matches", "alerts[1].value", "7.5", True),
        ("matches", "tags", '["disk", "db"]', True),
        ("not_matches", "commonLabels.team", "web", True),
        ("not_matches", "commonLabels.team", "payments", False),
        ("not_matches", "commonLabels.missing", "x", True),
        ("matches_part", "commonLabels.team", "pay", True),
        ("matches_part", "commonLabels.team", "web", False),
        ("not_matches_part", "commonLabels.team", "web", True),
        ("not_matches_part", "commonLabels.team", "ment", False),
        ("matches_regex", "commonLabels.env", "^pr(od|e)$", True),
        ("matches_regex", "commonLabels.env", "^dev", False),
        ("matches_regex", "commonLabels.env", "ro", True),  # search, not full match
        ("not_matches_regex", "commonLabels.env", "^dev", True),
        ("not_matches_regex", "commonLabels.env", "prod", False),
    ],
)
def test_filter_operation(operation: str, path: str, value: str, expected: bool) -> None:
    assert match(flt(path, operation, value)) is expected


def test_filter_on_the_event_fields() -> None:
    assert match(flt("summary", "matches_part", "Disk full", source="event"))
    assert match(flt("urgency", "matches", "high", source="event"))
    assert match(flt("labels[*]", "matches", "team:payments", source="event"))
    assert not match(flt("commonLabels.team", "exists", source="event"))


def test_list_path_holds_when_any_value_matches_and_negation_when_none_does() -> None:
    assert match(flt("alerts[*].labels.severity", "matches", "critical"))
    assert match(flt("alerts[0].labels.severity", "matches", "warning"))
    assert not match(flt("alerts[0].labels.severity", "matches", "critical"))
    assert not match(flt("alerts[*].labels.severity", "not_matches", "critical"))
    assert match(flt("alerts[*].labels.severity", "not_matches", "info"))
    assert match(flt("alerts[*].labels.instance", "matches_regex", r"db-\d"))
    assert match(flt("alerts[?(@.value > 6)].labels.instance", "matches", "db-2"))


def test_jinja_sees_field_payload_and_event() -> None:
    assert match(flt("alerts[*].labels.severity", "jinja", "field == 'critical'"))
    assert not match(flt("alerts[*].labels.severity", "jinja", "field == 'info'"))
    assert match(flt("count", "jinja", "field > 2 and payload.commonLabels.env == 'prod'"))
    assert match(flt("count", "jinja", "event.urgency == 'high'"))


@pytest.mark.parametrize("word", ["y", "yes", "true", "on", "1", "ok", " OK "])
def test_jinja_truthy_strings(word: str) -> None:
    assert match(flt("count", "jinja", "{{ '" + word + "' }}"))


@pytest.mark.parametrize("word", ["no", "false", "0", "", "maybe", "2"])
def test_jinja_other_strings_are_false(word: str) -> None:
    assert not match(flt("count", "jinja", "{{ '" + word + "' }}"))


def test_jinja_runs_once_with_field_none_when_the_path_finds_nothing() -> None:
    assert match(flt("commonLabels.missing", "jinja", "field is none"))


def test_jinja_error_counts_as_no_match_with_an_error() -> None:
    evaluation = conditions_evaluate(
        spec(flt("count", "jinja", "field / 0")), payload=PAYLOAD, event=EVENT, now=NOW
    )
    assert not evaluation.matched
    assert evaluation.errors and "Condition 1 (jinja)" in evaluation.errors[0]
    assert "ZeroDivisionError" in evaluation.errors[0]


def test_regex_timeout_counts_as_no_match_with_an_error() -> None:
    payload = {"text": "a" * 40 + "b"}
    item = spec(flt("text", "matches_regex", "^(a|a)*$"))
    evaluation = conditions_evaluate(item, payload=payload, event=EVENT, now=NOW)
    assert not evaluation.matched
    assert "took longer than" in evaluation.errors[0]
    # The negation does not turn a failure into a match either.
    negated = spec(flt("text", "not_matches_regex", "^(a|a)*$"))
    evaluation = conditions_evaluate(negated, payload=payload, event=EVENT, now=NOW)
    assert not evaluation.matched and evaluation.errors


def test_an_error_in_an_or_does_not_hide_a_later_match() -> None:
    evaluation = conditions_evaluate(
        spec(flt("count", "jinja", "field / 0"), {"type": "match_all"}, operator="or"),
        payload=PAYLOAD,
        event=EVENT,
        now=NOW,
    )
    assert evaluation.matched and len(evaluation.errors) == 1


def test_a_broken_stored_spec_does_not_raise() -> None:
    broken = {"operator": "and", "conditions": [{"type": "weekly", "days": [0]}, {"type": "x"}]}
    evaluation = conditions_evaluate(broken, payload=PAYLOAD, event=EVENT, now=NOW)
    assert not evaluation.matched and evaluation.errors
    assert not conditions_match({}, payload=PAYLOAD, event=EVENT, now=NOW)


# --- datetime range ---------------------------------------------------------------------------


def test_datetime_range_includes_start_and_excludes_end() -> None:
    item = {
        "type": "datetime_range",
        "start": "2024-05-15T14:00:00+02:00",
        "end": "2024-05-15T13:00:00Z",
    }
    assert match(item, now=datetime(2024, 5, 15, 12, 0, tzinfo=UTC))  # start, inclusive
    assert match(item, now=datetime(2024, 5, 15, 12, 59, 59, tzinfo=UTC))
    assert not match(item, now=datetime(2024, 5, 15, 13, 0, tzinfo=UTC))  # end, exclusive
    assert not match(item, now=datetime(2024, 5, 15, 11, 59, 59, tzinfo=UTC))


# --- weekly -------------------------------------------------------------------------------------


def weekly(days: list[int], start: str, end: str, zone: str = "Europe/Oslo") -> dict[str, Any]:
    return {"type": "weekly", "days": days, "start": start, "end": end, "timezone": zone}


def oslo_summer(day: int, hour: int, minute: int = 0) -> datetime:
    """2024-05-13 is a Monday; Oslo is UTC+2 in May."""
    return (
        datetime(2024, 5, 13 + day, hour - 2, minute, tzinfo=UTC)
        if hour >= 2
        else datetime(2024, 5, 12 + day, hour + 22, minute, tzinfo=UTC)
    )


def test_weekly_window_on_listed_days_in_local_time() -> None:
    business = weekly([0, 1, 2, 3, 4], "09:00", "17:00")
    assert match(business, now=oslo_summer(2, 9))  # Wednesday 09:00 Oslo
    assert match(business, now=oslo_summer(2, 16, 59))
    assert not match(business, now=oslo_summer(2, 17))
    assert not match(business, now=oslo_summer(2, 8, 59))
    assert not match(business, now=oslo_summer(5, 10))  # Saturday


def test_weekly_window_across_midnight_belongs_to_its_start_day() -> None:
    friday_night = weekly([4], "22:00", "06:00")
    assert match(friday_night, now=oslo_summer(4, 23))  # Friday 23:00
    assert match(friday_night, now=oslo_summer(5, 5, 59))  # Saturday 05:59
    assert not match(friday_night, now=oslo_summer(5, 6))  # Saturday 06:00
    assert not match(friday_night, now=oslo_summer(5, 23))  # Saturday night: not listed
    assert not match(friday_night, now=oslo_summer(4, 5))  # Friday early: Thursday not listed
    sunday_night = weekly([6], "22:00", "02:00")
    assert match(sunday_night, now=oslo_summer(7, 1))  # Monday 01:00 wraps the week


def test_weekly_window_follows_daylight_saving_time() -> None:
    morning = weekly([0, 1, 2, 3, 4, 5, 6], "08:00", "09:00")
    # Oslo is UTC+1 before 2024-03-31 and UTC+2 after: 07:30 UTC is 08:30, then 09:30.
    assert match(morning, now=datetime(2024, 3, 29, 7, 30, tzinfo=UTC))
    assert not match(morning, now=datetime(2024, 4, 2, 7, 30, tzinfo=UTC))
    assert match(morning, now=datetime(2024, 4, 2, 6, 30, tzinfo=UTC))


def test_weekly_window_across_midnight_on_the_dst_night() -> None:
    # Saturday 2024-03-30 22:00 until Sunday 04:00; clocks jump 02:00 -> 03:00 that night.
    night = weekly([5], "22:00", "04:00")
    assert match(night, now=datetime(2024, 3, 30, 21, 0, tzinfo=UTC))  # 22:00 CET
    assert match(night, now=datetime(2024, 3, 31, 1, 30, tzinfo=UTC))  # 03:30 CEST
    assert not match(night, now=datetime(2024, 3, 31, 2, 0, tzinfo=UTC))  # 04:00 CEST
    # Autumn: 2024-10-27 02:00-03:00 happens twice; 00:30 UTC (02:30 CEST) and 01:30 UTC
    # (02:30 CET) are both inside a Saturday-night window ending at 03:00.
    autumn = weekly([5], "23:00", "03:00")
    assert match(autumn, now=datetime(2024, 10, 27, 0, 30, tzinfo=UTC))
    assert match(autumn, now=datetime(2024, 10, 27, 1, 30, tzinfo=UTC))
    assert not match(autumn, now=datetime(2024, 10, 27, 2, 0, tzinfo=UTC))  # 03:00 CET


def test_weekly_all_day_until_24_00() -> None:
    assert match(weekly([2], "00:00", "24:00"), now=oslo_summer(2, 23, 59))
    assert not match(weekly([2], "00:00", "24:00"), now=oslo_summer(3, 0))


# --- validation -------------------------------------------------------------------------------


def test_validate_normalizes() -> None:
    data = {
        "operator": "or",
        "conditions": [
            {"type": "match_all", "extra": 1},
            {
                "type": "datetime_range",
                "start": "2024-01-01T00:00:00Z",
                "end": "2024-02-01T00:00+01:00",
            },
            {
                "type": "weekly",
                "days": [4, 0, 4],
                "start": "09:00",
                "end": "17:00",
                "timezone": " Europe/Oslo ",
            },
            {
                "type": "filter",
                "source": "payload",
                "path": " a.b ",
                "operation": "exists",
                "value": "x",
            },
            {
                "type": "filter",
                "source": "event",
                "path": "urgency",
                "operation": "matches",
                "value": 5,
            },
        ],
    }
    assert conditions_validate(data) == {
        "operator": "or",
        "conditions": [
            {"type": "match_all"},
            {
                "type": "datetime_range",
                "start": "2024-01-01T00:00:00+00:00",
                "end": "2024-02-01T00:00:00+01:00",
            },
            {
                "type": "weekly",
                "days": [0, 4],
                "start": "09:00",
                "end": "17:00",
                "timezone": "Europe/Oslo",
            },
            {
                "type": "filter",
                "source": "payload",
                "path": "a.b",
                "operation": "exists",
                "value": "",
            },
            {
                "type": "filter",
                "source": "event",
                "path": "urgency",
                "operation": "matches",
                "value": "5",
            },
        ],
    }


def _messages(data: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        conditions_validate(data)
    return " | ".join(caught.value.messages)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must be an object"),
        ({"operator": "xor", "conditions": [{"type": "match_all"}]}, "Unknown operator 'xor'"),
        ({"operator": "and", "conditions": []}, "Add at least one condition"),
        (
            {"conditions": [{"type": "sometimes"}]},
            "Condition 1: Unknown condition type 'sometimes'",
        ),
        ({"conditions": ["x"]}, "Condition 1: A condition must be an object"),
        ({"conditions": [{"type": "match_all"}] * 51}, "At most 50 conditions"),
    ],
)
def test_validation_of_the_spec(data: Any, message: str) -> None:
    assert message in _messages(data)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (flt("a", "sort_of", "x"), "Unknown operation 'sort_of'"),
        (flt("a", "matches", "x", source="raw"), "Unknown source 'raw'"),
        (flt("", "exists"), "The path is required"),
        (flt("a[[", "exists"), "Invalid path 'a[['"),
        (flt("a", "matches_regex", "(unclosed"), "Invalid regular expression"),
        (flt("a", "not_matches_regex", "x" * 1001), "A regular expression can be at most 1000"),
        (flt("a", "jinja", "field =="), "Invalid Jinja"),
        (flt("a", "jinja", "{% if %}"), "Invalid Jinja"),
        (flt("a", "jinja", " "), "Write a Jinja expression"),
        (flt("a", "matches", ["x"]), "The value must be text"),  # type: ignore[arg-type]
        (weekly([0], "09:00", "17:00", zone="Mars/Olympus"), "Unknown time zone 'Mars/Olympus'"),
        (weekly([0], "09:00", "17:00", zone=""), "The time zone is required"),
        (weekly([], "09:00", "17:00"), "Choose at least one weekday"),
        (weekly([7], "09:00", "17:00"), "Choose at least one weekday"),
        (weekly([0], "9am", "17:00"), "The start time must be HH:MM"),
        (weekly([0], "09:00", "25:00"), "The end time must be HH:MM"),
        (weekly([0], "09:00", "09:00"), "must differ"),
        (
            {
                "type": "datetime_range",
                "start": "2024-01-02T00:00:00Z",
                "end": "2024-01-01T00:00:00Z",
            },
            "The start must be before the end",
        ),
        (
            {
                "type": "datetime_range",
                "start": "2024-01-01T00:00:00Z",
                "end": "2024-01-01T00:00:00Z",
            },
            "The start must be before the end",
        ),
        (
            {
                "type": "datetime_range",
                "start": "2024-01-01T00:00:00",
                "end": "2024-01-02T00:00:00Z",
            },
            "needs a UTC offset",
        ),
        (
            {"type": "datetime_range", "start": "yesterday", "end": "2024-01-02T00:00:00Z"},
            "is not an ISO 8601",
        ),
        ({"type": "datetime_range", "end": "2024-01-02T00:00:00Z"}, "The start is required"),
    ],
)
def test_validation_of_a_condition(item: dict[str, Any], message: str) -> None:
    data = {"operator": "and", "conditions": [{"type": "match_all"}, item]}
    messages = _messages(data)
    assert messages.startswith("Condition 2: ") and message in messages


def test_validation_reports_every_bad_condition() -> None:
    data = {"conditions": [{"type": "nope"}, {"type": "match_all"}, flt("a", "bad")]}
    messages = _messages(data)
    assert (
        "Condition 1:" in messages and "Condition 3:" in messages and "Condition 2" not in messages
    )
