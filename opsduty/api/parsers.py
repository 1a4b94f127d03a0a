"""The API's JSON parser: DRF's, refusing as a parse error what Python's `json` lets through
and the rest of the stack cannot handle.

- Nesting: `json` recurses once per level, so `[[[[...` 100,000 deep (200 KB) raised
  RecursionError out of DRF's parser, a 500; a body just under the interpreter's limit would
  fail later in whatever walks it. Objects and arrays over `MAX_DEPTH` levels are refused,
  as the webhook receiver refuses them (400, signals/receiver/ingest.py).
- Strings: `"\\ud800"` (a lone surrogate) parses into a string that cannot be encoded as
  UTF-8, so echoing it made the renderer fail with a 500, and `"\\u0000"` cannot be stored
  in PostgreSQL; both are refused (Django's forms refuse NUL too).

A refusal answers like malformed JSON: 422, `loc: ["body"]` (docs/api.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import IO, Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_DEPTH = 128
_TOO_DEEP = f"JSON parse error - objects and arrays nest over {MAX_DEPTH} levels deep."
_BAD_TEXT = "JSON parse error - a string contains U+0000 or a lone surrogate (\\ud800-\\udfff)."
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _refusal(data: Any) -> str | None:
    """Why `data` is refused (too deep, unstorable text), or None."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if _UNSTORABLE.search(value):
                return _BAD_TEXT
            continue
        if depth > MAX_DEPTH:
            return _TOO_DEEP
        if isinstance(value, dict):
            stack.extend((key, depth) for key in value)
            stack.extend((child, depth + 1) for child in value.values())
        elif isinstance(value, list):
            stack.extend((child, depth + 1) for child in value)
    return None


class JSONParser(parsers.JSONParser):
    """DRF's JSONParser with a nesting limit."""

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(_TOO_DEEP) from None
        refusal = _refusal(data)
        if refusal is not None:
            raise ParseError(refusal)
        return data
