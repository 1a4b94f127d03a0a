"""Fields and query values of API v1, taken as the document says, without coercion."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request

from opsduty.api.errors import UnprocessableEntity

BLANK_MESSAGE = "Must not be blank: leave it empty or out."


class StrictCharField(serializers.CharField):
    """A string field that refuses numbers instead of turning them into text.

    DRF's `CharField` accepts `{"note": 42}` and stores "42"; the document says `string`, so a
    number is a client's mistake and answers 422 like any other type error.
    """

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
