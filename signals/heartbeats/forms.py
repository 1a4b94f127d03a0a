"""Forms of the heartbeat pages; signals/heartbeats/services.py validates and writes.

The forms only parse input (numbers, the label list, the rows of the environment editor); the
rules (name per service, cron expressions, time zones, ranges) are the services', whose
per-field errors land back on the form or on the row they are about.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from opsduty.choices import Urgency
from opsduty.forms import LabelChoiceField
from opsduty.longchoices import FastSelect, NameChoiceField
from opsduty.models import Label, Service
from opsduty.views.common import add_validation_error
from signals.heartbeats.models import HeartbeatState, HeartbeatType
from signals.heartbeats.services import StateInput, state_values

ROWS_MAX = 100
LABELS_MAX = 50

if TYPE_CHECKING:
    _OneService = forms.ModelChoiceField[Service]
    _RowFormSet = forms.BaseFormSet["EnvironmentRowForm"]
else:  # the form classes are generic for the type checker only
    _OneService = forms.ModelChoiceField
    _RowFormSet = forms.BaseFormSet


class ServiceChoice(_OneService):
    """A service shown with its team, so two teams' "API" services can be told apart."""

    def label_from_instance(self, obj: Service) -> str:
        return f"{obj.name} ({obj.team.name})"


class HeartbeatFilterForm(forms.Form):
    """The list's service filter (GET); an unknown or invisible service filters nothing."""

    service = NameChoiceField(
        label="Service",
        queryset=Service.objects.none(),
        required=False,
        empty_label="All services",
        widget=FastSelect(attrs={"id": "service-filter"}),
    )

    def __init__(self, *args: Any, services: QuerySet[Service], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["service"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = services


class HeartbeatForm(forms.Form):
    """Create or edit a heartbeat; the service choice is limited to services the user manages."""

    service = ServiceChoice(
        label="Service",
        queryset=Service.objects.none(),
        empty_label="Choose a service…",
        help_text="A missed check-in opens an incident on this service.",
    )
    name = forms.CharField(label="Name", max_length=200)
    description = forms.CharField(
        label="Description",
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    link = forms.CharField(
        label="Link",
        max_length=2000,
        required=False,
        help_text="A runbook or the job's page; it becomes the incident's source link.",
        widget=forms.URLInput(),
    )
    incident_urgency = forms.ChoiceField(
        label="Incident urgency", choices=Urgency.choices, initial=Urgency.HIGH
    )

    def __init__(self, *args: Any, services: QuerySet[Service], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["service"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = services
        # Organization labels and those of the services' teams; the service's team is checked
        # on save (opsduty.services.labels_check).
        self.fields["labels"] = LabelChoiceField(
            label="Labels",
            queryset=Label.objects.filter(organization_id__in=services.values("organization_id"))
            .filter(Q(team__isnull=True) | Q(team__in=services.values("team_id")))
            .select_related("team")
            .order_by("group", "name"),
            required=False,
            help_text="Incidents from misses carry them: organization labels and the service "
            'team\'s; new ones are made on the <a href="/labels/">labels page</a>.',
        )

    def clean_labels(self) -> list[str]:
        labels = [label.name for label in self.cleaned_data.get("labels") or []]
        if len(labels) > LABELS_MAX:
            raise ValidationError(f"At most {LABELS_MAX} labels.")
        return labels


class EnvironmentRowForm(forms.Form):
    """One row of the environment editor. A row whose name is an existing environment updates
    it; a new name adds one. Blank spare rows are skipped (the formset's `has_changed`)."""

    environment = forms.CharField(label="Environment", max_length=200)
    type = forms.ChoiceField(label="Type", choices=HeartbeatType.choices, initial="interval")
    cron_expression = forms.CharField(
        label="Cron expression",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "0 2 * * *", "spellcheck": "false"}),
    )
    cron_timezone = forms.CharField(
        label="Time zone",
        max_length=64,
        required=False,
        initial="UTC",
        widget=forms.TextInput(attrs={"list": "timezone-names", "spellcheck": "false"}),
    )
    interval_seconds = forms.IntegerField(
        label="Interval (seconds)",
        required=False,
        error_messages={"invalid": "Enter a whole number of seconds."},
    )
    timeout_seconds = forms.IntegerField(
        label="Timeout (seconds)",
        required=False,
        initial=0,
        error_messages={"invalid": "Enter a whole number of seconds."},
    )
    muted = forms.BooleanField(label="Muted", required=False)
    resolve_incident = forms.BooleanField(label="Resolve incident", required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.initial.get("environment"):
            # An existing environment keeps its name: the name is its key (and in its URL).
            self.fields["environment"].widget.attrs["readonly"] = True

    def clean_environment(self) -> str:
        name: str = self.cleaned_data["environment"].strip()
        if not name:
            raise ValidationError("Enter an environment name, e.g. prod.")
        if "/" in name:
            raise ValidationError("An environment name cannot contain “/” (it is part of a URL).")
        return name

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            state_values(self.state_input())
        except ValidationError as error:
            self.add_service_errors(error)
        return data

    def state_input(self) -> StateInput:
        """The cleaned row as the services' StateInput."""
        data = self.cleaned_data
        timeout = data.get("timeout_seconds")
        return StateInput(
            type=data["type"],
            timeout_seconds=0 if timeout is None else timeout,
            muted=bool(data.get("muted")),
            resolve_incident=bool(data.get("resolve_incident")),
            cron_expression=data.get("cron_expression") or None,
            cron_timezone=(data.get("cron_timezone") or "").strip() or None,
            interval_seconds=data.get("interval_seconds"),
        )

    def add_service_errors(self, error: ValidationError) -> None:
        """The services' messages on this row's fields (the rest above the row)."""
        add_validation_error(self, error)


class BaseEnvironmentFormSet(_RowFormSet):
    """All rows of the editor; two rows may not name the same environment."""

    def clean(self) -> None:
        seen: dict[str, int] = {}
        for index, form in enumerate(self.forms):
            if not form.has_changed() or not hasattr(form, "cleaned_data"):
                continue
            name = form.cleaned_data.get("environment")
            if not name:
                continue
            if name in seen:
                form.add_error(
                    "environment", f"Row {seen[name] + 1} already names environment “{name}”."
                )
            else:
                seen[name] = index

    def changed_rows(self) -> list[EnvironmentRowForm]:
        """The rows to save: new or changed ones. An unchanged environment is not saved again,
        which would move its next deadline (it counts from the change before a check-in)."""
        return [form for form in self.forms if form.has_changed()]


# formset_factory builds a subclass of `formset=`; its stub only promises BaseFormSet.
EnvironmentFormSet = cast(
    type[BaseEnvironmentFormSet],
    forms.formset_factory(
        EnvironmentRowForm,
        formset=BaseEnvironmentFormSet,
        extra=1,
        max_num=ROWS_MAX,
        absolute_max=ROWS_MAX,
        validate_max=True,
    ),
)


def environment_initial(state: HeartbeatState) -> dict[str, Any]:
    """Initial editor values of an existing environment."""
    return {
        "environment": state.environment,
        "type": state.type,
        "cron_expression": state.cron_expression or "",
        "cron_timezone": state.cron_timezone or "UTC",
        "interval_seconds": state.interval_seconds,
        "timeout_seconds": state.timeout_seconds,
        "muted": state.muted,
        "resolve_incident": state.resolve_incident,
    }
