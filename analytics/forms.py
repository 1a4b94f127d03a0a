"""The analytics pages' forms: the filters (GET; `filters.filters_from_query` reads them, this
form shows them and what the viewer may choose) and the organization's time zone (owners)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q

from analytics.filters import DEFAULT_PRESET, filters_from_query
from analytics.selectors import Filters
from opsduty.choices import Urgency
from opsduty.forms import time_zone_choices
from opsduty.longchoices import FastSelect
from opsduty.models import Label, Organization, Role, Service, Team, User
from opsduty.selectors import service_visible_list
from opsduty.tenancy import scoped

__all__ = [
    "EARLIEST",
    "LATEST",
    "AnalyticsFilterForm",
    "FilterChoices",
    "TimeZoneForm",
    "filter_choices",
]

RANGE_CHOICES = [("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("custom", "Custom")]
# The days a custom range may name: the series walks day by day (or week by week) from the
# start to the end, which must stay inside Python's dates on both sides.
EARLIEST, LATEST = date(1970, 1, 1), date(9998, 12, 31)
DATE_BOUNDS_MESSAGE = f"Choose a day from {EARLIEST.isoformat()} to {LATEST.isoformat()}."
# Ids as the database stores them (bigint): ASCII digits only ("²".isdigit() is True).
_ID = re.compile(r"[0-9]{1,18}")
PARAMETERS = ("range", "start", "end", "team", "service", "urgency", "label")


@dataclass(frozen=True)
class FilterChoices:
    """What the viewer may filter on: (id, name) of teams and services, label names."""

    teams: list[tuple[int, str]]
    services: list[tuple[int, str]]
    labels: list[str]


def filter_choices(user: User) -> FilterChoices:
    """Members: their teams, their teams' services, the organization's and their teams'
    labels; owners and stakeholders (who read all of the analytics): everything."""
    organization = user.organization
    teams = scoped(Team, organization).order_by("name", "id")
    services = scoped(Service, organization)
    labels = scoped(Label, organization).order_by("name")
    if user.role == Role.MEMBER:
        teams = teams.filter(memberships__user=user)
        services = service_visible_list(user=user)
        labels = labels.filter(Q(team__isnull=True) | Q(team__memberships__user=user))
    return FilterChoices(
        teams=list(teams.values_list("pk", "name")),
        services=list(services.order_by("name", "id").values_list("pk", "name")),
        labels=list(labels.values_list("name", flat=True).distinct()),
    )


def _date_widget() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"})


class AnalyticsFilterForm(forms.Form):
    """The range and the filters. Plain text fields drawn as radios and selects: the values
    are checked in `clean` by the shared parser, with its messages, and against the choices
    the viewer has ("No such team." for one they cannot see, as for another organization's)."""

    range = forms.CharField(
        label="Range", required=False, widget=forms.RadioSelect(choices=RANGE_CHOICES)
    )
    start = forms.CharField(label="From", required=False, widget=_date_widget())
    end = forms.CharField(
        label="To", required=False, help_text="Inclusive; custom ranges.", widget=_date_widget()
    )
    team = forms.CharField(label="Team", required=False, widget=FastSelect)
    service = forms.CharField(label="Service", required=False, widget=FastSelect)
    urgency = forms.CharField(
        label="Urgency",
        required=False,
        widget=forms.Select(choices=[("", "Any"), *Urgency.choices]),
    )
    label = forms.CharField(label="Label", required=False, widget=FastSelect)

    def __init__(
        self, query: Mapping[str, str], *, organization: Organization, choices: FilterChoices
    ) -> None:
        data = {name: query.get(name) or "" for name in PARAMETERS}
        data["range"] = data["range"] or DEFAULT_PRESET
        super().__init__(data)
        self.organization = organization
        self.choices = choices
        self.filters: Filters | None = None
        self._choose("team", [("", "All teams"), *((str(i), n) for i, n in choices.teams)])
        self._choose("service", [("", "All services"), *((str(i), n) for i, n in choices.services)])
        self._choose("label", [("", "Any"), *((n, n) for n in choices.labels)])

    def _choose(self, name: str, options: list[tuple[str, str]]) -> None:
        widget = self.fields[name].widget
        assert isinstance(widget, forms.Select)
        widget.choices = options

    def clean(self) -> dict[str, Any]:
        raw: dict[str, str] = {name: str(self.data.get(name) or "") for name in PARAMETERS}
        errors = self._precheck(raw)
        errors.update(self._visibility(raw))
        filters: Filters | None = None
        try:
            filters = filters_from_query(raw, self.organization)
        except ValidationError as error:
            errors = {**{k: " ".join(v) for k, v in error.message_dict.items()}, **errors}
        for name, message in errors.items():
            self.add_error(name if name in self.fields else None, message)
        if filters is not None and not errors:
            self.filters = filters
            # The date fields show the range a preset stands for (a start for "custom").
            self.data = {**self.data, "start": str(filters.start), "end": str(filters.end)}
        return self.cleaned_data

    def _precheck(self, raw: dict[str, str]) -> dict[str, str]:
        """What the shared parser would take badly: ids of non-ASCII digits or past bigint,
        days it would accept that the series cannot walk to."""
        errors: dict[str, str] = {}
        for name in ("team", "service"):
            if raw[name] and not _ID.fullmatch(raw[name]):
                errors[name] = "Use an id (a whole number)."
                raw[name] = ""
        if raw["range"] == "custom":
            for name in ("start", "end"):
                try:
                    day = date.fromisoformat(raw[name])
                except ValueError:
                    continue
                if not EARLIEST <= day <= LATEST:
                    errors[name] = DATE_BOUNDS_MESSAGE
        return errors

    def _visibility(self, raw: dict[str, str]) -> dict[str, str]:
        """Only what the viewer may choose: the same answer as for another organization's."""
        errors: dict[str, str] = {}
        for name, choices in (("team", self.choices.teams), ("service", self.choices.services)):
            if raw[name] and int(raw[name]) not in dict(choices):
                errors[name] = f"No such {name}."
        label = raw["label"].strip()
        if label and label not in self.choices.labels:
            errors["label"] = "No such label."
        return errors


class TimeZoneForm(forms.Form):
    """The organization's time zone: analytics count days in it."""

    time_zone = forms.ChoiceField(
        label="Organization time zone",
        widget=FastSelect,
        error_messages={"invalid_choice": "Choose a time zone from the list, e.g. Europe/Oslo."},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["time_zone"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = time_zone_choices()
