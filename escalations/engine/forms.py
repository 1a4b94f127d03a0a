"""Forms of paging from the incident page; escalations/engine/paging.py does the writes."""

from __future__ import annotations

from typing import Any

from django import forms


class IdListField(forms.Field):
    """Several ids from a multiple select; the view turns them into the organization's rows."""

    widget = forms.SelectMultiple

    def to_python(self, value: Any) -> list[int]:
        if not value:
            return []
        try:
            return [int(item) for item in value]
        except (TypeError, ValueError) as error:
            raise forms.ValidationError("Choose from the list.") from error


class PageForm(forms.Form):
    """Page people directly: users and/or teams (their pageable members)."""

    users = IdListField(label="Users", required=False)
    teams = IdListField(label="Teams", required=False)

    def clean(self) -> dict[str, Any] | None:
        data = super().clean()
        if data is not None and not data.get("users") and not data.get("teams"):
            raise forms.ValidationError("Choose at least one user or team to page.")
        return data


class ReassignForm(forms.Form):
    """Reassign the incident to one of the team's escalation policies."""

    escalation_policy = forms.IntegerField(
        label="Escalation policy",
        min_value=1,
        error_messages={"required": "Choose an escalation policy."},
    )


class EscalateForm(forms.Form):
    """Escalate now; `step` is the step the person saw as next (a double click escalates once)."""

    step = forms.IntegerField(min_value=1, required=False)
