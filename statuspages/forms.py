"""Forms of the team's status-page screens (statuspages/views/). They check the shape of the
input only; the rules (slugs, components of the page, drafts) are the services'."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from opsduty.models import Service, Team
from statuspages.models import (
    NAME_MAX,
    PLANNED_STATUSES,
    TITLE_MAX,
    AccessMode,
    Component,
    ComponentStatus,
    Impact,
    NoticeStatus,
    StatusPage,
)
from statuspages.services import Movement

UTC_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
MARKDOWN_HELP = "Markdown: **bold**, _italic_, [links](https://example.com), lists. No HTML."
# Statuses a notice about a problem goes through; planned work moves by itself.
UNPLANNED = [(s.value, s.label) for s in NoticeStatus if s not in PLANNED_STATUSES]


def _utc_field(label: str, *, required: bool = True, help_text: str = "") -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=required,
        help_text=help_text,
        input_formats=UTC_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )


class StatusPageForm(forms.Form):
    team = forms.ModelChoiceField(label="Team", queryset=Team.objects.none(), empty_label=None)
    name = forms.CharField(label="Name", max_length=NAME_MAX)
    slug = forms.SlugField(
        label="Slug",
        max_length=64,
        help_text="The page's address: /status/<slug>/ (letters, digits, hyphens).",
    )
    domain = forms.CharField(
        label="Custom domain",
        max_length=253,
        required=False,
        help_text="Optional, e.g. status.example.com (point its DNS at OpsDuty).",
    )
    description = forms.CharField(
        label="Description", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    enabled = forms.BooleanField(label="Enabled (visitors can see the page)", required=False)
    calculate_uptime = forms.BooleanField(label="Show uptime to visitors", required=False)
    access_mode = forms.ChoiceField(label="Who can see it", choices=AccessMode.choices)

    def __init__(self, *args: Any, teams: QuerySet[Team], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["team"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = teams.order_by("name")


class ComponentGroupForm(forms.Form):
    name = forms.CharField(label="Name", max_length=NAME_MAX)
    description = forms.CharField(
        label="Description", required=False, help_text="An optional line under the heading."
    )


class ComponentForm(forms.Form):
    name = forms.CharField(label="Name", max_length=NAME_MAX)
    description = forms.CharField(label="Description", required=False)
    services = forms.ModelMultipleChoiceField(
        label="Services it stands for",
        queryset=Service.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Incidents on these services can mark the component affected.",
    )

    def __init__(self, *args: Any, services: QuerySet[Service], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["services"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = services.order_by("name", "pk")


class MoveForm(forms.Form):
    movement = forms.ChoiceField(choices=[(m, m) for m in Movement.ALL])


class ComponentStatusForm(forms.Form):
    status = forms.ChoiceField(label="Status", choices=ComponentStatus.choices)


class _ComponentsMixin(forms.Form):
    components = forms.ModelMultipleChoiceField(
        label="Affected components",
        queryset=Component.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, page: StatusPage, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["components"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = Component.objects.filter(status_page=page).order_by(
            "group__order", "position", "pk"
        )


class NoticeForm(_ComponentsMixin):
    title = forms.CharField(label="Title", max_length=TITLE_MAX)
    status = forms.ChoiceField(label="Status", choices=UNPLANNED, initial="investigating")
    impact = forms.ChoiceField(label="Impact", choices=Impact.choices, initial="minor")
    body = forms.CharField(
        label="Message",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=MARKDOWN_HELP,
    )
    sync_component_status = forms.BooleanField(
        label="Show the impact on the affected components until it is resolved",
        required=False,
        initial=True,
    )
    incident = forms.IntegerField(
        label="Operational incident number (optional)",
        required=False,
        min_value=1,
        help_text="Links the notice; the incident's timeline notes that customers were told.",
    )
    publish = forms.ChoiceField(
        label="Publish",
        choices=[("now", "Publish now"), ("draft", "Save as a draft (only the team sees it)")],
        initial="now",
        widget=forms.RadioSelect,
    )


class MaintenanceForm(_ComponentsMixin):
    title = forms.CharField(label="Title", max_length=TITLE_MAX)
    body = forms.CharField(
        label="Message",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=MARKDOWN_HELP,
    )
    scheduled_start = _utc_field("Starts (UTC)")
    scheduled_end = _utc_field("Ends (UTC)")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("scheduled_start"), data.get("scheduled_end")
        if start and end and end <= start:
            self.add_error("scheduled_end", "The end must be after the start.")
        return data


class UpdateForm(forms.Form):
    body = forms.CharField(
        label="Update", widget=forms.Textarea(attrs={"rows": 4}), help_text=MARKDOWN_HELP
    )
    status = forms.ChoiceField(
        label="New status",
        choices=[("", "Unchanged"), *NoticeStatus.choices],
        required=False,
    )
    display_at = _utc_field(
        "Show at (UTC)",
        required=False,
        help_text="Leave empty to post now; a later time waits until then.",
    )


class ResolveForm(forms.Form):
    body = forms.CharField(
        label="Closing message",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=MARKDOWN_HELP,
    )


class PostmortemForm(forms.Form):
    body = forms.CharField(
        label="Postmortem",
        required=False,
        max_length=200_000,
        widget=forms.Textarea(attrs={"rows": 18}),
        help_text=MARKDOWN_HELP,
    )
    action = forms.ChoiceField(
        choices=[("save", "Save"), ("publish", "Publish"), ("unpublish", "Unpublish")],
        required=False,
    )


class TellCustomersForm(forms.Form):
    status_page = forms.ModelChoiceField(
        label="Status page", queryset=StatusPage.objects.none(), empty_label=None
    )
    title = forms.CharField(label="Title customers see", max_length=TITLE_MAX)
    impact = forms.ChoiceField(label="Impact", choices=Impact.choices, initial="minor")
    body = forms.CharField(
        label="Message",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=MARKDOWN_HELP,
    )
    derive_affected_components = forms.BooleanField(
        label="Affected: the page's components that stand for this incident's service",
        required=False,
        initial=True,
    )
    sync_component_status = forms.BooleanField(
        label="Show the impact on those components until it is resolved",
        required=False,
        initial=True,
    )

    def __init__(self, *args: Any, pages: QuerySet[StatusPage], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["status_page"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = pages
