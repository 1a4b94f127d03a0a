"""Forms of the webhook pages; signals/webhooks/services.py does the writes."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from signals.models import BuiltinTemplate, Webhook
from signals.webhooks.models import (
    DEFAULT_RATE_LIMIT_PER_MINUTE,
    MAX_RATE_LIMIT_PER_MINUTE,
    MIN_RATE_LIMIT_PER_MINUTE,
    ReceiveChannel,
)

BUILTIN_PREFIX = "builtin:"
CHANNEL_PREFIX = "channel:"
# (built-in template key or None, organization channel or None): at most one is set.
TemplateChoice = tuple[str | None, ReceiveChannel | None]


def template_choices(channels: QuerySet[ReceiveChannel]) -> list[tuple[str, Any]]:
    """One select for "how events are read": every built-in, then the organization's
    channels (values `builtin:<key>` / `channel:<id>`, grouped)."""
    groups: list[tuple[str, Any]] = [
        (
            "Built-in templates",
            [
                (f"{BUILTIN_PREFIX}{key}", f"Built-in: {label}")
                for key, label in BuiltinTemplate.choices
            ],
        )
    ]
    own = [(f"{CHANNEL_PREFIX}{channel.pk}", f"Channel: {channel.name}") for channel in channels]
    if own:
        groups.append(("Receive channels of your organization", own))
    return groups


class TemplateSelectForm(forms.Form):
    """A form whose `source` select lists the built-ins and the organization's channels."""

    channels: QuerySet[ReceiveChannel]
    chosen: TemplateChoice = (None, None)

    def _set_channels(self, channels: QuerySet[ReceiveChannel], first: list[Any]) -> None:
        self.channels = channels
        field = self.fields["source"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [*first, *template_choices(channels)]

    def clean_source(self) -> str:
        """Keep what the value stands for in `chosen` (both None: the webhook's own)."""
        value: str = self.cleaned_data["source"]
        if value.startswith(BUILTIN_PREFIX):
            self.chosen = (value.removeprefix(BUILTIN_PREFIX), None)
        elif value.startswith(CHANNEL_PREFIX):
            pk = int(value.removeprefix(CHANNEL_PREFIX))
            channel = self.channels.filter(pk=pk).first()
            if channel is None:  # deleted since the choices were listed
                raise forms.ValidationError("That receive channel no longer exists.")
            self.chosen = (None, channel)
        return value


class WebhookForm(TemplateSelectForm):
    """Create or edit a webhook. The rules (unique name, limit range) live in the service."""

    name = forms.CharField(label="Name", max_length=200)
    enabled = forms.BooleanField(
        label="Enabled",
        required=False,
        initial=True,
        help_text="A disabled webhook still stores what it receives, but processes nothing.",
    )
    source = forms.ChoiceField(
        label="Receive channel",
        initial=f"{BUILTIN_PREFIX}{BuiltinTemplate.GENERIC}",
        help_text=(
            "How the JSON body is read (title, dedup id, status): a built-in template, or one "
            "of your organization's receive channels (a built-in with your overrides)."
        ),
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

    def __init__(self, *args: Any, channels: QuerySet[ReceiveChannel], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._set_channels(channels, [])

    @staticmethod
    def initial_for(webhook: Webhook) -> dict[str, Any]:
        """The edit form's values: the channel when one is set, else the built-in."""
        if webhook.receive_channel_id is not None:
            source = f"{CHANNEL_PREFIX}{webhook.receive_channel_id}"
        else:
            source = f"{BUILTIN_PREFIX}{webhook.builtin_template}"
        return {
            "name": webhook.name,
            "enabled": webhook.enabled,
            "source": source,
            "rate_limit_per_minute": webhook.rate_limit_per_minute,
        }


class EnabledForm(forms.Form):
    enabled = forms.TypedChoiceField(
        choices=[("true", "Enable"), ("false", "Disable")],
        coerce=lambda value: value == "true",
        error_messages={"required": "Say whether to enable or disable the webhook."},
    )
