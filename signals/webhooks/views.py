"""Webhook pages (everyone reads, owners manage) and the raw event browser (owners only).

Refused input answers 422 with the page and the reason, and changes nothing (the services
validate before they write). signals/receiver/views.py is the receiver itself, not a page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from incidents.ingest.drain import raw_event_replay
from opsduty.tenancy import scoped
from opsduty.views.common import AuthedRequest, add_validation_error, is_htmx, require_owner
from processing.channels.forms import FIELD_LABELS
from processing.models import ReceiveChannel
from processing.pipeline.steps import pipeline_channel_try
from signals.models import BuiltinTemplate, RawEvent, RawEventStatus, Webhook
from signals.receiver import ingest
from signals.webhooks import selectors
from signals.webhooks import services as webhook_services
from signals.webhooks.forms import EnabledForm, RawEventFilterForm, RawEventTryForm, WebhookForm

RECENT_EVENTS_SHOWN = 20
PIPELINE_STAGES = (
    ("channel", "Receive channel"),
    ("routing", "Routing"),
    ("orchestration", "Orchestration"),
)
CURL_BODY = '{"title":"Test","dedup_id":"test-1"}'


@dataclass(frozen=True)
class SendTarget:
    service_name: str
    url: str


def _send_targets(request: AuthedRequest, webhook: Webhook) -> list[SendTarget]:
    """One receiver URL per service whose routing key the user may see."""
    services = selectors.webhook_target_services(user=request.user)
    return [
        SendTarget(
            service.name,
            request.build_absolute_uri(f"{ingest.PREFIX}{webhook.key}/{service.routing_key}"),
        )
        for service in services
    ]


# --- webhooks -------------------------------------------------------------------------------


@require_GET
@login_required
def webhook_list(request: AuthedRequest) -> HttpResponse:
    """Every webhook of the organization, with the events it received in the last 24 h."""
    context = {
        "webhooks": selectors.webhook_list(organization=request.organization),
        "can_manage": request.user.is_owner,
        "active": "webhooks",
    }
    return render(request, "signals/webhook_list.html", context)


def _detail_context(request: AuthedRequest, webhook: Webhook) -> dict[str, Any]:
    targets = _send_targets(request, webhook)
    recent: list[RawEvent] = []
    if request.user.is_owner:
        filters = selectors.RawEventFilters(webhook_id=webhook.pk)
        page = selectors.raw_event_list(
            user=request.user, filters=filters, page_size=RECENT_EVENTS_SHOWN
        )
        recent = page.events
    return {
        "webhook": webhook,
        "can_manage": request.user.is_owner,
        "targets": targets,
        "curl_body": CURL_BODY,
        "recent_events": recent,
        "cache_seconds": int(ingest.CACHE_SECONDS),
        "active": "webhooks",
    }


@require_GET
@login_required
def webhook_detail(request: AuthedRequest, webhook_id: int) -> HttpResponse:
    """Settings, the URLs to send events to, and (owners) the latest raw events."""
    webhook = selectors.webhook_get(user=request.user, webhook_id=webhook_id)
    return render(request, "signals/webhook_detail.html", _detail_context(request, webhook))


def _channels(request: AuthedRequest) -> QuerySet[ReceiveChannel]:
    return scoped(ReceiveChannel, request.organization).order_by("name", "id")


def _save(request: AuthedRequest, form: WebhookForm, webhook: Webhook | None) -> Webhook | None:
    """Create or update through the service module; errors land on the form."""
    data = form.cleaned_data
    builtin, channel = form.chosen
    if builtin is None:  # a channel: the built-in stays what it was, for when it is cleared
        builtin = webhook.builtin_template if webhook else BuiltinTemplate.GENERIC
    fields = {
        "name": data["name"],
        "enabled": data["enabled"],
        "rate_limit_per_minute": data["rate_limit_per_minute"],
        "builtin_template": builtin,
        "receive_channel": channel,
    }
    try:
        if webhook is None:
            return webhook_services.webhook_create(
                organization=request.organization, by=request.user, **fields
            )
        return webhook_services.webhook_update(webhook=webhook, by=request.user, **fields)
    except ValidationError as error:
        add_validation_error(form, error)
    return None


def _form_page(request: AuthedRequest, form: WebhookForm, webhook: Webhook | None) -> HttpResponse:
    status = 422 if form.is_bound else 200
    context = {"form": form, "webhook": webhook, "active": "webhooks"}
    return render(request, "signals/webhook_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def webhook_create(request: AuthedRequest) -> HttpResponseBase:
    """Create a webhook (owners)."""
    require_owner(request)
    form = WebhookForm(request.POST or None, channels=_channels(request))
    if request.method == "POST" and form.is_valid():
        webhook = _save(request, form, None)
        if webhook is not None:
            messages.success(request, f"Webhook “{webhook.name}” created.")
            return redirect("webhook_detail", webhook_id=webhook.pk)
    return _form_page(request, form, None)


@require_http_methods(["GET", "POST"])
@login_required
def webhook_edit(request: AuthedRequest, webhook_id: int) -> HttpResponseBase:
    """Edit a webhook's settings (owners); the key and so the URLs stay."""
    webhook = selectors.webhook_get(user=request.user, webhook_id=webhook_id)
    require_owner(request)
    initial = WebhookForm.initial_for(webhook)
    form = WebhookForm(request.POST or None, initial=initial, channels=_channels(request))
    if request.method == "POST" and form.is_valid():
        saved = _save(request, form, webhook)
        if saved is not None:
            messages.success(
                request,
                f"Webhook “{saved.name}” saved; every server applies it within "
                f"{int(ingest.CACHE_SECONDS)} seconds.",
            )
            return redirect("webhook_detail", webhook_id=webhook.pk)
    return _form_page(request, form, webhook)


@require_POST
@login_required
def webhook_set_enabled(request: AuthedRequest, webhook_id: int) -> HttpResponseBase:
    """Enable or disable (owners); the form posts the wanted state, so a replay is harmless."""
    webhook = selectors.webhook_get(user=request.user, webhook_id=webhook_id)
    require_owner(request)
    form = EnabledForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say whether to enable or disable the webhook.")
        context = _detail_context(request, webhook)
        return render(request, "signals/webhook_detail.html", context, status=422)
    enabled = form.cleaned_data["enabled"]
    webhook_services.webhook_set_enabled(webhook=webhook, by=request.user, enabled=enabled)
    state = "enabled" if enabled else "disabled: events are stored but not processed"
    messages.success(request, f"Webhook “{webhook.name}” {state}.")
    return redirect("webhook_detail", webhook_id=webhook.pk)


@require_http_methods(["GET", "POST"])
@login_required
def webhook_delete(request: AuthedRequest, webhook_id: int) -> HttpResponseBase:
    """Confirm (GET) and delete (POST); the raw events it received are kept."""
    webhook = selectors.webhook_get(user=request.user, webhook_id=webhook_id)
    require_owner(request)
    if request.method == "POST":
        name = webhook.name
        webhook_services.webhook_delete(webhook=webhook, by=request.user)
        messages.success(request, f"Webhook “{name}” deleted; senders using it now get 404.")
        return redirect("webhooks")
    context = {
        "webhook": webhook,
        "event_count": webhook.rawevent_set.count(),
        "active": "webhooks",
    }
    return render(request, "signals/webhook_confirm_delete.html", context)


# --- raw events -----------------------------------------------------------------------------


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
