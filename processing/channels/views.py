"""Receive-channel pages: list, create, edit, delete, and the debugger.

Channels belong to the organization: owners manage them; owners and members see them and
use the debugger (which creates nothing); stakeholders get 403.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from opsduty.views.common import AuthedRequest, add_validation_error, is_htmx
from processing.channels import selectors, services
from processing.channels.builtin_templates import BUILTIN_TEMPLATES
from processing.channels.forms import FIELD_LABELS, DebugForm, ReceiveChannelForm
from processing.channels.rendering import (
    PayloadError,
    channel_debug,
    channel_templates,
)
from processing.models import BaseTemplate, ReceiveChannel


def _require_manage(request: AuthedRequest) -> None:
    if not selectors.can_manage_channels(request.user):
        raise PermissionDenied("Only owners can manage receive channels.")


@require_GET
@login_required
def channel_list(request: AuthedRequest) -> HttpResponse:
    """The organization's channels and the built-in templates, each with its debugger."""
    context = {
        "channels": selectors.receive_channel_list(user=request.user),
        "builtins": BaseTemplate.choices,
        "can_manage": selectors.can_manage_channels(request.user),
        "active": "receive_channels",
    }
    return render(request, "processing/channel_list.html", context)


def _form_context(form: ReceiveChannelForm, channel: ReceiveChannel | None) -> dict[str, Any]:
    placeholders = {key: dict(fields) for key, fields in BUILTIN_TEMPLATES.items()}
    return {
        "form": form,
        "channel": channel,
        "placeholders": placeholders,
        "active": "receive_channels",
    }


def _save(
    request: AuthedRequest, form: ReceiveChannelForm, channel: ReceiveChannel | None
) -> ReceiveChannel | None:
    """Create or update through the service module; errors land on the form."""
    data = form.cleaned_data
    fields = {
        "name": data["name"],
        "description": data["description"],
        "base_template": data["base_template"],
        "overrides": form.overrides(),
    }
    try:
        if channel is None:
            return services.receive_channel_create(
                organization=request.organization, by=request.user, **fields
            )
        return services.receive_channel_update(channel=channel, by=request.user, **fields)
    except ValidationError as error:
        add_validation_error(form, error)
    return None


@require_http_methods(["GET", "POST"])
@login_required
def channel_create(request: AuthedRequest) -> HttpResponseBase:
    """Create a channel (owners)."""
    _require_manage(request)
    base = request.POST.get("base_template") or BaseTemplate.GENERIC
    form = ReceiveChannelForm(request.POST or None, base_template=base)
    if request.method == "POST" and form.is_valid():
        channel = _save(request, form, None)
        if channel is not None:
            messages.success(request, f"Receive channel “{channel.name}” created.")
            return redirect("receive_channels")
    status = 422 if form.is_bound else 200
    return render(request, "processing/channel_form.html", _form_context(form, None), status=status)


@require_http_methods(["GET", "POST"])
@login_required
def channel_edit(request: AuthedRequest, channel_id: int) -> HttpResponseBase:
    """Edit a channel's name, base template and overrides (owners)."""
    channel = selectors.receive_channel_get(user=request.user, channel_id=channel_id)
    _require_manage(request)
    base = request.POST.get("base_template") or channel.base_template
    form = ReceiveChannelForm(
        request.POST or None, initial=ReceiveChannelForm.initial_for(channel), base_template=base
    )
    if request.method == "POST" and form.is_valid():
        if _save(request, form, channel) is not None:
            messages.success(request, f"Receive channel “{channel.name}” saved.")
            return redirect("receive_channels")
        channel.refresh_from_db()
    status = 422 if form.is_bound else 200
    return render(
        request, "processing/channel_form.html", _form_context(form, channel), status=status
    )


@require_http_methods(["GET", "POST"])
@login_required
def channel_delete(request: AuthedRequest, channel_id: int) -> HttpResponseBase:
    """Confirm (GET) and delete (POST) a channel (owners)."""
    channel = selectors.receive_channel_get(user=request.user, channel_id=channel_id)
    _require_manage(request)
    context: dict[str, Any] = {"channel": channel, "active": "receive_channels"}
    if request.method == "POST":
        name = channel.name
        try:
            services.receive_channel_delete(channel=channel, by=request.user)
        except ValidationError as error:
            context["refusal"] = " ".join(error.messages)
            return render(request, "processing/channel_confirm_delete.html", context, status=422)
        messages.success(request, f"Receive channel “{name}” deleted.")
        return redirect("receive_channels")
    return render(request, "processing/channel_confirm_delete.html", context)


def _debug(
    request: AuthedRequest, templates: dict[str, str], context: dict[str, Any]
) -> HttpResponse:
    """GET: the empty debugger; POST: render the pasted payload (fragment for htmx)."""
    form = DebugForm(request.POST or None)
    result, payload_error, status = None, "", 200
    if request.method == "POST":
        if form.is_valid():
            try:
                result = channel_debug(
                    templates=templates, payload_text=form.cleaned_data["payload"]
                )
            except PayloadError as error:
                payload_error = str(error)
        if result is None:
            status = 422
    context = {
        **context,
        "form": form,
        "result": result,
        "payload_error": payload_error,
        "templates": templates,
        "debug_rows": [(FIELD_LABELS[row.name], row) for row in result.rows] if result else [],
        "active": "receive_channels",
    }
    if request.method == "POST" and is_htmx(request):
        # A 422 would not be swapped by htmx: the fragment carries the error instead.
        return render(request, "processing/_debug_result.html", context)
    return render(request, "processing/channel_debug.html", context, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def channel_debug_view(request: AuthedRequest, channel_id: int) -> HttpResponse:
    """The debugger of one channel (its base template with its overrides)."""
    channel = selectors.receive_channel_get(user=request.user, channel_id=channel_id)
    templates = channel_templates(channel=channel, builtin=None)
    return _debug(request, templates, {"channel": channel, "builtin": None})


@require_http_methods(["GET", "POST"])
@login_required
def builtin_debug_view(request: AuthedRequest) -> HttpResponse:
    """The debugger of a built-in template, `?template=<key>` (default generic)."""
    selectors.receive_channel_list(user=request.user)  # the same 403 for stakeholders
    key = request.GET.get("template") or BaseTemplate.GENERIC
    if key not in BUILTIN_TEMPLATES:
        raise Http404("Unknown built-in template.")
    templates = channel_templates(channel=None, builtin=key)
    context = {"channel": None, "builtin": BaseTemplate(key)}
    return _debug(request, templates, context)
