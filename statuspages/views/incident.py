""" "Tell customers" from an operational incident's page: a section of the incident page
(registered in `StatusPagesConfig.ready` through `detail_section_register`) whose form
declares a notice linked to the incident on one of the organization's status pages; the
incident's timeline gets its note through `services.notice_declare`."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpResponseBase
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from incidents.models import Incident
from incidents.selectors import incident_get
from incidents.views.detail import SECTION_TEMPLATES
from opsduty.views.common import AuthedRequest, add_validation_error
from statuspages import selectors, services
from statuspages.forms import TellCustomersForm
from statuspages.models import StatusPage
from statuspages.views.common import render_form

PREFIX = "tell"


def _pages(request: AuthedRequest) -> QuerySet[StatusPage]:
    return selectors.status_page_manageable(user=request.user)


def _form(request: AuthedRequest, incident: Incident, data: Any = None) -> TellCustomersForm:
    initial = {"title": incident.summary[:255], "derive_affected_components": True}
    return TellCustomersForm(data, pages=_pages(request), initial=initial, prefix=PREFIX)


def tell_customers_section(request: AuthedRequest, incident: Incident) -> dict[str, Any]:
    """The incident page's "Tell customers" form, for people who manage a status page."""
    if not _pages(request).exists():
        return {}
    return {
        "tell_customers_form": _form(request, incident),
        SECTION_TEMPLATES: ["statuspages/_tell_customers.html"],
    }


@require_http_methods(["GET", "POST"])
@login_required
def tell_customers(request: AuthedRequest, incident_id: int) -> HttpResponseBase:
    """Declare a notice about the incident (GET: the form on its own page; POST: declare,
    then the notice's page; refused: the form with its errors, 422)."""
    incident = incident_get(user=request.user, incident_id=incident_id)
    if not _pages(request).exists():
        raise PermissionDenied("You manage no status page of this organization.")
    form = _form(request, incident, request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            notice = services.notice_declare(
                page=data["status_page"],
                by=request.user,
                title=data["title"],
                impact=data["impact"],
                body=data["body"],
                incident=incident,
                derive_affected_components=data["derive_affected_components"],
                sync_component_status=data["sync_component_status"],
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            count = notice.components.count()
            messages.success(
                request,
                f"Customers were told on {notice.status_page.name}: “{notice.title}” "
                f"({count} component{'s' if count != 1 else ''} affected).",
            )
            return redirect("notice_detail", notice_id=notice.pk)
    return render_form(request, "statuspages/tell_customers.html", form, incident=incident)
