"""Keyset pages for the UI's long lists (incidents, services, people, heartbeats, ...).

A page is the `size` rows after (`?after=C`) or before (`?before=C`) the row whose cursor is
C, in the list's order; without either, the first `size` rows. A cursor is opaque (urlsafe
base64 of the JSON list of the row's ordering values), so a deep page costs what the first
one does: an index range scan, never an OFFSET over every row before it, and no COUNT of the
whole list (`count_capped` counts up to a bound when a page wants to say how many).

The ordering must be total: its last field unique (`id`). Fields may follow relations
(`service__name`) when the queryset selects them (`select_related`), so reading a row's
cursor costs no query. A malformed cursor reads as none (the first page): links are made
here, and a hand-edited one is not worth an error page.

`templates/opsduty/_pager.html` renders the links and keeps the other query parameters.
"""

from __future__ import annotations

import base64
import binascii
import json
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any, Generic, TypeVar

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models import Q, QuerySet

T = TypeVar("T", bound=models.Model)

PAGE_SIZE = 50
_MAX_CURSOR = 2000


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page: its rows, the cursors of the pages either side (None: no such page) and
    whether it is not the first page (`paged`: the pager offers the way back to the start)."""

    items: list[T]
    previous_cursor: str | None
    next_cursor: str | None
    paged: bool

    def __iter__(self) -> Any:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)


@dataclass(frozen=True)
class _Key:
    path: str  # "name", "service__name"
    descending: bool
    field: models.Field[Any, Any]

    def order(self, reverse: bool = False) -> str:
        return f"-{self.path}" if self.descending != reverse else self.path

    def value_of(self, row: models.Model) -> Any:
        value: Any = row
        parts = self.path.split("__")
        for part in parts[:-1]:
            value = getattr(value, part)
        return getattr(value, self.field.attname)


def _keys(model: type[models.Model], ordering: Sequence[str]) -> list[_Key]:
    keys = []
    for name in ordering:
        path = name.removeprefix("-")
        current: type[models.Model] = model
        field: Any = None
        for part in path.split("__"):
            try:
                field = current._meta.get_field(part)
            except FieldDoesNotExist:
                raise ValueError(f"ordering: {model.__name__} has no {path!r}") from None
            if field.is_relation and field.related_model is not None:
                current = field.related_model
        if not isinstance(field, models.Field) or field.null:
            raise ValueError(f"ordering: {path!r} must be a non-null column")
        keys.append(_Key(path=path, descending=name.startswith("-"), field=field))
    if not keys or not (keys[-1].field.unique or keys[-1].field.primary_key):
        raise ValueError("ordering: the last field must be unique (e.g. 'id')")
    return keys


def cursor_encode(values: Sequence[Any]) -> str:
    """The opaque cursor of a row whose ordering values are `values`."""
    plain = [v.isoformat() if hasattr(v, "isoformat") else v for v in values]
    raw = json.dumps(plain, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(cursor: str | None, keys: list[_Key]) -> tuple[Any, ...] | None:
    if not cursor or len(cursor) > _MAX_CURSOR:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(values, list) or len(values) != len(keys) or None in values:
        return None
    try:
        return tuple(key.field.to_python(v) for key, v in zip(keys, values, strict=True))
    except (ValidationError, TypeError, ValueError, OverflowError):
        return None


def _beyond(keys: list[_Key], values: Sequence[Any], forward: bool) -> Q:
    """Rows strictly after (`forward`) or before `values` in the list's order."""
    clauses: list[Q] = []
    equal: dict[str, Any] = {}
    for key, value in zip(keys, values, strict=True):
        lookup = "gt" if key.descending != forward else "lt"
        clauses.append(Q(**equal, **{f"{key.path}__{lookup}": value}))
        equal[key.path] = value
    return reduce(operator.or_, clauses)


def page_of(
    queryset: QuerySet[T],
    params: Mapping[str, Any],
    *,
    ordering: Sequence[str],
    size: int = PAGE_SIZE,
) -> Page[T]:
    """The page of `queryset` in `ordering` that `params` (`after` / `before`) asks for."""
    keys = _keys(queryset.model, ordering)
    after = _decode(params.get("after"), keys)
    before = None if after is not None else _decode(params.get("before"), keys)
    forward = [key.order() for key in keys]
    if before is not None:
        backward = [key.order(reverse=True) for key in keys]
        rows = list(
            queryset.filter(_beyond(keys, before, forward=False)).order_by(*backward)[: size + 1]
        )
        has_previous, rows = len(rows) > size, rows[:size][::-1]
        has_next = (
            bool(rows) and queryset.filter(_beyond(keys, _values(keys, rows[-1]), True)).exists()
        )
    else:
        window = queryset if after is None else queryset.filter(_beyond(keys, after, forward=True))
        rows = list(window.order_by(*forward)[: size + 1])
        has_next, rows = len(rows) > size, rows[:size]
        has_previous = (
            after is not None
            and bool(rows)
            and queryset.filter(_beyond(keys, _values(keys, rows[0]), False)).exists()
        )
    return Page(
        items=rows,
        previous_cursor=cursor_encode(_values(keys, rows[0])) if has_previous else None,
        next_cursor=cursor_encode(_values(keys, rows[-1])) if has_next else None,
        paged=after is not None or before is not None,
    )


def _values(keys: list[_Key], row: models.Model) -> list[Any]:
    return [key.value_of(row) for key in keys]


def count_capped(queryset: QuerySet[Any], cap: int) -> tuple[int, bool]:
    """How many rows, counting no further than `cap`: (count, True when there are more)."""
    counted = queryset.order_by()[: cap + 1].count()
    return min(counted, cap), counted > cap
