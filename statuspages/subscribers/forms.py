"""The subscribe form of the public page."""

from __future__ import annotations

from typing import Any

from django import forms

from statuspages.models import Component


class SubscribeForm(forms.Form):
    email = forms.EmailField(max_length=254)
    components = forms.TypedMultipleChoiceField(coerce=int, required=False, choices=())

    def __init__(self, *args: Any, components: list[Component], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["components"]
        assert isinstance(field, forms.TypedMultipleChoiceField)
        field.choices = [(c.pk, c.name) for c in components]
