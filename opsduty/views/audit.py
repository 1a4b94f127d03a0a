"""The audit log (owners): every configuration change, newest first, filtered, 50 a page, and
the same list as a streamed CSV download (docs/accounts.md, "Audit log")."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import FieldDoesNotExist
from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from opsduty.audit import HIDDEN, SYSTEM, kind_label, person_label, secret_field
from opsduty.forms import AuditFilterForm
from opsduty.models import AuditLogEntry
from opsduty.paging import page_of
from opsduty.selectors import audit_entry_list
from opsduty.views.common import AuthedRequest, require_owner

ORDERING = ("-timestamp", "-id")
ACTION_WORDS = {
    AuditLogEntry.Action.CREATE: "created",
    AuditLogEntry.Action.UPDATE: "changed",
    AuditLogEntry.Action.DELETE: "deleted",
}
_NOTHING = ("", "None")
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Change:
    """One field of an entry: its name as people say it, before and after ("" for none)."""

    field: str
    old: str
    new: str

    def __str__(self) -> str:
        if not self.old:
            return f"{self.field}: {self.new}"
        return f"{self.field}: {self.old} → {self.new}"


@dataclass(frozen=True)
class Row:
    """An entry as the page and the CSV show it."""

    entry: AuditLogEntry
    who: str
    action: str
    kind: str
    changes: list[Change]

    @property
    def changes_text(self) -> str:
        return "; ".join(str(change) for change in self.changes)


def _field(model: Any, name: str) -> tuple[str, dict[str, str]]:
    """A field's name as people say it, and its choices' labels by value."""
    try:
        field = model._meta.get_field(name) if model else None
    except FieldDoesNotExist:
        field = None
    label = str(getattr(field, "verbose_name", name))
    choices = {str(k): str(v) for k, v in getattr(field, "flatchoices", None) or []}
    return label[:1].upper() + label[1:], choices


def _value(value: Any, choices: dict[str, str]) -> str:
    text = "" if value is None else str(value)
    return "" if text in _NOTHING else choices.get(text, text)


def _changes(entry: AuditLogEntry, model: Any) -> list[Change]:
    changes = []
    for name, values in sorted((entry.changes or {}).items()):
        label, choices = _field(model, name)
        if isinstance(values, dict):  # a many-to-many change: the rows added or removed
            verb = "added" if values.get("operation") == "add" else "removed"
            objects = ", ".join(str(o) for o in values.get("objects", []))
            changes.append(Change(label, "", f"{verb} {objects}"))
            continue
        old, new = (_value(v, choices) for v in (list(values) + ["", ""])[:2])
        if secret_field(name):  # whatever was stored: a secret is never shown
            old, new = (HIDDEN if value else "" for value in (old, new))
        if entry.action == AuditLogEntry.Action.CREATE:
            old = ""
        if entry.action == AuditLogEntry.Action.DELETE:
            old, new = "", f"was {old}" if old and old != HIDDEN else old
        if old == new and old != HIDDEN:
            continue
        if old == new == HIDDEN:
            new = "changed (hidden)"
            old = ""
        if old or new:
            changes.append(Change(label, old, new))
    return changes


def audit_row(entry: AuditLogEntry) -> Row:
    """What an entry says: who, what kind of row, the action and the changed fields."""
    model = entry.content_type.model_class()
    if entry.actor is None:
        who = entry.actor_label or SYSTEM
    else:  # a person, and how they acted: 'API token "Grafana sync"'
        how = f" ({entry.actor_label})" if entry.actor_label else ""
        who = person_label(entry.actor) + how
    action = ACTION_WORDS.get(entry.action, "logged")
    return Row(entry, who, action, kind_label(model), _changes(entry, model))


def _filtered(request: AuthedRequest) -> tuple[AuditFilterForm, QuerySet[AuditLogEntry] | None]:
    form = AuditFilterForm(request.GET or None, organization=request.organization)
    if form.is_bound and not form.is_valid():
        return form, None
    entries = audit_entry_list(organization=request.organization, filters=form.to_filters())
    return form, entries


@require_GET
@login_required
def audit_log(request: AuthedRequest) -> HttpResponse:
    """Every configuration change of the organization, newest first, 50 a page (owners)."""
    require_owner(request)
    form, entries = _filtered(request)
    context: dict[str, Any] = {"form": form, "active": "audit", "rows": [], "page": None}
    if entries is None:
        return render(request, "opsduty/audit.html", context, status=400)
    page = page_of(entries, request.GET, ordering=ORDERING)
    context |= {"page": page, "rows": [audit_row(entry) for entry in page]}
    query = request.GET.copy()
    for cursor in ("after", "before"):
        query.pop(cursor, None)
    context["export_query"] = query.urlencode()
    return render(request, "opsduty/audit.html", context)


CSV_HEADER = [
    "time_utc",
    "actor",
    "channel",
    "ip_address",
    "action",
    "kind",
    "object_id",
    "object",
    "changes",
]


class _Echo:
    """A file whose write returns the line (csv.writer into a streamed response)."""

    def write(self, value: str) -> str:
        return value


def _csv_safe(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _csv_lines(entries: Iterable[AuditLogEntry]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_HEADER)
    for entry in entries:
        row = audit_row(entry)
        values = [
            entry.timestamp.astimezone(UTC).isoformat(),
            row.who,
            entry.channel,
            entry.remote_addr or "",
            row.action,
            row.kind,
            entry.object_pk,
            entry.object_repr,
            row.changes_text,
        ]
        yield writer.writerow([_csv_safe(str(value)) for value in values])


@require_GET
@login_required
def audit_log_csv(request: AuthedRequest) -> HttpResponse | StreamingHttpResponse:
    """The filtered audit log as CSV, newest first, streamed (owners)."""
    require_owner(request)
    form, entries = _filtered(request)
    if entries is None:
        errors = "; ".join(f"{name}: {' '.join(map(str, e))}" for name, e in form.errors.items())
        return HttpResponse(
            f"Bad filter: {errors}", status=400, content_type="text/plain; charset=utf-8"
        )
    rows = entries.order_by(*ORDERING).iterator(chunk_size=500)
    response = StreamingHttpResponse(_csv_lines(rows), content_type="text/csv; charset=utf-8")
    name = f"opsduty-audit-{request.organization.domain}-{timezone.now():%Y%m%d-%H%M}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
