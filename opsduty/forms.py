"""Forms of the UI. They validate input; the services (opsduty/services.py) do the writes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.contrib.auth import forms as auth_forms
from django.utils import timezone
from oauth2_provider.models import Application

from opsduty.audit import audit_kinds
from opsduty.longchoices import FastSelect
from opsduty.models import API_TOKEN_NAME_MAX, AuditChannel, Organization, Role, Team, User
from opsduty.selectors import AuditFilters, labels_usable, timezone_names
from opsduty.tenancy import scoped
from opsduty.timebounds import DATE_RANGE_MESSAGE, date_in_range


class LoginForm(forms.Form):
    """Organization domain + email + password; `next` carries the page to return to."""

    domain = forms.CharField(
        label="Organization domain",
        max_length=63,
        help_text="The short name of your organization, e.g. acme.",
        widget=forms.TextInput(
            attrs={
                "autocomplete": "organization",
                "autocapitalize": "none",
                "spellcheck": "false",
                "autofocus": True,
            }
        ),
    )
    email = forms.EmailField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "username"}),
    )
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    next = forms.CharField(required=False, widget=forms.HiddenInput)


class ProfileForm(forms.Form):
    first_name = forms.CharField(
        label="First name",
        max_length=150,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "given-name"}),
    )
    last_name = forms.CharField(
        label="Last name",
        max_length=150,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "family-name"}),
    )
    phone_number = forms.CharField(
        label="Phone number",
        max_length=32,
        required=False,
        help_text="+ then the country code and number, e.g. +47 22 33 44 55. SMS and voice "
        "notifications need it verified by a code we text you.",
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )
    time_zone = forms.ChoiceField(
        label="Time zone",
        required=False,
        error_messages={"invalid_choice": "Choose a time zone from the list, e.g. Europe/Oslo."},
        help_text="Analytics count your notifications as business hours (08-18 Monday to "
        "Friday), off hours or sleep hours (22-08) in it, from now on.",
    )

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["time_zone"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = time_zone_choices(f"The organization's ({organization.time_zone})")


def time_zone_choices(blank: str | None = None) -> list[tuple[str, str]]:
    """Every IANA time zone, by name; first a blank choice labelled `blank`, if given."""
    names = [(name, name) for name in sorted(timezone_names())]
    return [("", blank), *names] if blank is not None else names


class PasswordChangeForm(auth_forms.PasswordChangeForm):
    """Django's form (old password + validators), without grabbing focus on the profile page."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["old_password"].widget.attrs.pop("autofocus", None)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=Role.choices)


class TeamCreateForm(forms.Form):
    name = forms.CharField(label="Team name", max_length=100)

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip()
        if scoped(Team, self.organization).filter(name=name).exists():
            raise forms.ValidationError(f"A team named “{name}” already exists.")
        return name


class UserChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    """People shown by name (and email when it differs), drawn in one pass."""

    widget = FastSelect

    def label_from_instance(self, obj: Any) -> str:
        name: str = obj.get_full_name()
        return name if name == obj.email else f"{name} ({obj.email})"


