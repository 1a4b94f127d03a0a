"""Organization setting (owners): archive the incidents created before a chosen time."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from incidents import services
from incidents.forms import ArchiveForm
from opsduty.views.common import AuthedRequest, add_validation_error, require_owner


@require_http_methods(["GET", "POST"])
@login_required
def incident_archive(request: AuthedRequest) -> HttpResponseBase:
    """Hide incidents created before a time; open ones among them are resolved first."""
    require_owner(request)
    form = ArchiveForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                count = services.incidents_archive(
                    organization=request.organization,
                    before=form.cleaned_data["before"],
                    by=request.user,
                )
            except ValidationError as error:
                add_validation_error(form, error)
            else:
                messages.success(request, f"Archived {count} incident{'s' if count != 1 else ''}.")
                return redirect("incident_archive")
        status = 422
    context = {"form": form, "active": "archive"}
    return render(request, "incidents/archive.html", context, status=status)
