"""The development inbox (owners; only where `OPSDUTY_DEV_INBOX` is on): mail the product
sent, as its recipients would read it, with working links."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from opsduty.devmail import dev_inbox_list
from opsduty.views.common import AuthedRequest, require_owner


@require_GET
@login_required
def dev_inbox(request: AuthedRequest) -> HttpResponse:
    """The newest mail sent to people of the organization, newest first."""
    if not settings.OPSDUTY_DEV_INBOX:
        raise Http404("The development inbox is off (OPSDUTY_DEV_INBOX).")
    require_owner(request)
    mails = dev_inbox_list(organization=request.organization)
    return render(request, "opsduty/dev_inbox.html", {"mails": mails, "active": "dev_inbox"})
