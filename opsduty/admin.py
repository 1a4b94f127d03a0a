"""The Django admin (platform operators, `is_staff`): django-auditlog registers the audit
log's entries there; they stay read-only, as on the owners' page (docs/accounts.md)."""

from __future__ import annotations

from typing import Any

from auditlog.admin import LogEntryAdmin
from django.contrib import admin
from django.http import HttpRequest

from opsduty.models import AuditLogEntry


class AuditLogEntryAdmin(LogEntryAdmin):  # type: ignore[misc]
    """The library's list and detail of entries, without adding, changing or deleting."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


if admin.site.is_registered(AuditLogEntry):  # auditlog's admin module came first
    admin.site.unregister(AuditLogEntry)
admin.site.register(AuditLogEntry, AuditLogEntryAdmin)
