"""Helpers every UI view shares: the signed-in request type, htmx detection, form errors."""

from __future__ import annotations

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest

from opsduty.models import Organization, User


class AuthedRequest(HttpRequest):
    """A request behind `login_required`: the middleware has set `organization` from the user."""

    user: User
    organization: Organization


def is_htmx(request: HttpRequest) -> bool:
    """True for requests htmx sent (they want a fragment, not a whole page)."""
    return request.headers.get("HX-Request") == "true"


def require_owner(request: AuthedRequest) -> None:
    """Refuse anyone but an owner of the request's organization (403)."""
    if not request.user.is_owner:
        raise PermissionDenied("Only owners of this organization can do this.")


def add_validation_error(form: forms.BaseForm, error: ValidationError) -> None:
    """Show a service's ValidationError on the form: per field where the form has it."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)
