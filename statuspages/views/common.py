"""What the team's status-page views share: loading with the right answer for foreign ids
(404) and for people who only read (403), and the answers to bad input (422)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render

from opsduty.views.common import AuthedRequest
from statuspages.models import StatusPage
from statuspages.selectors import can_manage_page

ACTIVE = "status_pages"


def require_manage(request: AuthedRequest, page: StatusPage) -> None:
    """403 for people who may read the page but not change it (checked before any input)."""
    if not can_manage_page(request.user, page):
        raise PermissionDenied("Only owners and members of the page's team can change it.")


def render_form(
    request: AuthedRequest, template: str, form: forms.BaseForm, **context: Any
) -> HttpResponse:
    """The form's page: 200 when empty, 422 with its errors when submitted."""
    status = 422 if form.is_bound else 200
    return render(request, template, {"form": form, "active": ACTIVE, **context}, status=status)


def form_errors(form: forms.BaseForm) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)
