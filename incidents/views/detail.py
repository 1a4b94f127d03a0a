"""One incident: its facts, the actions its state allows, and the timeline.

Every action POSTs to its own URL. Success: a message and a redirect back (htmx gets the
refreshed body fragment). Refused: the message and HTTP 422 with the page (or fragment), the
typed input kept; the state is unchanged because the service wrote nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from incidents import services
from incidents.forms import (
    AttachForm,
    LabelForm,
    NoteForm,
    ResolveForm,
    SilenceForm,
    UrgencyForm,
)
from incidents.models import OPEN_STATUSES, Incident, Status
from incidents.selectors import IncidentFilters, incident_get, incident_list
from incidents.views.timeline import incident_timeline
from opsduty.retry import run_retrying_conflicts
from opsduty.selectors import labels_usable
from opsduty.services import can_manage_team
from opsduty.views.common import AuthedRequest, is_htmx

ATTACH_CANDIDATES = 100
# The durations offered at the top of the page; any other number goes in "More actions".
SILENCE_CHOICES = [
    (15, "15 minutes"),
    (30, "30 minutes"),
    (60, "1 hour"),
    (120, "2 hours"),
    (240, "4 hours"),
    (480, "8 hours"),
    (1440, "24 hours"),
]

# What an action does with the incident and its valid form data; returns the success message.
Apply = Callable[[AuthedRequest, Incident, dict[str, Any]], str]


def _load(request: AuthedRequest, incident_id: int) -> Incident:
    incident = incident_get(user=request.user, incident_id=incident_id)
    return Incident.objects.select_related("service__team", "parent").get(pk=incident.pk)


def _can_act(request: AuthedRequest, incident: Incident) -> bool:
    """Owners and members of the service's team act on incidents; stakeholders only read."""
    return can_manage_team(request.user, incident.service.team)


def _attach_candidates(request: AuthedRequest, incident: Incident) -> list[Incident]:
    filters = IncidentFilters(status=list(OPEN_STATUSES))
    candidates = incident_list(user=request.user, filters=filters).filter(parent=None)
    return list(candidates.exclude(pk=incident.pk)[:ATTACH_CANDIDATES])


def _context(
    request: AuthedRequest, incident: Incident, bound: dict[str, forms.Form] | None = None
) -> dict[str, Any]:
    attached = incident.parent_id is not None
    is_open = incident.status != Status.RESOLVED
    children = list(incident.children.order_by("number"))
    forms_: dict[str, forms.Form] = {
        "resolve_form": ResolveForm(),
        "silence_form": SilenceForm(),
        "attach_form": AttachForm(),
        "note_form": NoteForm(),
        "urgency_form": UrgencyForm(initial={"urgency": incident.urgency}),
        "label_form": LabelForm(),
        **(bound or {}),
    }
    can_attach = is_open and not attached and not children
    can_act = _can_act(request, incident)
    labels = list(incident.labels.all())
    return {
        "incident": incident,
        "labels": labels,
        "label_choices": [
            label
            for label in labels_usable(
                organization=incident.organization, team_id=incident.service.team_id
            )
            if label not in labels
        ]
        if can_act
        else [],
        "children": children,
        "can_act": can_act,
        "can_acknowledge": incident.status in (Status.TRIGGERED, Status.SILENCED) and not attached,
        "can_unacknowledge": incident.status == Status.ACKNOWLEDGED and not attached,
        "can_silence": incident.status in (Status.TRIGGERED, Status.ACKNOWLEDGED) and not attached,
        "silence_choices": SILENCE_CHOICES,
        "can_resolve": is_open,
        "can_reopen": not is_open,
        "can_attach": can_attach,
        "attach_candidates": _attach_candidates(request, incident) if can_attach else [],
        "timeline": incident_timeline(incident),
        **_sections_context(request, incident, acting=can_act and is_open),
        **forms_,
    }


# The core of the page is the incidents app's; later apps add what acting on an open incident
# needs (escalations: whom to page, the policies to reassign to) by registering a function
# from (request, incident) to template context, once, in their AppConfig.ready. Their forms
# POST to their own URLs through `incident_action`.
DetailSection = Callable[[AuthedRequest, Incident], dict[str, Any]]
_sections: list[tuple[DetailSection, bool]] = []


def detail_section_register(section: DetailSection, *, actors_only: bool = True) -> None:
    """Add `section`'s context to the incident page: by default only to the page of an open
    incident the user may act on; `actors_only=False`: to every page of every incident."""
    if all(known is not section for known, _ in _sections):
        _sections.append((section, actors_only))


# A section may also name templates of its own for the page to include under the incident
# (`section_templates`, gathered from every section): the page names no later app's template.
SECTION_TEMPLATES = "section_templates"


def _sections_context(request: AuthedRequest, incident: Incident, acting: bool) -> dict[str, Any]:
    context: dict[str, Any] = {}
    templates: list[str] = []
    for section, actors_only in _sections:
        if acting or not actors_only:
            added = section(request, incident)
            templates += added.pop(SECTION_TEMPLATES, [])
            context.update(added)
    context[SECTION_TEMPLATES] = templates
    return context


def _render(
    request: AuthedRequest,
    incident: Incident,
    *,
    bound: dict[str, forms.Form] | None = None,
    status: int = 200,
) -> HttpResponse:
    context = _context(request, incident, bound)
    if is_htmx(request):
        # An action's answer carries its message; a live refresh (a GET) leaves the
        # messages alone, so it neither consumes nor clears one that is waiting.
        context["swap"] = request.method == "POST"
        return render(request, "incidents/_incident_body.html", context, status=status)
    context["active"] = "incidents"
    return render(request, "incidents/incident_detail.html", context, status=status)


