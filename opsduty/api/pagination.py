"""Relay-style cursor pagination for every paged list of API v1 (spec §3.5 and §4).

Response: `{"items": [...], "page_info": {"has_next_page", "has_previous_page",
"start_cursor", "end_cursor"}}`.

Query parameters, applied in this order to the view's (already scoped and filtered) list:

1. `after=C` keeps the items strictly after cursor C, `before=C` those strictly before it;
2. `first=N` keeps the first N of what is left, then `last=N` the last N (still in list
   order). Client 0.0.x sends `page_size=N` instead: it acts as `last` when only `before`
   is given and as `first` otherwise, and is ignored when `first` or `last` is present.
   Without any size: 50, taken from the end when only `before` is given. Sizes are
   clamped to 1..100; a non-integer or negative size, or a malformed cursor, is a 422.

`has_next_page` / `has_previous_page` say whether the full list has items after the last
/ before the first returned item. An empty page has both flags false and null cursors.

A view declares its order with `ordering = "id"` (oldest first), `"-id"` (newest first)
or a tuple such as `("start", "id")`; the fields must be concrete, non-null columns of
the model and the last one unique, so the order is total and pages never overlap.
Cursors are opaque: urlsafe base64 of the JSON list of the item's ordering values.
"""

from __future__ import annotations

import base64
import binascii
import json
import operator
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any, TypeVar

from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured, ValidationError
from django.db import models
from django.db.models import Q, QuerySet
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from opsduty.api.errors import UnprocessableEntity
from opsduty.api.fields import query_text

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
_UNSIGNED = re.compile(r"[0-9]+")
_NEGATIVE = re.compile(r"-[0-9]+")


@dataclass(frozen=True)
class _OrderField:
    field: models.Field[Any, Any]
    descending: bool

    @property
    def name(self) -> str:
        return self.field.name

    def order_by(self, reverse: bool = False) -> str:
        return f"-{self.name}" if self.descending != reverse else self.name


@dataclass(frozen=True)
class _PageRequest:
    after: tuple[Any, ...] | None
    before: tuple[Any, ...] | None
    first: int | None
    last: int | None


def _order_fields(model: type[models.Model], ordering: str | Sequence[str]) -> list[_OrderField]:
    names = [ordering] if isinstance(ordering, str) else list(ordering)
    fields = []
    for name in names:
        try:
            field = model._meta.get_field(name.removeprefix("-"))
        except FieldDoesNotExist:
            raise ImproperlyConfigured(
                f"ordering: {model.__name__} has no field {name!r}"
            ) from None
        if not isinstance(field, models.Field) or not field.concrete or field.null:
            raise ImproperlyConfigured(f"ordering: {name!r} must be a concrete non-null column")
        fields.append(_OrderField(field=field, descending=name.startswith("-")))
    if not fields or not (fields[-1].field.unique or fields[-1].field.primary_key):
        raise ImproperlyConfigured("ordering: the last field must be unique (e.g. 'id')")
    return fields


def encode_cursor(values: Sequence[Any]) -> str:
    """The opaque cursor of an item whose ordering values are `values`."""
    plain = [v.isoformat() if hasattr(v, "isoformat") else v for v in values]
    plain = [v if isinstance(v, int | float | str | bool) else str(v) for v in plain]
    raw = json.dumps(plain, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode_cursor(
    cursor: str, converters: Sequence[Callable[[Any], Any]], param: str
) -> tuple[Any, ...]:
    malformed = UnprocessableEntity.for_field(["query", param], "Malformed cursor.")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError):
        raise malformed from None
    if not isinstance(values, list) or len(values) != len(converters) or None in values:
        raise malformed
    try:
        return tuple(convert(v) for convert, v in zip(converters, values, strict=True))
    except (ValidationError, TypeError, ValueError):
        raise malformed from None


def _beyond(fields: list[_OrderField], values: Sequence[Any], forward: bool) -> Q:
    """Rows strictly after (`forward`) or before `values` in the list order (keyset)."""
    clauses: list[Q] = []
    equal: dict[str, Any] = {}
    for order_field, value in zip(fields, values, strict=True):
        lookup = "gt" if order_field.descending != forward else "lt"
        clauses.append(Q(**equal, **{f"{order_field.name}__{lookup}": value}))
        equal[order_field.name] = value
    return reduce(operator.or_, clauses)


def _any_beyond(
    queryset: QuerySet[Any], fields: list[_OrderField], values: Sequence[Any], forward: bool
) -> bool:
    """Whether the list has an item after (`forward`) or before `values`: the nearest one,
    read in list order with LIMIT 1, which follows the list's index. EXISTS left the planner
    to guess: "this organization's ids above X" looked 30,000 rows wide where there were
    none, and it scanned the table (60 ms at 460,000 incidents)."""
    order = [f.order_by(reverse=not forward) for f in fields]
    nearest = queryset.filter(_beyond(fields, values, forward)).order_by(*order)
    return bool(list(nearest.values_list("pk", flat=True)[:1]))


def _size(request: Request, param: str) -> int | None:
    value = query_text(request, param)
    if not value:
        return None
    if _UNSIGNED.fullmatch(value):
        return max(1, min(int(value), MAX_PAGE_SIZE))
    message = "Must not be negative." if _NEGATIVE.fullmatch(value) else "Must be an integer."
    raise UnprocessableEntity.for_field(["query", param], message)


