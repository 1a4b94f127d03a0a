"""Forms of the schedule pages; escalations/schedules/services.py validates and writes.

The forms only parse input (numbers, dates, the list of groups); rotation rules, team
membership and "starts in the future" are checked by the services, whose per-field errors
land back on the form (`add_service_errors`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from escalations.models import Frequency, Rotation, Schedule, ScheduleLayer
from escalations.schedules.services import LayerInput
from opsduty.models import Role, Team, TeamMembership, User
from opsduty.selectors import timezone_names
from opsduty.views.common import add_validation_error

WEEKDAYS = [
    ("0", "Mon"),
    ("1", "Tue"),
    ("2", "Wed"),
    ("3", "Thu"),
    ("4", "Fri"),
    ("5", "Sat"),
    ("6", "Sun"),
]
GROUPS_MAX = 30
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


def timezone_choices() -> list[tuple[str, str]]:
    """The time zone select: every IANA zone, sorted."""
    return [("", "Choose a time zone…")] + [(z, z) for z in sorted(timezone_names())]


def team_responders(team: Team) -> QuerySet[User]:
    """Who can be on call in the team's schedules: its active owners and members."""
    ids = TeamMembership.objects.filter(team=team).values("user_id")
    return (
        User.objects.filter(pk__in=ids, is_active=True)
        .exclude(role=Role.STAKEHOLDER)
        .order_by("first_name", "last_name", "email")
    )


