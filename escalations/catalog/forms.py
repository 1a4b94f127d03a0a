"""Forms of the service pages; escalations/catalog/services.py does the writes."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q, QuerySet

from escalations.catalog.services import (
    DURATION_MESSAGE,
    MAINTENANCE_DEFAULT_MINUTES,
    MAINTENANCE_MAX_MINUTES,
    MODE_MESSAGE,
)
from escalations.policies.forms import policy_field
from incidents.models import SUMMARY_MAX_LENGTH, Urgency
from opsduty.forms import LabelChoiceField
from opsduty.models import Label, MaintenanceMode, Organization, Service, ServiceType, Team
from opsduty.tenancy import scoped


class ServiceForm(forms.Form):
    """Create or edit a service; the team choice is limited to teams the user can manage."""

    name = forms.CharField(label="Name", max_length=200)
    service_type = forms.ChoiceField(
        label="Type", choices=ServiceType.choices, initial=ServiceType.TECHNICAL
    )
    team = forms.ModelChoiceField(
        label="Owning team", queryset=Team.objects.none(), empty_label="Choose a team…"
    )
    slack_channel = forms.CharField(
        label="Slack channel",
        max_length=80,
        required=False,
        help_text="Overrides the organization's default channel, e.g. #payments-alerts.",
    )
    description = forms.CharField(
        label="Description",
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(
        self,
        *args: Any,
        teams: QuerySet[Team],
        organization: Organization,
        service: Service | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["team"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = teams
        self.organization, self.service = organization, service
        # Organization labels and those of the teams on offer; the service checks the team.
        self.fields["labels"] = LabelChoiceField(
            label="Labels",
            queryset=Label.objects.filter(organization=organization)
            .filter(Q(team__isnull=True) | Q(team__in=teams))
            .select_related("team")
            .order_by("group", "name"),
            required=False,
            help_text="Organization labels and the owning team's; new ones are made on the "
            '<a href="/labels/">labels page</a>.',
        )
        if service is not None:
            self.fields["escalation_policy"] = policy_field(service.team)

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip()
        clash = scoped(Service, self.organization).filter(name=name)
        if self.service is not None:
            clash = clash.exclude(pk=self.service.pk)
        if clash.exists():
            raise forms.ValidationError("A service with this name already exists.")
        return name


class RegenerateKeyForm(forms.Form):
    confirm = forms.BooleanField(
        label="I understand that senders using the current key will be refused",
        error_messages={"required": "Tick the box to confirm replacing the routing key."},
    )


class TriggerForm(forms.Form):
    summary = forms.CharField(label="Summary", max_length=SUMMARY_MAX_LENGTH)
    description = forms.CharField(
        label="Description", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    urgency = forms.ChoiceField(label="Urgency", choices=Urgency.choices, initial=Urgency.HIGH)


class MaintenanceForm(forms.Form):
    """Start maintenance: a mode and how long it lasts before it ends by itself."""

    mode = forms.ChoiceField(
        label="Mode",
        choices=MaintenanceMode.choices,
        initial=MaintenanceMode.MAINTENANCE,
        error_messages={"invalid_choice": MODE_MESSAGE, "required": MODE_MESSAGE},
    )
    duration_minutes = forms.IntegerField(
        label="Duration (minutes)",
        initial=MAINTENANCE_DEFAULT_MINUTES,
        min_value=1,
        max_value=MAINTENANCE_MAX_MINUTES,
        help_text="1 to 1440 (24 hours); maintenance ends by itself after this.",
        error_messages={
            "invalid": DURATION_MESSAGE,
            "required": DURATION_MESSAGE,
            "min_value": DURATION_MESSAGE,
            "max_value": DURATION_MESSAGE,
        },
    )
