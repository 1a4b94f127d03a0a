"""Forms of the routing rule and orchestration pages, and the condition editor.

The condition editor is a plain form (operator) plus a formset of condition rows, so it works
without JavaScript; `static/js/conditions.js` only hides the inputs a row's type does not use.
Every row is validated with `processing.routing.conditions.condition_validate`; its errors show on
the row.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms import formset_factory
from django.http import QueryDict

from opsduty.models import Service, Team, User
from opsduty.selectors import team_manageable_list
from opsduty.tenancy import scoped
from processing.models import AutoResolve, Escalate, OrchestrationUrgency, RoutingRule
from processing.routing.conditions import OPERATIONS, condition_validate, conditions_validate
from processing.routing.models import MAX_ACK_TIMEOUT_MINUTES, MAX_SILENCE_MINUTES

TYPE_CHOICES = [
    ("", "Choose a condition…"),
    ("match_all", "Match all"),
    ("filter", "Filter on a field"),
    ("weekly", "Weekly schedule"),
    ("datetime_range", "Date and time range"),
]
OPERATION_LABELS = {
    "exists": "exists",
    "not_exists": "does not exist",
    "matches": "matches",
    "not_matches": "does not match",
    "matches_part": "matches part",
    "not_matches_part": "does not match part",
    "matches_regex": "matches regex",
    "not_matches_regex": "does not match regex",
    "jinja": "Jinja expression is true",
}
DAY_CHOICES = [(str(i), d) for i, d in enumerate(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"))]
ZONES = sorted(available_timezones())


def manageable_services(user: User) -> QuerySet[Service]:
    """Services the user may route events to."""
    return (
        scoped(Service, user.organization)
        .filter(team__in=team_manageable_list(user=user))
        .select_related("team")
        .order_by("name")
    )


class _ServiceChoice(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} ({obj.team.name})"


class RoutingRuleForm(forms.Form):
    name = forms.CharField(label="Name", max_length=200)
    team = forms.ModelChoiceField(
        label="Owning team", queryset=Team.objects.none(), empty_label="Choose a team…"
    )
    default_service = _ServiceChoice(
        label="Default service",
        queryset=Service.objects.none(),
        empty_label="Choose a service…",
        help_text="Events that match no route go here.",
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._set_queryset("team", team_manageable_list(user=user))
        self._set_queryset("default_service", manageable_services(user))

    def _set_queryset(self, name: str, queryset: QuerySet[Any]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = queryset


class RegenerateKeyForm(forms.Form):
    confirm = forms.BooleanField(
        label="I understand that senders using the current key will be refused",
        error_messages={"required": "Tick the box to confirm replacing the routing key."},
    )


class RouteForm(forms.Form):
    name = forms.CharField(label="Name", max_length=200, required=False)
    service = _ServiceChoice(
        label="Send matching events to", queryset=Service.objects.none(), empty_label=None
    )
    enabled = forms.BooleanField(label="Enabled", required=False, initial=True)
    description = forms.CharField(
        label="Description", max_length=2000, required=False, widget=forms.Textarea({"rows": 2})
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["service"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = manageable_services(user)


class _UserChoices(forms.ModelMultipleChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.get_full_name()} <{obj.email}>"


class OrchestrationForm(forms.Form):
    name = forms.CharField(label="Name", max_length=200)
    enabled = forms.BooleanField(label="Enabled", required=False, initial=True)
    routing_rule = forms.ModelChoiceField(
        label="Only for events from routing rule",
        queryset=RoutingRule.objects.none(),
        required=False,
        empty_label="Any event of this service",
    )
    urgency = forms.ChoiceField(
        label="Override urgency", choices=OrchestrationUrgency.choices, required=False
    )
    silence_minutes = forms.IntegerField(
        label="Silence for (minutes)", min_value=1, max_value=MAX_SILENCE_MINUTES, required=False
    )
    note = forms.CharField(
        label="Add incident note",
        max_length=5000,
        required=False,
        widget=forms.Textarea({"rows": 2}),
    )
    acknowledge = forms.BooleanField(label="Acknowledge the incident", required=False)
    resolve = forms.BooleanField(label="Resolve the incident", required=False)
    auto_resolve = forms.ChoiceField(
        label="Resolve signals", choices=AutoResolve.choices, required=False
    )
    escalate = forms.ChoiceField(label="Escalation", choices=Escalate.choices, required=False)
    escalation_policy_override_id = forms.IntegerField(
        label="Override escalation policy (id)", min_value=1, required=False
    )
    notify_users = _UserChoices(
        label="Notify users directly",
        queryset=User.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    ack_timeout_minutes = forms.IntegerField(
        label="Acknowledge timeout (minutes)",
        min_value=1,
        max_value=MAX_ACK_TIMEOUT_MINUTES,
        required=False,
        help_text="Acknowledged for longer than this: back to triggered.",
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rules = self.fields["routing_rule"]
        assert isinstance(rules, forms.ModelChoiceField)
        rules.queryset = scoped(RoutingRule, user.organization).order_by("name")
        users = self.fields["notify_users"]
        assert isinstance(users, forms.ModelMultipleChoiceField)
        users.queryset = User.objects.for_org(user.organization).active().order_by("email")


# --- the condition editor ---------------------------------------------------------------------


class ConditionsOperatorForm(forms.Form):
    operator = forms.ChoiceField(
        label="Combine conditions with",
        choices=[("and", "AND: every condition must match"), ("or", "OR: any condition")],
        initial="and",
    )


class ConditionRowForm(forms.Form):
    type = forms.ChoiceField(label="Condition", choices=TYPE_CHOICES, required=False)
    source = forms.ChoiceField(
        label="Field of",
        choices=[("payload", "payload (raw)"), ("event", "event (parsed)")],
        initial="payload",
        required=False,
    )
    path = forms.CharField(
        label="Path",
        max_length=500,
        required=False,
        widget=forms.TextInput({"placeholder": "commonLabels.team", "spellcheck": "false"}),
    )
    operation = forms.ChoiceField(
        label="Operation",
        choices=[(o, OPERATION_LABELS[o]) for o in OPERATIONS],
        initial="matches",
        required=False,
    )
    value = forms.CharField(
        label="Value",
        required=False,
        strip=False,
        widget=forms.TextInput({"spellcheck": "false"}),
    )
    days = forms.MultipleChoiceField(
        label="Days", choices=DAY_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )
    time_start = forms.CharField(
        label="From (HH:MM)", required=False, widget=forms.TextInput({"placeholder": "09:00"})
    )
    time_end = forms.CharField(
        label="Until (HH:MM)", required=False, widget=forms.TextInput({"placeholder": "17:00"})
    )
    timezone = forms.CharField(
        label="Time zone",
        required=False,
        initial="UTC",
        widget=forms.TextInput({"list": "timezones", "autocomplete": "off"}),
    )
    range_start = forms.CharField(
        label="Start (ISO 8601)",
        required=False,
        widget=forms.TextInput({"placeholder": "2025-01-31T18:00:00+01:00"}),
    )
    range_end = forms.CharField(
        label="End (ISO 8601)",
        required=False,
        widget=forms.TextInput({"placeholder": "2025-02-01T08:00:00+01:00"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("type")
        if not kind or data.get("DELETE"):
            return data  # a row without a type (or ticked Remove) is left out
        try:
            data["item"] = condition_validate(_row_to_item(data))
        except ValidationError as error:
            raise ValidationError(error.messages) from None
        return data


def _row_to_item(data: dict[str, Any]) -> dict[str, Any]:
    kind = data["type"]
    if kind == "datetime_range":
        return {"type": kind, "start": data.get("range_start"), "end": data.get("range_end")}
    if kind == "weekly":
        return {
            "type": kind,
            "days": [int(d) for d in data.get("days") or []],
            "start": data.get("time_start"),
            "end": data.get("time_end"),
            "timezone": data.get("timezone"),
        }
    if kind == "filter":
        return {
            "type": kind,
            "source": data.get("source"),
            "path": data.get("path"),
            "operation": data.get("operation"),
            "value": data.get("value") or "",
        }
    return {"type": kind}


def _item_to_row(item: dict[str, Any]) -> dict[str, Any]:
    kind = item.get("type")
    if kind == "datetime_range":
        return {"type": kind, "range_start": item.get("start"), "range_end": item.get("end")}
    if kind == "weekly":
        return {
            "type": kind,
            "days": [str(d) for d in item.get("days", [])],
            "time_start": item.get("start"),
            "time_end": item.get("end"),
            "timezone": item.get("timezone"),
        }
    if kind == "filter":
        keys = ("source", "path", "operation", "value")
        return {"type": kind, **{k: item.get(k, "") for k in keys}}
    return {"type": kind}


ConditionRowFormSet = formset_factory(
    ConditionRowForm, extra=0, can_delete=True, max_num=50, absolute_max=60
)


class ConditionEditor:
    """The operator form and the row formset as one unit: `is_valid()`, then `spec`."""

    prefix = "cond"

    def __init__(self, data: QueryDict | None = None, *, spec: dict[str, Any] | None = None):
        initial = spec or {"operator": "and", "conditions": [{"type": "match_all"}]}
        rows = [_item_to_row(i) for i in initial.get("conditions", []) if isinstance(i, dict)]
        if data is not None and "add_condition" in data:
            data = data.copy()
            key = f"{self.prefix}-row-TOTAL_FORMS"
            data[key] = str(int(data.get(key) or 0) + 1)
        self.operator = ConditionsOperatorForm(
            data, initial={"operator": initial.get("operator", "and")}, prefix=self.prefix
        )
        self.rows = ConditionRowFormSet(data, initial=rows, prefix=f"{self.prefix}-row")
        if data is None and not rows:
            self.rows = ConditionRowFormSet(initial=[{}], prefix=f"{self.prefix}-row")
        self.errors: list[str] = []
        self.spec: dict[str, Any] = initial
        self.zones = ZONES

    def is_valid(self) -> bool:
        if not (self.operator.is_valid() and self.rows.is_valid()):
            return False
        items = [
            form.cleaned_data["item"]
            for form in self.rows.forms
            if form.cleaned_data.get("item") and not form.cleaned_data.get("DELETE")
        ]
        try:
            self.spec = conditions_validate(
                {"operator": self.operator.cleaned_data["operator"], "conditions": items}
            )
        except ValidationError as error:
            self.errors = error.messages
            return False
        return True
