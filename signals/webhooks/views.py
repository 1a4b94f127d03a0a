"""Webhook pages (everyone reads, owners manage) and the raw event browser (owners only).

Refused input answers 422 with the page and the reason, and changes nothing (the services
validate before they write). signals/receiver/views.py is the receiver itself, not a page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from opsduty.paging import Page, page_of
from opsduty.views.common import AuthedRequest, add_validation_error, require_owner
from signals.models import BuiltinTemplate, RawEvent, Webhook
from signals.receiver import ingest
from signals.receiver import selectors as raw_selectors
from signals.webhooks import selectors
from signals.webhooks import services as webhook_services
from signals.webhooks.forms import EnabledForm, WebhookForm
from signals.webhooks.models import ReceiveChannel, receive_channels_of

RECENT_EVENTS_SHOWN = 20
TARGETS_SHOWN = 20
CURL_BODY = '{"title":"Test","dedup_id":"test-1"}'


@dataclass(frozen=True)
class SendTarget:
    service_name: str
    url: str


def _send_targets(request: AuthedRequest, webhook: Webhook) -> tuple[list[SendTarget], Page[Any]]:
    """One receiver URL per service whose routing key the user may see, by name, a page of
    TARGETS_SHOWN at a time (an organization may have thousands of services)."""
    services = page_of(
        selectors.webhook_target_services(user=request.user),
        request.GET,
        ordering=("name", "id"),
        size=TARGETS_SHOWN,
    )
    targets = [
        SendTarget(
            service.name,
            request.build_absolute_uri(f"{ingest.PREFIX}{webhook.key}/{service.routing_key}"),
        )
        for service in services
    ]
    return targets, services


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
    targets, target_page = _send_targets(request, webhook)
    recent: list[RawEvent] = []
    if request.user.is_owner:
        filters = raw_selectors.RawEventFilters(webhook_id=webhook.pk)
        page = raw_selectors.raw_event_list(
            user=request.user, filters=filters, page_size=RECENT_EVENTS_SHOWN
        )
        recent = page.events
    return {
        "webhook": webhook,
        "can_manage": request.user.is_owner,
        "targets": targets,
        "page": target_page,
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
    return receive_channels_of(request.organization.pk)


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
