"""Forms of the webhook and raw event pages; signals/webhook_services.py does the writes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.db.models import QuerySet

from signals.models import (
    DEFAULT_RATE_LIMIT_PER_MINUTE,
    MAX_RATE_LIMIT_PER_MINUTE,
    MIN_RATE_LIMIT_PER_MINUTE,
    BuiltinTemplate,
    RawEventStatus,
    Webhook,
)
from signals.selectors import RawEventFilters


class WebhookForm(forms.Form):
    """Create or edit a webhook. The rules (unique name, limit range) live in the service."""

    name = forms.CharField(label="Name", max_length=200)
    enabled = forms.BooleanField(
        label="Enabled",
        required=False,
        initial=True,
        help_text="A disabled webhook still stores what it receives, but processes nothing.",
    )
    builtin_template = forms.ChoiceField(
        label="Template",
        choices=BuiltinTemplate.choices,
        initial=BuiltinTemplate.GENERIC,
        help_text="How the JSON body is read (title, dedup id, status).",
    )
    rate_limit_per_minute = forms.IntegerField(
        label="Rate limit (events a minute)",
        initial=DEFAULT_RATE_LIMIT_PER_MINUTE,
        help_text=(
            f"Events over the limit get 429 with Retry-After. "
            f"{MIN_RATE_LIMIT_PER_MINUTE} to {MAX_RATE_LIMIT_PER_MINUTE:,}."
        ),
        # The range is the service's rule (one message); the attributes only help browsers.
        widget=forms.NumberInput(
            attrs={"min": MIN_RATE_LIMIT_PER_MINUTE, "max": MAX_RATE_LIMIT_PER_MINUTE}
        ),
    )


class EnabledForm(forms.Form):
    enabled = forms.TypedChoiceField(
        choices=[("true", "Enable"), ("false", "Disable")],
        coerce=lambda value: value == "true",
        error_messages={"required": "Say whether to enable or disable the webhook."},
    )


class RawEventFilterForm(forms.Form):
    """The browser's filters (GET). Invalid values are ignored rather than shown as errors."""

    status = forms.ChoiceField(
        label="Status", choices=[("", "Any"), *RawEventStatus.choices], required=False
    )
    webhook = forms.ModelChoiceField(
        label="Webhook", queryset=Webhook.objects.none(), required=False, empty_label="Any"
    )
    since = forms.DateTimeField(
        label="Received from (UTC)",
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    until = forms.DateTimeField(
        label="Received before (UTC)",
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, *args: Any, webhooks: QuerySet[Webhook], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["webhook"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = webhooks

    def to_filters(self) -> RawEventFilters:
        """The selector's filters from the fields that are valid."""
        if not self.is_bound:
            return RawEventFilters()
        self.is_valid()
        data = self.cleaned_data
        webhook: Webhook | None = data.get("webhook")
        since: datetime | None = data.get("since")
        until: datetime | None = data.get("until")
        return RawEventFilters(
            status=data.get("status") or None,
            webhook_id=webhook.pk if webhook else None,
            since=since,
            until=until,
        )
