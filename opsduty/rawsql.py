"""Plain SQL that returns model instances, for hot paths (event processing, escalation
steps, delivery) where building the ORM query cost more than its round trip.

`Model.from_db()` takes the values as PostgreSQL returns them and skips the fields'
converters, so a model with a field that needs one (JSON) must decode it itself (see
`incidents.ingest.drain._lock_pending`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

M = TypeVar("M", bound=Model)


def columns(model: type[Model]) -> list[str]:
    """The model's concrete fields' attribute names, in the order `from_db()` reads them."""
    return [field.attname for field in model._meta.concrete_fields]


def select_list(model: type[Model], alias: str) -> str:
    """`alias.column, ...` for every concrete field, in `columns()` order."""
    return ", ".join(f"{alias}.{field.column}" for field in model._meta.concrete_fields)


def instance(model: type[M], values: Sequence[Any]) -> M:
    """A model instance from a row of its `columns()`."""
    return model.from_db("default", columns(model), list(values))


def fetch_one(model: type[M], sql: str, params: Any) -> M | None:
    """Run `sql` (which returns the model's `columns()`); the first row as an instance."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return instance(model, row) if row else None


def fetch_all(model: type[M], sql: str, params: Any) -> list[M]:
    """Run `sql` (which returns the model's `columns()`); every row as an instance."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [instance(model, row) for row in rows]


def stored(instance: M, pk: Any = None) -> M:
    """`instance`, written by plain SQL (with `pk` when the database chose it), marked as a
    saved row: a later `save()` updates it."""
    if pk is not None:
        instance.pk = pk
    instance._state.adding = False
    instance._state.db = "default"
    return instance


def values_rows(rows: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
    """`VALUES (%s, ...), (%s, ...)` for `rows` (all of one width) and their flat parameters,
    for a multi-row INSERT: one statement and one round trip for a batch's rows."""
    row = "(" + ", ".join(["%s"] * len(rows[0])) + ")"
    return "VALUES " + ", ".join([row] * len(rows)), [value for row in rows for value in row]


# --- prepared statements ----------------------------------------------------------------------

# The statements that run for every event, change or step (`prepared()`): PostgreSQL keeps
# their plan instead of parsing and planning each again. Only statements whose generic plan
# is as good as a custom one belong here: lookups and writes by key or by an array of keys,
# a partial index's condition written in the text, not passed as a parameter.
_PREPARED: set[str] = set()


def prepared(*statements: str) -> None:
    """Have these statements prepared by every connection that runs them (where prepared
    statements are allowed: OPSDUTY_DB_PREPARED_STATEMENTS, server-side binding)."""
    _PREPARED.update(statements)


@contextmanager
def preparing(db: BaseDatabaseWrapper | None = None) -> Iterator[None]:
    """Statements run in the block on `db` (the default connection) are prepared, and their
    prepared plan reused, where allowed. Django leaves psycopg's automatic preparing off
    (`prepare_threshold` None): on for the block only."""
    db = db or connection
    if (
        db.settings_dict["OPTIONS"].get("server_side_binding") is not True
        or not settings.OPSDUTY_DB_PREPARED_STATEMENTS
    ):
        yield
        return
    db.ensure_connection()
    raw = db.connection
    previous, raw.prepare_threshold = raw.prepare_threshold, 0
    try:
        yield
    finally:
        raw.prepare_threshold = previous


def _prepare_listed(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    if many or sql not in _PREPARED:
        return execute(sql, params, many, context)
    with preparing(context["connection"]):
        return execute(sql, params, many, context)


def prepare_listed_on(**signal: Any) -> None:
    """`connection_created`: the new connection prepares the statements `prepared()` lists."""
    db: BaseDatabaseWrapper = signal["connection"]
    if _prepare_listed not in db.execute_wrappers:
        db.execute_wrappers.append(_prepare_listed)