def _parse(request: Request, converters: Sequence[Callable[[Any], Any]]) -> _PageRequest:
    cursors: dict[str, tuple[Any, ...] | None] = {}
    for param in ("after", "before"):
        value = query_text(request, param)
        cursors[param] = _decode_cursor(value, converters, param) if value else None
    after, before = cursors["after"], cursors["before"]
    first, last, page_size = (
        _size(request, "first"),
        _size(request, "last"),
        _size(request, "page_size"),
    )
    if first is None and last is None:
        size = page_size if page_size is not None else DEFAULT_PAGE_SIZE
        if before is not None and after is None:
            last = size
        else:
            first = size
    return _PageRequest(after=after, before=before, first=first, last=last)


class RelayCursorPagination(BasePagination):
    """Cursor pagination with `after`/`before` + `first`/`last` (and legacy `page_size`)."""

    def paginate_queryset(
        self, queryset: QuerySet[Any] | Sequence[Any], request: Request, view: APIView | None = None
    ) -> list[Any]:
        if not isinstance(queryset, QuerySet):
            raise TypeError("RelayCursorPagination pages querysets only")
        fields = _order_fields(queryset.model, getattr(view, "ordering", "id"))
        page = _parse(request, [f.field.to_python for f in fields])
        window = queryset
        if page.after is not None:
            window = window.filter(_beyond(fields, page.after, forward=True))
        if page.before is not None:
            window = window.filter(_beyond(fields, page.before, forward=False))
        if page.first is not None:
            items = list(window.order_by(*(f.order_by() for f in fields))[: page.first])
            if page.last is not None:
                items = items[-page.last :]
        else:
            assert page.last is not None
            reverse = window.order_by(*(f.order_by(reverse=True) for f in fields))
            items = list(reverse[: page.last])[::-1]
        self.page_info = self._page_info(queryset, fields, items, page)
        return items

    def _page_info(
        self,
        queryset: QuerySet[Any],
        fields: list[_OrderField],
        items: list[Any],
        page: _PageRequest,
    ) -> dict[str, Any]:
        if not items:
            return {
                "has_next_page": False,
                "has_previous_page": False,
                "start_cursor": None,
                "end_cursor": None,
            }
        start = [getattr(items[0], f.field.attname) for f in fields]
        end = [getattr(items[-1], f.field.attname) for f in fields]
        # The first items of the list (or the last ones) have nothing before (after) them.
        from_start = page.after is None and page.last is None
        from_end = page.before is None and page.first is None
        return {
            "has_next_page": not from_end and _any_beyond(queryset, fields, end, forward=True),
            "has_previous_page": not from_start
            and _any_beyond(queryset, fields, start, forward=False),
            "start_cursor": encode_cursor(start),
            "end_cursor": encode_cursor(end),
        }

    def get_paginated_response(self, data: Any) -> Response:
        return Response({"items": data, "page_info": self.page_info})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        cursor = {"type": "string", "nullable": True}
        return {
            "type": "object",
            "required": ["items", "page_info"],
            "properties": {
                "items": schema,
                "page_info": {
                    "type": "object",
                    "required": ["has_next_page", "has_previous_page"],
                    "properties": {
                        "has_next_page": {"type": "boolean"},
                        "has_previous_page": {"type": "boolean"},
                        "start_cursor": {**cursor, "description": "Cursor of the first item."},
                        "end_cursor": {**cursor, "description": "Cursor of the last item."},
                    },
                },
            },
        }

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        size = {"type": "integer", "minimum": 0}
        cursor = {"type": "string"}
        return [
            _query_param(
                "first",
                size,
                "How many items to return from the start of the list, or "
                "after `after` (clamped to 1..100; default 50).",
            ),
            _query_param(
                "last",
                size,
                "How many items to return from the end of the list, or "
                "before `before`; still in list order (clamped to 1..100).",
            ),
            _query_param(
                "page_size",
                size,
                "Client <= 0.0.9 spelling: acts as `last` when only "
                "`before` is given, else as `first`; ignored with `first` or `last`.",
                deprecated=True,
            ),
            _query_param("before", cursor, "A `start_cursor` to page back from."),
            _query_param("after", cursor, "An `end_cursor` to page on from."),
        ]


def _query_param(
    name: str, schema: dict[str, Any], description: str, **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
        **extra,
    }


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(value)
    return value


def page_of_list(
    request: Request, items: Sequence[T], key: Callable[[T], tuple[int, ...]]
) -> tuple[list[T], dict[str, Any]]:
    """The page of `items` that the request's `after`/`before`/`first`/`last` (and
    `page_size`) ask for, and its `page_info`, as `RelayCursorPagination` answers for a
    queryset: for a list worked out in memory (an analytics breakdown). `items` are in
    list order already: ascending `key`, a tuple of integers whose last one is unique."""
    keys = [key(item) for item in items]
    page = _parse(request, [_integer] * (len(keys[0]) if keys else 1))
    low = 0 if page.after is None else bisect_right(keys, page.after)
    high = len(keys) if page.before is None else bisect_left(keys, page.before)
    window = range(low, max(low, high))
    if page.first is not None:
        window = window[: page.first]
        if page.last is not None:
            window = window[-page.last :]
    else:
        assert page.last is not None
        window = window[-page.last :]
    if not window:
        info = {"has_next_page": False, "has_previous_page": False}
        return [], {**info, "start_cursor": None, "end_cursor": None}
    return [items[n] for n in window], {
        "has_next_page": window[-1] < len(keys) - 1,
        "has_previous_page": window[0] > 0,
        "start_cursor": encode_cursor(keys[window[0]]),
        "end_cursor": encode_cursor(keys[window[-1]]),
    }
