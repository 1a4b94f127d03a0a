"""Forms of the receive-channel pages; processing/channels/services.py does the writes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms

from processing.channels.builtin_templates import BUILTIN_TEMPLATES
from processing.models import OVERRIDE_FIELDS, BaseTemplate, ReceiveChannel
from processing.sandbox.environment import MAX_SOURCE

FIELD_LABELS = {
    "summary": "Summary",
    "description": "Description",
    "source_url": "Source URL",
    "dedup_id": "Deduplication id",
    "acknowledge": "Acknowledge signal",
    "resolve": "Resolve signal",
    "urgency": "Urgency",
    "labels": "Labels",
}
FIELD_HELP = {
    "summary": "One line; empty output uses a fallback summary.",
    "description": "Free text shown on the incident.",
    "source_url": "An http(s) link back to the source; anything else is dropped.",
    "dedup_id": "Events with the same id join the same open incident.",
    "acknowledge": "Acknowledges when the output is y, yes, true, on, 1 or ok.",
    "resolve": "Resolves when the output is y, yes, true, on, 1 or ok.",
    "urgency": "high or low (anything else counts as high).",
    "labels": "Separated by commas or new lines; at most 20, each up to 64 characters.",
}


def override_name(field: str) -> str:
    """The form field holding the override of event field `field`."""
    return f"{field}_template"


def clear_name(field: str) -> str:
    """The form checkbox that clears the override of `field`."""
    return f"{field}_clear"


class ReceiveChannelForm(forms.Form):
    """Create or edit a channel: name, base template and an override per event field."""

    name = forms.CharField(label="Name", max_length=200)
    base_template = forms.ChoiceField(
        label="Built-in template", choices=BaseTemplate.choices, initial=BaseTemplate.GENERIC
    )
    description = forms.CharField(
        label="Description",
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, base_template: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        base: Mapping[str, str] = BUILTIN_TEMPLATES.get(base_template or BaseTemplate.GENERIC, {})
        for field in OVERRIDE_FIELDS:
            self.fields[override_name(field)] = forms.CharField(
                label=FIELD_LABELS[field],
                required=False,
                strip=False,
                max_length=MAX_SOURCE,
                help_text=FIELD_HELP[field] + " Leave empty to use the built-in template.",
                widget=forms.Textarea(
                    attrs={
                        "rows": 3,
                        "spellcheck": "false",
                        "class": "template-source",
                        "placeholder": base.get(field, ""),
                    }
                ),
            )
            self.fields[clear_name(field)] = forms.BooleanField(
                label=f"Clear the override (use the built-in {FIELD_LABELS[field].lower()})",
                required=False,
            )

    def override_fields(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        """(override, clear box) bound fields in display order, for the template."""
        return [(self[override_name(f)], self[clear_name(f)]) for f in OVERRIDE_FIELDS]

    def overrides(self) -> dict[str, str | None]:
        """Event field -> override source (None when left empty or cleared)."""
        data = self.cleaned_data
        return {
            field: None if data.get(clear_name(field)) else data.get(override_name(field)) or None
            for field in OVERRIDE_FIELDS
        }

    @staticmethod
    def initial_for(channel: ReceiveChannel) -> dict[str, Any]:
        initial: dict[str, Any] = {
            "name": channel.name,
            "base_template": channel.base_template,
            "description": channel.description,
        }
        for field in OVERRIDE_FIELDS:
            initial[override_name(field)] = getattr(channel, override_name(field)) or ""
        return initial


class DebugForm(forms.Form):
    """The debugger's paste box."""

    payload = forms.CharField(
        label="Payload (JSON object)",
        strip=False,
        widget=forms.Textarea(
            attrs={"rows": 14, "spellcheck": "false", "class": "template-source"}
        ),
    )
