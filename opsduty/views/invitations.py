"""Invitations: owners invite people by email from the members page; the invited person
accepts through the link (docs/accounts.md)."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from opsduty import services
from opsduty.auth import password_sign_in_refusal
from opsduty.forms import InvitationAcceptForm, InvitationForm
from opsduty.models import Invitation, User
from opsduty.tenancy import get_for_org_or_404
from opsduty.views.auth import login_sections_for
from opsduty.views.common import (
    AuthedRequest,
    action_reported,
    add_validation_error,
    require_owner,
)
from opsduty.views.members import members_page


@require_POST
@login_required
def invitation_create(request: AuthedRequest) -> HttpResponse:
    """Invite an address with a role and teams (owners); the members page says what came of it."""
    require_owner(request)
    form = InvitationForm(request.POST, organization=request.organization)
    if form.is_valid():
        try:
            invitation = services.invitation_create(
                organization=request.organization,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                teams=list(form.cleaned_data["teams"]),
                by=request.user,
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(
                request, f"Invitation sent to {invitation.email}; the link works for 7 days."
            )
            return redirect("members")
    return members_page(request, invite_form=form, status=400)


def _managed(request: AuthedRequest, invitation_id: int) -> Invitation:
    invitation = get_for_org_or_404(Invitation, request.organization, pk=invitation_id)
    require_owner(request)
    return invitation


@require_POST
@login_required
def invitation_resend(request: AuthedRequest, invitation_id: int) -> HttpResponse:
    """Mail a new link (the old one stops working), valid 7 days from now."""
    invitation = _managed(request, invitation_id)
    return action_reported(
        request,
        partial(services.invitation_resend, invitation=invitation, by=request.user),
        f"A new link was sent to {invitation.email}.",
        "members",
    )


@require_POST
@login_required
def invitation_revoke(request: AuthedRequest, invitation_id: int) -> HttpResponse:
    """Withdraw an invitation: its link stops working at once."""
    invitation = _managed(request, invitation_id)
    return action_reported(
        request,
        partial(services.invitation_revoke, invitation=invitation, by=request.user),
        f"The invitation of {invitation.email} was withdrawn.",
        "members",
    )


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The link of an invitation: the invited person sets their name and password, and is
    signed in. A link that is not waiting any more gets a page that says why (410; 404 for
    a link that never was)."""
    invitation = services.invitation_for_token(token)
    state = "unknown" if invitation is None else invitation.state()
    if invitation is None or state != "waiting":
        return render(
            request,
            "opsduty/link_refused.html",
            {"reason": services.INVITATION_REFUSED[state]},
            status=404 if invitation is None else 410,
        )
    organization = invitation.organization
    # Whether a password would let this person sign in (an organization requiring SSO refuses
    # it to all but owners): if not, the page offers only its SSO.
    password_refused = password_sign_in_refusal(
        User(organization=organization, role=invitation.role)
    )
    form = InvitationAcceptForm(request.POST or None)
    if request.method == "POST" and password_refused:
        form.is_valid()
        form.add_error(None, password_refused)
    elif request.method == "POST" and form.is_valid():
        try:
            user = services.invitation_accept(
                token=token,
                first_name=form.cleaned_data["first_name"],
                last_name=form.cleaned_data["last_name"],
                password=form.cleaned_data["password"],
            )
        except services.InvitationRefused as refused:  # the link went meanwhile (used, revoked)
            refusal = {"reason": str(refused)}
            return render(request, "opsduty/link_refused.html", refusal, status=410)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            login(request, user, backend="opsduty.auth.OrganizationEmailBackend")
            messages.success(request, f"Welcome to {invitation.organization.name}.")
            return redirect("home")
    status = 400 if request.method == "POST" else 200
    context: dict[str, Any] = {
        "invitation": invitation,
        "form": form,
        "password_refused": password_refused,
        "login_sections": login_sections_for(organization),
        "sign_in_who": invitation.email,
        "sign_in_next": "",
    }
    return render(request, "opsduty/invitation_accept.html", context, status=status)
