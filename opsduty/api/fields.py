"""Fields and query values of API v1, taken as the document says, without coercion."""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from rest_framework import serializers
from rest_framework.request import Request

from opsduty.api.errors import UnprocessableEntity
from opsduty.text import NOT_BLANK_PATTERN, text_strip

BLANK_MESSAGE = "Must not be blank: leave it empty or out."


def not_blank(message: str) -> RegexValidator:
    """A text must hold more than whitespace (stated in the document as its `pattern`)."""
    return RegexValidator(NOT_BLANK_PATTERN, message)


class StrictCharField(serializers.CharField):
    """A string field that refuses numbers instead of turning them into text, and trims the
    whitespace that the document's patterns know (`opsduty/text.py`), no other.

    DRF's `CharField` accepts `{"note": 42}` and stores "42"; the document says `string`, so a
    number is a client's mistake and answers 422 like any other type error.
    """

    def __init__(self, **kwargs: Any) -> None:
        self.trim_ecma_space = kwargs.pop("trim_whitespace", True)
        super().__init__(trim_whitespace=False, **kwargs)

    def run_validation(self, data: Any = serializers.empty) -> Any:
        if isinstance(data, str):
            # The document's `maxLength` is of the text as sent, spaces included: 10,001
            # form feeds are too long, not a blank note (found by schemathesis).
            if self.max_length is not None and len(data) > self.max_length:
                self.fail("max_length", max_length=self.max_length)
            if self.trim_ecma_space:
                data = text_strip(data)
        return super().run_validation(data)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


def query_text(request: Request, name: str) -> str:
    """The query value `name` without surrounding spaces; "" when it is absent or empty.

    The document allows an empty value (`?until=`: not given), not one that only looks empty:
    spaces alone are a 422 rather than silently ignored.
    """
    raw = request.query_params.get(name, "")
    value = raw.strip()
    if raw and not value:
        raise UnprocessableEntity.for_field(("query", name), BLANK_MESSAGE)
    return value
