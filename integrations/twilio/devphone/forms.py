"""Forms of the development phone: a text, a call, and what a phone does during a call."""

from __future__ import annotations

from django import forms
from django.core.validators import RegexValidator

_E164 = RegexValidator(r"^\+[1-9][0-9]{6,14}$", "Use E.164 format, e.g. +14155550100.")

ACTIONS = ("answer", "press", "gather-timeout", "no-answer", "busy", "hangup", "record")


class SmsForm(forms.Form):
    """A text from one of the organization's phones to a number."""

    from_number = forms.CharField(validators=[_E164])
    to_number = forms.CharField(label="To", validators=[_E164])
    body = forms.CharField(max_length=1600)


class CallForm(forms.Form):
    """A call from a phone (a person's, or any number) to a number the organization bought."""

    from_number = forms.CharField(label="From", validators=[_E164])
    to_number = forms.CharField(label="To", validators=[_E164])


class CallActionForm(forms.Form):
    """What the phone does on a call (answer as a person or a voicemail, press keys...)."""

    action = forms.ChoiceField(choices=[(a, a) for a in ACTIONS])
    by = forms.ChoiceField(
        choices=[("human", "human"), ("machine_start", "machine_start")], required=False
    )
    digits = forms.CharField(
        required=False, validators=[RegexValidator(r"^[0-9*#]{1,20}$", "Keys are 0-9, * and #.")]
    )
    duration = forms.IntegerField(required=False, min_value=0, max_value=3600)
