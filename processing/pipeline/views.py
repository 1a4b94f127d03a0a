"""The raw event browser (owners): every accepted event, what each pipeline stage made of
it, replay of a failed one, and trying it with another receive channel or template."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from opsduty.tenancy import scoped
from opsduty.views.common import AuthedRequest, is_htmx, require_owner
from processing.channels.forms import FIELD_LABELS
from processing.models import ReceiveChannel
from processing.pipeline.forms import RawEventFilterForm, RawEventTryForm
from processing.pipeline.steps import PIPELINE_STAGES, pipeline_channel_try
from signals.models import BuiltinTemplate, RawEvent, RawEventStatus, Webhook
from signals.receiver import selectors
from signals.receiver.services import raw_event_replay


def _channels(request: AuthedRequest) -> QuerySet[ReceiveChannel]:
    return scoped(ReceiveChannel, request.organization).order_by("name", "id")


def _cursor(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 19 else None


@require_GET
@login_required
def raw_event_list(request: AuthedRequest) -> HttpResponse:
    """Raw events of the organization, newest first, filtered, 50 a page (owners)."""
    require_owner(request)
    webhooks = scoped(Webhook, request.organization).order_by("name")
    form = RawEventFilterForm(request.GET or None, webhooks=webhooks)
    page = selectors.raw_event_list(
        user=request.user,
        filters=form.to_filters(),
        before=_cursor(request.GET.get("before")),
        after=_cursor(request.GET.get("after")),
    )
    context = {
        "form": form,
        "page": page,
        "paged": "before" in request.GET or "after" in request.GET,
        "active": "raw_events",
    }
    return render(request, "signals/raw_event_list.html", context)


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def _own_label(raw: RawEvent) -> str:
    """What the pipeline reads this event with now (see processing/pipeline/steps.py)."""
    webhook = raw.webhook
    if webhook is None:
        return f"Built-in: {BuiltinTemplate.GENERIC.label} (the webhook was deleted)"
    if webhook.receive_channel is not None:
        return f"Channel: {webhook.receive_channel.name}"
    return f"Built-in: {webhook.get_builtin_template_display()}"


def _try_form(request: AuthedRequest, raw: RawEvent, bound: bool = False) -> RawEventTryForm:
    data = request.POST if bound else None
    return RawEventTryForm(data, channels=_channels(request), own_label=_own_label(raw))


def _raw_event_page(
    request: AuthedRequest, raw: RawEvent, status: int = 200, **extra: Any
) -> HttpResponse:
    result = raw.result if isinstance(raw.result, dict) else {}
    known = {key for key, _ in PIPELINE_STAGES}
    stages = [
        (label, _pretty(result[key]) if key in result else None) for key, label in PIPELINE_STAGES
    ]
    stages += [(key, _pretty(value)) for key, value in result.items() if key not in known]
    extra.setdefault("try_form", _try_form(request, raw))
    context = {
        "raw": raw,
        "headers": _pretty(raw.headers),
        "body": _pretty(raw.body),
        "stages": stages if result else [],
        "can_replay": raw.status == RawEventStatus.FAILED,
        "active": "raw_events",
        **extra,
    }
    return render(request, "signals/raw_event_detail.html", context, status=status)


@require_GET
@login_required
def raw_event_detail(request: AuthedRequest, raw_event_id: int) -> HttpResponse:
    """One raw event: headers, body, outcome and what each pipeline stage made of it."""
    raw = selectors.raw_event_get(user=request.user, raw_event_id=raw_event_id)
    return _raw_event_page(request, raw)


@require_POST
@login_required
def raw_event_replay_view(request: AuthedRequest, raw_event_id: int) -> HttpResponseBase:
    """Send a failed event through the pipeline again; anything else is refused with 422."""
    raw = selectors.raw_event_get(user=request.user, raw_event_id=raw_event_id)
    try:
        raw_event_replay(raw_event=raw, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return _raw_event_page(request, raw, status=422)
    messages.success(request, f"Raw event {raw.pk} queued for processing again.")
    return redirect("raw_event_detail", raw_event_id=raw.pk)


@require_POST
@login_required
def raw_event_try_view(request: AuthedRequest, raw_event_id: int) -> HttpResponse:
    """Render the event with a chosen channel or template (the debugger's result); creates
    nothing. htmx gets the result fragment, a plain POST the whole page (422 when refused)."""
    raw = selectors.raw_event_get(user=request.user, raw_event_id=raw_event_id)
    form = _try_form(request, raw, bound=True)
    context: dict[str, Any] = {"result": None, "debug_rows": [], "debug_label": ""}
    if form.is_valid():
        builtin, channel = form.chosen
        label, result = pipeline_channel_try(raw=raw, channel=channel, builtin=builtin)
        rows = [(FIELD_LABELS[row.name], row) for row in result.rows]
        context.update(result=result, debug_rows=rows, debug_label=label)
    else:
        reasons = [str(message) for message in form.errors.get("source", [])]
        context["payload_error"] = " ".join(reasons) or "Choose from the list."
    if is_htmx(request):
        # A 422 would not be swapped by htmx: the fragment carries the error instead.
        return render(request, "processing/_debug_result.html", context)
    status = 200 if form.is_valid() else 422
    return _raw_event_page(request, raw, status=status, try_form=form, **context)
