"""The organization's people: everyone sees the list, owners change roles."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from opsduty import selectors, services
from opsduty.forms import InvitationForm, RoleForm
from opsduty.models import Role, User
from opsduty.paging import page_of
from opsduty.tenancy import get_for_org_or_404
from opsduty.views.common import AuthedRequest, action_reported, is_htmx, require_owner


def members_page(
    request: AuthedRequest, *, invite_form: InvitationForm | None = None, status: int = 200
) -> HttpResponse:
    """The members page; owners also get the invitation form and the invitations waiting."""
    users = page_of(
        selectors.user_list(organization=request.organization).prefetch_related("teams"),
        request.GET,
        ordering=("id",),
    )
    context = {"users": users, "roles": Role.choices, "active": "members"}
    if request.user.is_owner:
        context["invite_form"] = invite_form or InvitationForm(organization=request.organization)
        context["invitations"] = selectors.invitation_waiting_list(
            organization=request.organization
        )
    return render(request, "opsduty/members.html", context, status=status)


@require_GET
@login_required
def member_list(request: AuthedRequest) -> HttpResponse:
    """Every user of the organization, oldest first, with role and teams, 50 a page."""
    return members_page(request)


@require_POST
@login_required
def member_set_role(request: AuthedRequest, user_id: int) -> HttpResponse:
    """Change one user's role (owners); htmx gets the updated row, others a redirect."""
    target = get_for_org_or_404(User, request.organization, pk=user_id)
    require_owner(request)
    form = RoleForm(request.POST)
    changed = False
    if not form.is_valid():
        messages.error(request, "Choose one of the roles owner, member or stakeholder.")
    else:
        try:
            services.user_set_role(user=target, role=form.cleaned_data["role"], by=request.user)
        except ValidationError as error:
            target.refresh_from_db()
            messages.error(request, " ".join(error.messages))
        else:
            changed = True
            messages.success(
                request, f"{target.get_full_name()} is now {target.get_role_display()}."
            )
    if not is_htmx(request):
        return redirect("members")
    if changed and target.pk == request.user.pk:
        # Owners who demote themselves lose the controls on every row: reload the whole page.
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    users = selectors.user_list(organization=request.organization).prefetch_related("teams")
    context = {"u": users.get(pk=target.pk), "roles": Role.choices, "swap": True}
    return render(request, "opsduty/_member_row.html", context)


_ACTIONS = {
    "deactivate": (
        services.user_deactivate,
        "Deactivate",
        "{name} can no longer sign in, use an API token or be paged. Their account, teams and"
        " duties stay; reactivate them to undo it.",
        "{name} is deactivated.",
    ),
    "delete": (
        services.user_delete,
        "Delete",
        "{name}'s name, address, phone, password, teams, notification rules, calendar feeds,"
        " tokens and links are removed for good. Incidents and timelines keep naming"
        " “a deleted user”. This cannot be undone.",
        "{name} is deleted.",
    ),
}


def _member_removal(action: str) -> Callable[[AuthedRequest, int], HttpResponse]:
    @require_http_methods(["GET", "POST"])
    @login_required
    def view(request: AuthedRequest, user_id: int) -> HttpResponse:
        target = get_for_org_or_404(User, request.organization, pk=user_id)
        require_owner(request)
        perform, verb, consequence, done = _ACTIONS[action]
        name = target.get_full_name()
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            run = partial(perform, user=target, by=request.user)
            return action_reported(request, run, done.format(name=name), "members")
        context = {
            "target": target,
            "verb": verb,
            "consequence": consequence.format(name=name),
            "duties": services.user_duties(target),
            "active": "members",
        }
        return render(request, "opsduty/member_confirm.html", context)

    view.__name__ = view.__qualname__ = f"member_{action}"
    view.__doc__ = f"{_ACTIONS[action][1]} a person (owners), after a page that warns where."
    return view


member_deactivate = _member_removal("deactivate")
member_delete = _member_removal("delete")


@require_POST
@login_required
def member_reactivate(request: AuthedRequest, user_id: int) -> HttpResponse:
    """Let a deactivated person sign in and be paged again (owners)."""
    target = get_for_org_or_404(User, request.organization, pk=user_id)
    require_owner(request)
    action = partial(services.user_reactivate, user=target, by=request.user)
    return action_reported(request, action, f"{target.get_full_name()} is active again.", "members")
