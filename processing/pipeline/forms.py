"""Forms of the raw event browser: its filters, and trying an event with another channel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.db.models import QuerySet

from opsduty.longchoices import NameChoiceField
from signals.models import RawEventStatus, Webhook
from signals.receiver.selectors import RawEventFilters
from signals.webhooks.forms import TemplateSelectForm
from signals.webhooks.models import ReceiveChannel


class RawEventTryForm(TemplateSelectForm):
    """Render a stored raw event with another channel or template (nothing is created)."""

    source = forms.ChoiceField(label="Try this event with", required=False)

    def __init__(
        self, *args: Any, channels: QuerySet[ReceiveChannel], own_label: str, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._set_channels(channels, [("", f"The webhook's own: {own_label}")])


class RawEventFilterForm(forms.Form):
    """The browser's filters (GET). Invalid values are ignored rather than shown as errors."""

    status = forms.ChoiceField(
        label="Status", choices=[("", "Any"), *RawEventStatus.choices], required=False
    )
    webhook = NameChoiceField(
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