class ScheduleForm(forms.Form):
    """Create or edit a schedule; the team choice is limited to teams the user manages."""

    team = forms.ModelChoiceField(
        label="Owning team", queryset=Team.objects.none(), empty_label="Choose a team…"
    )
    name = forms.CharField(label="Name", max_length=200)
    description = forms.CharField(
        label="Description",
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    timezone = forms.ChoiceField(
        label="Time zone",
        help_text="Handoff times and the timeline are in this zone, DST included.",
    )

    def __init__(self, *args: Any, teams: QuerySet[Team] | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        zone = self.fields["timezone"]
        assert isinstance(zone, forms.ChoiceField)
        zone.choices = timezone_choices()
        if teams is None:  # editing: the team of a schedule does not change
            del self.fields["team"]
        else:
            team = self.fields["team"]
            assert isinstance(team, forms.ModelChoiceField)
            team.queryset = teams


if TYPE_CHECKING:
    _MultipleUsers = forms.ModelMultipleChoiceField[User]
    _OneUser = forms.ModelChoiceField[User]
else:  # the form classes are generic for the type checker only
    _MultipleUsers = forms.ModelMultipleChoiceField
    _OneUser = forms.ModelChoiceField


class UserLabelChoices(_MultipleUsers):
    """Users shown by name (email when they have none)."""

    def label_from_instance(self, obj: User) -> str:
        return obj.get_full_name()


class UserLabelChoice(_OneUser):
    """One user shown by name (email when they have none)."""

    def label_from_instance(self, obj: User) -> str:
        return obj.get_full_name()


class LayerForm(forms.Form):
    """One layer: rotation, groups of people, recurrence, start and shift length.

    Groups are `group_0` .. `group_{n-1}` checkbox lists; empty ones are skipped, so a
    spare row costs nothing. The template's hidden `group_count` carries n between requests
    ("Add a group" asks for one more).
    """

    name = forms.CharField(label="Name", max_length=200)
    rotation = forms.ChoiceField(
        label="Rotation", choices=Rotation.choices, initial=Rotation.ROLLING
    )
    # Carries the errors about the groups as a whole (the services' "groups").
    groups = forms.CharField(required=False, widget=forms.HiddenInput)
    frequency = forms.ChoiceField(
        label="Repeats", choices=Frequency.choices, initial=Frequency.WEEKLY
    )
    interval = forms.IntegerField(
        label="Every",
        initial=1,
        min_value=1,
        help_text="Repeat every this many days, weeks or months.",
        error_messages={"invalid": "Enter a whole number."},
    )
    weekdays = forms.MultipleChoiceField(
        label="On weekdays (weekly)",
        choices=WEEKDAYS,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None checked: the weekday of the start date.",
    )
    month_days = forms.CharField(
        label="On days of the month (monthly)",
        required=False,
        help_text="Comma-separated, 1 to 31, e.g. 1, 15. Empty: the day of the start date.",
    )
    start_date = forms.DateField(
        label="First shift on",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="A date in the future (past shifts never change).",
    )
    handoff_time = forms.TimeField(
        label="Handoff time",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text="Local time in the schedule's zone.",
    )
    shift_hours = forms.IntegerField(
        label="Shift length: hours",
        min_value=0,
        initial=24 * 7,
        error_messages={"invalid": "Enter a whole number of hours."},
    )
    shift_extra_minutes = forms.IntegerField(
        label="and minutes",
        min_value=0,
        max_value=59,
        required=False,
        initial=0,
        error_messages={"invalid": "Enter a whole number of minutes."},
    )
    repeat_until = forms.DateField(
        label="Repeat until (optional)",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="No shift starts after this date.",
    )

    def __init__(
        self, *args: Any, team: Team, group_count: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.responders = team_responders(team)
        count = group_count or self._count_from(kwargs.get("initial") or {})
        count = max(1, min(count, GROUPS_MAX))
        for index in range(count):
            self.fields[f"group_{index}"] = UserLabelChoices(
                label=f"Group {index + 1}",
                queryset=self.responders,
                required=False,
                widget=forms.CheckboxSelectMultiple,
                error_messages={"invalid_choice": "Choose responders of the owning team."},
            )
        self.group_count = count

    def _count_from(self, initial: dict[str, Any]) -> int:
        if self.is_bound:
            try:
                return int(self.data.get("group_count") or 0)
            except ValueError:
                return 2
        return max(sum(1 for name in initial if name.startswith("group_")) + 1, 2)

    @property
    def group_fields(self) -> list[forms.BoundField]:
        """The group rows, in rotation order."""
        return [self[f"group_{index}"] for index in range(self.group_count)]

    def clean_month_days(self) -> list[int]:
        raw: str = self.cleaned_data.get("month_days") or ""
        days: list[int] = []
        for part in (piece.strip() for piece in raw.replace(";", ",").split(",")):
            if not part:
                continue
            if not part.isdigit():
                raise ValidationError("Enter days of the month as numbers, e.g. 1, 15.")
            days.append(int(part))
        return days

    def layer_input(self) -> LayerInput:
        """The cleaned values as the services' LayerInput."""
        data = self.cleaned_data
        frequency = data["frequency"]
        by_day: list[int] = []
        if frequency == Frequency.WEEKLY:
            by_day = [int(day) for day in data.get("weekdays") or []]
        elif frequency == Frequency.MONTHLY:
            by_day = list(data.get("month_days") or [])
        groups = [list(data[f"group_{i}"]) for i in range(self.group_count)]
        return LayerInput(
            name=data["name"],
            rotation=data["rotation"],
            groups=[group for group in groups if group],
            frequency=frequency,
            interval=data["interval"],
            by_day=by_day,
            start_date=data["start_date"],
            handoff_time=data["handoff_time"],
            shift_minutes=data["shift_hours"] * 60 + (data.get("shift_extra_minutes") or 0),
            repeat_until=data.get("repeat_until"),
        )

    def add_service_errors(self, error: ValidationError) -> None:
        """Put the services' (and the shift module's) messages on the matching fields."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        weekly = self.cleaned_data.get("frequency") == Frequency.WEEKLY
        aliases = {
            "shift_minutes": "shift_hours",
            "shift_length": "shift_hours",
            "start": "start_date",
            "until": "repeat_until",
            "by_day": "weekdays" if weekly else "month_days",
        }
        renamed = {aliases.get(name, name): errors for name, errors in error.error_dict.items()}
        add_validation_error(self, ValidationError(renamed))


def layer_initial(layer: ScheduleLayer) -> dict[str, Any]:
    """Initial form values of an existing layer."""
    users = {user.pk: user for user in User.objects.filter(pk__in=_user_ids(layer.groups))}
    initial: dict[str, Any] = {
        "name": layer.name,
        "rotation": layer.rotation,
        "frequency": layer.frequency,
        "interval": layer.interval,
        "start_date": layer.start_date,
        "handoff_time": layer.handoff_time,
        "shift_hours": layer.shift_minutes // 60,
        "shift_extra_minutes": layer.shift_minutes % 60,
        "repeat_until": layer.repeat_until,
    }
    if layer.frequency == Frequency.WEEKLY:
        initial["weekdays"] = [str(day) for day in layer.by_day]
    elif layer.frequency == Frequency.MONTHLY:
        initial["month_days"] = ", ".join(str(day) for day in layer.by_day)
    for index, group in enumerate(layer.groups):
        initial[f"group_{index}"] = [users[pk] for pk in group if pk in users]
    return initial


def _user_ids(groups: list[list[int]]) -> set[int]:
    return {pk for group in groups for pk in group}


class LocalDateTimeField(forms.DateTimeField):
    """A `datetime-local` input read as a naive wall-clock time (the view adds the zone)."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL)
    input_formats = [DATETIME_LOCAL, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]

    def to_python(self, value: Any) -> datetime | None:
        parsed = super().to_python(value)
        # Django made it aware in the server's zone (UTC) without moving the wall clock.
        return None if parsed is None else parsed.replace(tzinfo=None)


class OverrideForm(forms.Form):
    """Put one responder on call from `start` to `end` (local times of the schedule)."""

    user = UserLabelChoice(
        label="Who", queryset=User.objects.none(), empty_label="Choose a responder…"
    )
    start = LocalDateTimeField(label="From")
    end = LocalDateTimeField(label="Until")

    def __init__(self, *args: Any, schedule: Schedule, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        user = self.fields["user"]
        assert isinstance(user, forms.ModelChoiceField)
        user.queryset = team_responders(schedule.team)
        for name in ("start", "end"):
            self.fields[name].help_text = f"Local time in {schedule.timezone}."

    def add_service_errors(self, error: ValidationError) -> None:
        """The services call the user `user_id`."""
        if hasattr(error, "error_dict"):
            error = ValidationError(
                {("user" if k == "user_id" else k): v for k, v in error.error_dict.items()}
            )
        add_validation_error(self, error)
