"""Forms of the escalation policy pages; escalations/policies/services.py validates and writes.

The step form only parses input: ranges, targets and the time zone are checked by
`policy_services.step_validate`, whose per-field errors land back on the form (422).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from escalations.models import Channel, EscalationPolicy, Schedule, StepKind
from escalations.policies.services import KIND_FIELDS
from opsduty.models import Organization, Role, Team, User
from opsduty.selectors import timezone_names
from opsduty.tenancy import scoped

USERS_INVALID = "Choose active users of this organization; stakeholders are never notified."


class PolicyForm(forms.Form):
    """Create or edit a policy; the team choice is limited to teams the user manages."""

    name = forms.CharField(label="Name", max_length=200)
    team = forms.ModelChoiceField(
        label="Owning team", queryset=Team.objects.none(), empty_label="Choose a team…"
    )
    description = forms.CharField(
        label="Description",
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args: Any, teams: QuerySet[Team], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["team"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = teams


def _minutes_field(label: str, help_text: str) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        required=False,
        help_text=help_text,
        error_messages={"invalid": "Enter a whole number of minutes."},
    )


class StepForm(forms.Form):
    """One step; only the fields of `kind` are kept (see KIND_FIELDS)."""

    users = forms.ModelMultipleChoiceField(
        label="Users",
        queryset=User.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": USERS_INVALID, "invalid_pk_value": USERS_INVALID},
    )
    teams = forms.ModelMultipleChoiceField(
        label="Teams",
        queryset=Team.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Every member of the team who is not a stakeholder is notified.",
        error_messages={"invalid_choice": "Unknown team.", "invalid_pk_value": "Unknown team."},
    )
    schedule_id = forms.ModelChoiceField(
        label="Schedule",
        queryset=Schedule.objects.none(),
        required=False,
        empty_label="No schedule",
        help_text="Also notify whoever is on call in this schedule when the step runs.",
        error_messages={"invalid_choice": "Unknown schedule."},
    )
    channel = forms.ChoiceField(
        label="Channel",
        choices=Channel.choices,
        required=False,
        help_text="Leave as is to use each person's own notification policy.",
    )
    events_count = forms.IntegerField(
        label="Number of events",
        required=False,
        help_text="1 to 1000 events of the incident…",
        error_messages={"invalid": "Enter a whole number of events."},
    )
    window_minutes = _minutes_field("Within (minutes)", "…within this many minutes (1 to 1440).")
    time_from = forms.TimeField(
        label="From", required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    time_to = forms.TimeField(
        label="To",
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}),
        help_text="A window that ends before it starts spans midnight.",
    )
    timezone = forms.ChoiceField(label="Time zone", required=False)
    repeat_times = forms.IntegerField(
        label="Times",
        required=False,
        initial=1,
        help_text="Start over from step 1 at most this many times (1 to 5); then go on.",
        error_messages={"invalid": "Enter a whole number of times."},
    )
    wait_minutes = _minutes_field("Minutes", "Any whole number of minutes from 1 to 1440.")

    def __init__(self, *args: Any, kind: str, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        for name in list(self.fields):
            if name not in KIND_FIELDS[kind]:
                del self.fields[name]
        if "users" in self.fields:
            users = self.fields["users"]
            assert isinstance(users, forms.ModelMultipleChoiceField)
            users.queryset = (
                scoped(User, organization)
                .filter(is_active=True)
                .exclude(role=Role.STAKEHOLDER)
                .order_by("first_name", "email")
            )
            teams = self.fields["teams"]
            assert isinstance(teams, forms.ModelMultipleChoiceField)
            teams.queryset = scoped(Team, organization).order_by("name")
            schedule = self.fields["schedule_id"]
            assert isinstance(schedule, forms.ModelChoiceField)
            schedule.queryset = scoped(Schedule, organization).order_by("name")
        if "timezone" in self.fields:
            zone = self.fields["timezone"]
            assert isinstance(zone, forms.ChoiceField)
            zone.choices = [("", "Choose a time zone…")] + [
                (z, z) for z in sorted(timezone_names())
            ]

    def step_fields(self) -> dict[str, Any]:
        """The cleaned values as `step_add` / `step_update` keyword arguments."""
        values = dict(self.cleaned_data)
        for name in ("users", "teams"):
            if name in values:
                values[name] = list(values[name])
        if "schedule_id" in values:
            schedule = values["schedule_id"]
            values["schedule_id"] = schedule.pk if schedule is not None else None
        return values


def step_initial(step: Any) -> dict[str, Any]:
    """Initial form values of an existing step."""
    initial = {name: getattr(step, name) for name in KIND_FIELDS[step.kind]}
    for name in ("users", "teams"):
        if name in initial:
            initial[name] = list(getattr(step, name).all())
    return initial


def policy_field(team: Team | None) -> forms.ModelChoiceField[EscalationPolicy]:
    """The service form's policy select: only policies of the service's team."""
    queryset = (
        EscalationPolicy.objects.filter(team=team).order_by("name")
        if team is not None
        else EscalationPolicy.objects.none()
    )
    return forms.ModelChoiceField(
        label="Escalation policy",
        queryset=queryset,
        required=False,
        empty_label="None (nobody is paged)",
        help_text="Only policies of the service's own team can be chosen.",
        error_messages={"invalid_choice": "Choose an escalation policy of the service's own team."},
    )


STEP_KIND_CHOICES = StepKind.choices
