"""The form of the profile's Phone section."""

from __future__ import annotations

from django import forms


class CodeForm(forms.Form):
    code = forms.RegexField(
        label="Code",
        regex=r"^\s*[0-9]{6}\s*$",
        max_length=12,
        error_messages={"invalid": "The code has 6 digits."},
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "size": 8}
        ),
    )
