"""Forms of the incident pages. They validate input; incidents/services.py does the writes."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from incidents.models import NOTE_MAX_LENGTH, Status, Urgency
from incidents.selectors import IncidentFilters
from incidents.services import MAX_SILENCE_MINUTES
from opsduty.longchoices import NameChoiceField
from opsduty.models import Service, Team


class IncidentFilterForm(forms.Form):
    """The list's filters (GET). Invalid values are ignored rather than shown as errors."""

    status = forms.MultipleChoiceField(
        label="Status", choices=Status.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    service = NameChoiceField(
        label="Service", queryset=Service.objects.none(), required=False, empty_label="Any"
    )
    team = NameChoiceField(
        label="Team", queryset=Team.objects.none(), required=False, empty_label="Any"
    )
    urgency = forms.ChoiceField(
        label="Urgency", choices=[("", "Any"), *Urgency.choices], required=False
    )
    label = forms.CharField(label="Label", max_length=64, required=False)
    since = forms.DateField(
        label="Created from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="Created until",
        required=False,
        help_text="Inclusive.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(
        self, *args: Any, services: QuerySet[Service], teams: QuerySet[Team], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        service_field = self.fields["service"]
        team_field = self.fields["team"]
        assert isinstance(service_field, forms.ModelChoiceField)
        assert isinstance(team_field, forms.ModelChoiceField)
        service_field.queryset = services
        team_field.queryset = teams

    def to_filters(self) -> IncidentFilters:
        """The selector's filters from the valid fields (dates are whole days, in UTC)."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        service: Service | None = data.get("service")
        team: Team | None = data.get("team")
        return IncidentFilters(
            status=data.get("status") or None,
            service_id=service.pk if service else None,
            team_id=team.pk if team else None,
            urgency=data.get("urgency") or None,
            label=(data.get("label") or "").strip() or None,
            since=_day_start(data.get("since")),
            until=_day_start(data.get("until"), days=1),
        )


def _day_start(day: Any, days: int = 0) -> datetime | None:
    if day is None:
        return None
    try:
        moved = day + timedelta(days=days)
    except OverflowError:  # "until 9999-12-31" (inclusive) bounds nothing
        return None
    return datetime.combine(moved, time.min, tzinfo=timezone.get_current_timezone())


class BulkForm(forms.Form):
    """The action of the list's bulk buttons; the selected ids are read by the view."""

    action = forms.ChoiceField(choices=[("acknowledge", "Acknowledge"), ("resolve", "Resolve")])
    next = forms.CharField(required=False)


class ResolveForm(forms.Form):
    note = forms.CharField(
        label="Resolution note (optional)",
        max_length=NOTE_MAX_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class SilenceForm(forms.Form):
    minutes = forms.IntegerField(
        label="Silence for (minutes)",
        min_value=1,
        max_value=MAX_SILENCE_MINUTES,
        error_messages={"required": "Enter how many minutes to silence the incident for."},
    )


class AttachForm(forms.Form):
    number = forms.IntegerField(
        label="Attach to incident number",
        min_value=1,
        error_messages={"required": "Enter the number of the incident to attach to."},
    )


class NoteForm(forms.Form):
    text = forms.CharField(
        label="Add a note",
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "A note cannot be empty."},
    )


class UrgencyForm(forms.Form):
    urgency = forms.ChoiceField(label="Urgency", choices=Urgency.choices)


class LabelForm(forms.Form):
    name = forms.CharField(
        label="Add a label",
        max_length=64,
        error_messages={"required": "Enter a label name."},
    )


class ArchiveForm(forms.Form):
    before = forms.DateTimeField(
        label="Archive incidents created before (UTC)",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