class TeamAddMemberForm(forms.Form):
    """Choose one of the organization's active users who is not in the team yet."""

    user = UserChoiceField(
        label="Add a member",
        queryset=User.objects.none(),
        empty_label="Choose a person…",
        error_messages={"invalid_choice": "Choose a person of this organization not in the team."},
    )

    def __init__(self, *args: Any, team: Team, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["user"]
        assert isinstance(field, UserChoiceField)
        field.queryset = (
            scoped(User, team.organization)
            .filter(is_active=True)
            .exclude(memberships__team=team)
            .order_by("first_name", "last_name", "email")
        )


class ApplicationCreateForm(forms.Form):
    name = forms.CharField(label="Name", max_length=255)
    redirect_uris = forms.CharField(
        label="Redirect URIs",
        help_text="One per line. Exact match is required at authorization time.",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
    )
    client_type = forms.ChoiceField(
        label="Client type",
        choices=[
            (Application.CLIENT_CONFIDENTIAL, "Confidential (a server that can keep a secret)"),
            (Application.CLIENT_PUBLIC, "Public (a CLI, desktop or browser app; PKCE only)"),
        ],
        initial=Application.CLIENT_CONFIDENTIAL,
        widget=forms.RadioSelect,
    )

    def clean_redirect_uris(self) -> str:
        # DOT stores the list whitespace-separated; keep one URI per line for readability.
        uris: list[str] = self.cleaned_data["redirect_uris"].split()
        if not uris:
            raise forms.ValidationError("Enter at least one redirect URI.")
        return "\n".join(uris)


class ApiTokenCreateForm(forms.Form):
    """A personal API token: a name, an optional expiry date (UTC) and the scope."""

    name = forms.CharField(
        label="Name",
        max_length=API_TOKEN_NAME_MAX,
        help_text="What will use it, e.g. “Grafana sync” or “laptop CLI”.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    expires = forms.DateField(
        label="Expires on",
        required=False,
        help_text="Optional. The token stops working at 00:00 UTC on this day. "
        "Leave empty for a token that does not expire.",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter a date, e.g. 2027-06-30."},
    )
    scope = forms.ChoiceField(
        label="Scope",
        choices=[
            ("api:v1", "api:v1: REST API v1"),
            ("api", "api: every API version"),
        ],
        initial="api:v1",
    )

    def clean_expires(self) -> datetime | None:
        day: date | None = self.cleaned_data.get("expires")
        if day is None:
            return None
        if not date_in_range(day):
            raise forms.ValidationError(DATE_RANGE_MESSAGE)
        if day <= timezone.now().date():
            raise forms.ValidationError("Choose a day after today (UTC).")
        return datetime.combine(day, time(0, 0), tzinfo=UTC)


class InvitationForm(forms.Form):
    """Who to invite (owners): an address, a role and the teams they join."""

    email = forms.EmailField(
        label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "off"})
    )
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.MEMBER)
    teams = forms.ModelMultipleChoiceField(
        label="Teams",
        queryset=Team.objects.none(),
        required=False,
        help_text="They join these teams when they accept.",
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["teams"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = scoped(Team, organization).order_by("name")


class InvitationAcceptForm(forms.Form):
    """The invited person's name and password."""

    first_name = forms.CharField(
        label="First name", max_length=150, widget=forms.TextInput(attrs={"autofocus": True})
    )
    last_name = forms.CharField(label="Last name", max_length=150, required=False)
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters, not only digits, not a common password, not close"
        " to your name or address.",
    )
    password_again = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        if (
            cleaned is not None
            and cleaned.get("password")
            and cleaned.get("password") != cleaned.get("password_again")
        ):
            self.add_error("password_again", "The two passwords differ.")
        return cleaned


class EmailChangeForm(forms.Form):
    """A new address, and the current password."""

    new_email = forms.EmailField(
        label="New email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    password = forms.CharField(
        label="Current password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class OrganizationRenameForm(forms.Form):
    name = forms.CharField(label="Organization name", max_length=200)


class OrganizationCloseForm(forms.Form):
    """The organization's domain typed out, and the owner's password."""

    typed_domain = forms.CharField(label="Type the organization's domain to confirm", max_length=63)
    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class LabelForm(forms.Form):
    """Create or edit a label; the scope (organization or a team) is chosen on creation."""

    name = forms.CharField(label="Name", max_length=64)
    color = forms.CharField(
        label="Colour", max_length=7, initial="#6b7280", widget=forms.TextInput({"type": "color"})
    )
    group = forms.CharField(
        label="Group (optional)",
        max_length=64,
        required=False,
        help_text="Groups only organize the list, e.g. Environment or Component.",
        widget=forms.TextInput({"list": "label-groups"}),
    )

    def __init__(self, *args: Any, teams: Any = None, owner: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if teams is not None:  # creation: the scope
            self.fields["team"] = forms.ModelChoiceField(
                label="Scope",
                queryset=teams,
                required=not owner,
                empty_label="Organization: every team" if owner else None,
                help_text="A team label goes only on that team's services, heartbeats and "
                "incidents.",
            )


class LabelChoiceField(forms.ModelMultipleChoiceField):  # type: ignore[type-arg]
    """Labels chosen from the list, shown with their group."""

    widget = forms.CheckboxSelectMultiple

    def label_from_instance(self, obj: Any) -> str:
        name = f"{obj.group} · {obj.name}" if obj.group else str(obj.name)
        return f"{name} (team {obj.team.name})" if obj.team_id else name


def labels_field(organization: Organization, team_id: int | None) -> LabelChoiceField:
    """The labels a resource of `team_id` may carry (organization labels and that team's)."""
    return LabelChoiceField(
        label="Labels",
        queryset=labels_usable(organization=organization, team_id=team_id).select_related("team"),
        required=False,
        help_text="Organization labels and the team's own; new ones are made on the labels page.",
    )


AUDIT_ACTION_CHOICES = [("create", "Created"), ("update", "Changed"), ("delete", "Deleted")]
SYSTEM_ACTOR = "system"


class AuditFilterForm(forms.Form):
    """The audit log's filters (GET); a value that is not one of the choices, a bad date
    or a range that ends before it starts is an error on the page."""

    actor = forms.ChoiceField(
        label="Who",
        required=False,
        widget=FastSelect,
        error_messages={"invalid_choice": "Choose a person of this organization from the list."},
    )
    kind = forms.ChoiceField(
        label="What",
        required=False,
        error_messages={"invalid_choice": "Choose a kind of object from the list."},
    )
    action = forms.ChoiceField(
        label="Action",
        required=False,
        choices=[("", "Any"), *AUDIT_ACTION_CHOICES],
        error_messages={"invalid_choice": "Choose created, changed or deleted."},
    )
    channel = forms.ChoiceField(
        label="Through",
        required=False,
        choices=[("", "Anywhere"), *AuditChannel.choices],
        error_messages={
            "invalid_choice": "Choose web, API, SCIM, SSO, Slack, phone, task or shell."
        },
    )
    since = forms.DateField(
        label="From (day)",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter a date as YYYY-MM-DD."},
    )
    until = forms.DateField(
        label="Until (day, included)",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter a date as YYYY-MM-DD."},
    )
    q = forms.CharField(
        label="Text",
        required=False,
        max_length=200,
        help_text="In the object's name, a changed value or who acted (a token, SCIM).",
    )

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization
        people = scoped(User, organization).order_by("first_name", "last_name", "email", "id")
        rows = people.values_list("pk", "first_name", "last_name", "email", "deleted_at")
        choices = [("", "Anyone"), (SYSTEM_ACTOR, "The system (no person)")]
        for pk, first, last, email, deleted in rows:
            name = f"{first} {last}".strip()
            label = f"A deleted user (#{pk})" if deleted else f"{name} <{email}>" if name else email
            choices.append((str(pk), label))
        actor = self.fields["actor"]
        assert isinstance(actor, forms.ChoiceField)
        actor.choices = choices
        kind = self.fields["kind"]
        assert isinstance(kind, forms.ChoiceField)
        kind.choices = [("", "Anything"), *audit_kinds()]

    def clean(self) -> dict[str, Any] | None:
        data = super().clean() or {}
        for name in ("since", "until"):
            day = data.get(name)
            if day is not None and not date_in_range(day):
                self.add_error(name, DATE_RANGE_MESSAGE)
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            self.add_error("until", "The range ends before it starts.")
        return data

    def to_filters(self) -> AuditFilters:
        """The selector's filters (call after `is_valid()`); days are the organization's."""
        data = self.cleaned_data if self.is_bound else {}
        zone = ZoneInfo(self.organization.time_zone or "UTC")
        actor = data.get("actor") or ""
        since: date | None = data.get("since")
        until: date | None = data.get("until")
        return AuditFilters(
            actor_id=int(actor) if actor.isdigit() else None,
            system=actor == SYSTEM_ACTOR,
            kind=data.get("kind") or "",
            action=data.get("action") or "",
            channel=data.get("channel") or "",
            since=datetime.combine(since, time.min, zone) if since else None,
            until=datetime.combine(until + timedelta(days=1), time.min, zone) if until else None,
            text=(data.get("q") or "").strip(),
        )
