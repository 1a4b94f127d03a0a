"""The profile's Phone section: the person's number, whether it is verified, and the SMS code
that verifies it (services.py)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from integrations.twilio import selectors
from integrations.twilio.verification import services
from integrations.twilio.verification.forms import CodeForm
from opsduty.phones import phone_display
from opsduty.views.common import AuthedRequest
from opsduty.views.profile import ProfileSection, profile_context

PROFILE_SECTION = ProfileSection(label="Phone", url_name="profile_phone")


def _page(request: AuthedRequest, form: CodeForm | None = None, status: int = 200) -> HttpResponse:
    user = request.user
    organization_id = request.organization.pk
    pending = services.pending_get(user=user)
    if pending is not None and pending.expires_at <= timezone.now():
        pending = None
    sms_ready = (
        selectors.account_get(organization_id=organization_id) is not None
        and selectors.number_for_sending(
            organization_id=organization_id, to=user.phone_number, voice=False
        )
        is not None
    )
    context = profile_context(
        PROFILE_SECTION.url_name,
        phone=phone_display(user.phone_number) if user.phone_number else "",
        pending=pending,
        tries_left=services.TRIES_PER_CODE - pending.attempts if pending else 0,
        sms_ready=sms_ready,
        form=form or CodeForm(),
    )
    return render(request, "integrations/twilio/profile_phone.html", context, status=status)


@require_GET
@login_required
def profile_phone(request: AuthedRequest) -> HttpResponse:
    """The number, its state (verified, not verified, STOP) and the code forms."""
    return _page(request)


@require_POST
@login_required
def phone_code_send(request: AuthedRequest) -> HttpResponseBase:
    """Text a 6-digit code to the person's number."""
    try:
        services.phone_verification_send(user=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            f"Code sent to {phone_display(request.user.phone_number)}: type it below "
            "within 10 minutes.",
        )
    return redirect(PROFILE_SECTION.url_name)


@require_POST
@login_required
def phone_code_check(request: AuthedRequest) -> HttpResponseBase:
    """Check the typed code: right verifies the number, wrong says how many tries are left."""
    form = CodeForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    result = services.phone_verification_check(user=request.user, code=form.cleaned_data["code"])
    if not result.verified:
        form.add_error("code", result.message)
        return _page(request, form, status=400)
    messages.success(request, f"{result.message} SMS and voice notifications can reach you.")
    return redirect(PROFILE_SECTION.url_name)