@require_GET
@login_required
def incident_short_link(request: AuthedRequest, incident_id: int) -> HttpResponseBase:
    """`/i/<id>`, the short link in SMS notifications: the incident's page."""
    incident = incident_get(user=request.user, incident_id=incident_id)
    return redirect("incident_detail", incident_id=incident.pk)


@require_GET
@login_required
def incident_detail(request: AuthedRequest, incident_id: int) -> HttpResponse:
    """The incident page (archived incidents too, with a note)."""
    return _render(request, _load(request, incident_id))


def _form_errors(form: forms.Form) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


def _run(
    request: AuthedRequest,
    incident_id: int,
    apply: Apply,
    form_class: type[forms.Form] | None = None,
    form_key: str = "",
) -> HttpResponseBase:
    """Check access, validate, call the service, answer PRG (or the htmx fragment)."""
    incident = _load(request, incident_id)
    if not _can_act(request, incident):
        raise PermissionDenied("Only owners and members of the service's team can do this.")
    form = form_class(request.POST) if form_class is not None else None
    bound = {form_key: form} if form is not None and form_key else None
    if form is not None and not form.is_valid():
        messages.error(request, _form_errors(form))
        return _render(request, incident, bound=bound, status=422)
    try:
        # A lost lock race is run again, never answered 500 (opsduty/retry.py).
        data = form.cleaned_data if form is not None else {}
        message = run_retrying_conflicts(apply, request, incident, data)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return _render(request, _load(request, incident_id), bound=bound, status=422)
    messages.success(request, message)
    if is_htmx(request):
        return _render(request, _load(request, incident_id))
    return redirect("incident_detail", incident_id=incident_id)


def _acknowledge(request: AuthedRequest, incident: Incident, data: dict[str, Any]) -> str:
    services.incident_acknowledge(incident=incident, by=request.user)
    return f"Incident #{incident.number} acknowledged."


def _unacknowledge(request: AuthedRequest, incident: Incident, data: dict[str, Any]) -> str:
    services.incident_unacknowledge(incident=incident, by=request.user)
    return f"Incident #{incident.number} unacknowledged: it is triggered again."


def _resolve(request: AuthedRequest, incident: Incident, data: dict[str, Any]) -> str:
    services.incident_resolve(incident=incident, by=request.user, note=data.get("note") or None)
    return f"Incident #{incident.number} resolved."


def _reopen(request: AuthedRequest, incident: Incident, data: dict[str, Any]) -> str:
    services.incident_unresolve(incident=incident, by=request.user)
    return f"Incident #{incident.number} reopened: it is triggered again."


def _silence(request: AuthedRequest, incident: Incident, data: dict[str, Any]) -> str:
    minutes = data["minutes"]
    services.incident_silence(incident=incident, by=request.user, minutes=minutes)
    return (
        f"Incident #{incident.number} silenced for {minutes} minute{'s' if minutes != 1 else ''}."
    )


def _attach(request: AuthedRequest, incident: Incident, data: dict[str, Any]) -> str:
    number = data["number"]
    parent = incident_list(user=request.user).filter(number=number).first()
    if parent is None:
        raise ValidationError(f"There is no incident #{number} that you can see.")
    services.incident_attach(incident=incident, parent=parent, by=request.user)
    return f"Incident #{incident.number} attached to #{number}."


def _detach(request: AuthedRequest, incident: Incident, data: dict[str, Any]) -> str:
    services.incident_detach(incident=incident, by=request.user)
    return f"Incident #{incident.number} detached."


def _note(request: AuthedRequest, incident: Incident, data: dict[str, Any]) -> str:
    services.incident_add_note(incident=incident, by=request.user, text=data["text"])
    return "Note added."


def _urgency(request: AuthedRequest, incident: Incident, data: dict[str, Any]) -> str:
    services.incident_set_urgency(incident=incident, by=request.user, urgency=data["urgency"])
    return f"Urgency set to {data['urgency']}."


def _add_label(request: AuthedRequest, incident: Incident, data: dict[str, Any]) -> str:
    label = services.incident_add_label(
        incident=incident, by=request.user, name=data["name"], create=False
    )
    return f"Label “{label.name}” added."


def _remove_label(request: AuthedRequest, incident: Incident, data: dict[str, Any]) -> str:
    services.incident_remove_label(incident=incident, by=request.user, name=data["name"])
    return f"Label “{data['name'].strip()}” removed."


def incident_action(
    apply: Apply, form_class: type[forms.Form] | None = None, form_key: str = ""
) -> Any:
    @require_POST
    @login_required
    def view(request: AuthedRequest, incident_id: int) -> HttpResponseBase:
        return _run(request, incident_id, apply, form_class, form_key)

    view.__doc__ = apply.__name__.strip("_").replace("_", " ").capitalize() + " (POST)."
    view.__name__ = f"incident{apply.__name__}"
    return view


incident_acknowledge = incident_action(_acknowledge)
incident_unacknowledge = incident_action(_unacknowledge)
incident_resolve = incident_action(_resolve, ResolveForm, "resolve_form")
incident_reopen = incident_action(_reopen)
incident_silence = incident_action(_silence, SilenceForm, "silence_form")
incident_attach = incident_action(_attach, AttachForm, "attach_form")
incident_detach = incident_action(_detach)
incident_add_note = incident_action(_note, NoteForm, "note_form")
incident_set_urgency = incident_action(_urgency, UrgencyForm, "urgency_form")
incident_add_label = incident_action(_add_label, LabelForm, "label_form")
incident_remove_label = incident_action(_remove_label, LabelForm)
