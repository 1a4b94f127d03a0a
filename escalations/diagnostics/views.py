"""The owners' Diagnostics page: configurations that would miss notifications."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from escalations.diagnostics.selectors import diagnostics_for
from opsduty.views.common import AuthedRequest, require_owner


@require_GET
@login_required
def diagnostics(request: AuthedRequest) -> HttpResponse:
    """Every finding of the organization, each with a link to where it is fixed (owners)."""
    require_owner(request)
    context = {
        "diagnostics": diagnostics_for(organization=request.organization),
        "active": "diagnostics",
    }
    return render(request, "escalations/diagnostics.html", context)
