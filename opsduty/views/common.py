"""Helpers every UI view shares: the signed-in request type, htmx detection, form errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render

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


@dataclass(frozen=True)
class Deletion:
    """What a confirm-then-delete page says and does (see `delete_with_confirmation`)."""

    object_name: str
    what: str  # e.g. "routing rule"
    consequence: str
    cancel_url: str  # also where a refused delete returns, with its message
    done_url: str
    active: str  # the navigation entry


def delete_with_confirmation(
    request: AuthedRequest, deletion: Deletion, delete: Callable[[], None]
) -> HttpResponseBase:
    """GET: the shared confirmation page; POST: `delete()`, then a message and a redirect.

    A ValidationError from `delete()` (e.g. "still used by ...") is shown and nothing changes.
    """
    if request.method == "POST":
        try:
            delete()
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect(deletion.cancel_url)
        messages.success(request, f"{deletion.what.capitalize()} “{deletion.object_name}” deleted.")
        return redirect(deletion.done_url)
    context = {
        "object_name": deletion.object_name,
        "what": deletion.what,
        "consequence": deletion.consequence,
        "cancel_url": deletion.cancel_url,
        "active": deletion.active,
    }
    return render(request, "processing/confirm_delete.html", context)


def action_reported(
    request: HttpRequest, action: Callable[[], object], done: str, to: str
) -> HttpResponse:
    """Run a service's `action` for a button: its ValidationError is shown as an error
    message, else `done` as a success one; then back to the page `to` (a URL name)."""
    try:
        action()
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, done)
    return redirect(to)
