"""Teams: the list (everyone), create and delete (owners), members (team managers)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from opsduty import selectors, services
from opsduty.forms import TeamAddMemberForm, TeamCreateForm
from opsduty.models import Team, User
from opsduty.tenancy import get_for_org_or_404
from opsduty.views.common import AuthedRequest, add_validation_error, is_htmx, require_owner


def _list_page(request: AuthedRequest, form: TeamCreateForm | None) -> HttpResponse:
    teams = selectors.team_list(organization=request.organization)
    context = {"teams": teams, "form": form, "active": "teams"}
    return render(request, "opsduty/teams.html", context)


@require_GET
@login_required
def team_list(request: AuthedRequest) -> HttpResponse:
    """All teams of the organization with member counts; owners also get the create form."""
    form = TeamCreateForm(organization=request.organization) if request.user.is_owner else None
    return _list_page(request, form)


@require_POST
@login_required
def team_create(request: AuthedRequest) -> HttpResponseBase:
    """Create a team (owners); a duplicate name is shown on the form."""
    require_owner(request)
    form = TeamCreateForm(request.POST, organization=request.organization)
    if form.is_valid():
        try:
            team = services.team_create(
                organization=request.organization, name=form.cleaned_data["name"], by=request.user
            )
        except ValidationError as error:
            add_validation_error(form, error)
        except IntegrityError:
            # Someone created the same name between our check and the insert.
            form.add_error("name", "A team with this name already exists.")
        else:
            messages.success(request, f"Team “{team.name}” created.")
            return redirect("team_detail", team_id=team.pk)
    return _list_page(request, form)


def _members_context(
    request: AuthedRequest, team: Team, add_form: TeamAddMemberForm | None = None
) -> dict[str, Any]:
    can_manage = services.can_manage_team(request.user, team)
    if add_form is None and can_manage:
        add_form = TeamAddMemberForm(team=team)
    return {
        "team": team,
        "members": selectors.team_members(team=team),
        "can_manage": can_manage,
        "can_delete": request.user.is_owner,
        "add_form": add_form,
    }


def _members_response(
    request: AuthedRequest, team: Team, add_form: TeamAddMemberForm | None = None
) -> HttpResponseBase:
    """htmx: the members section (and messages out of band); otherwise back to the team page."""
    if not is_htmx(request):
        return redirect("team_detail", team_id=team.pk)
    context = {**_members_context(request, team, add_form), "swap": True}
    return render(request, "opsduty/_team_members.html", context)


@require_GET
@login_required
def team_detail(request: AuthedRequest, team_id: int) -> HttpResponse:
    """One team with its members; managers get add/remove controls."""
    team = get_for_org_or_404(Team, request.organization, pk=team_id)
    context = {**_members_context(request, team), "active": "teams"}
    return render(request, "opsduty/team_detail.html", context)


@require_POST
@login_required
def team_add_member(request: AuthedRequest, team_id: int) -> HttpResponseBase:
    """Add one of the organization's users to the team (owners, members of the team)."""
    team = get_for_org_or_404(Team, request.organization, pk=team_id)
    if not services.can_manage_team(request.user, team):
        raise PermissionDenied("You cannot manage this team.")
    form = TeamAddMemberForm(request.POST, team=team)
    if not form.is_valid():
        messages.error(request, "Choose a person of this organization who is not in the team.")
        return _members_response(request, team, form if is_htmx(request) else None)
    user: User = form.cleaned_data["user"]
    services.team_add_member(team=team, user=user, by=request.user)
    messages.success(request, f"{user.get_full_name()} added to {team.name}.")
    return _members_response(request, team)


@require_POST
@login_required
def team_remove_member(request: AuthedRequest, team_id: int, user_id: int) -> HttpResponseBase:
    """Remove a user from the team (owners, members of the team)."""
    team = get_for_org_or_404(Team, request.organization, pk=team_id)
    user = get_for_org_or_404(User, request.organization, pk=user_id)
    services.team_remove_member(team=team, user=user, by=request.user)
    messages.success(request, f"{user.get_full_name()} removed from {team.name}.")
    if user.pk == request.user.pk and not services.can_manage_team(request.user, team):
        # Members who leave a team lose its controls: show the read-only page.
        if is_htmx(request):
            response = HttpResponse(status=204)
            response["HX-Refresh"] = "true"
            return response
        return redirect("team_detail", team_id=team.pk)
    return _members_response(request, team)


@require_http_methods(["GET", "POST"])
@login_required
def team_delete(request: AuthedRequest, team_id: int) -> HttpResponseBase:
    """Confirm (GET) and delete (POST) a team (owners)."""
    team = get_for_org_or_404(Team, request.organization, pk=team_id)
    require_owner(request)
    if request.method == "POST":
        name = team.name
        try:
            services.team_delete(team=team, by=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            context = {"team": team, "member_count": team.memberships.count(), "active": "teams"}
            return render(request, "opsduty/team_confirm_delete.html", context, status=422)
        messages.success(request, f"Team “{name}” deleted.")
        return redirect("teams")
    context = {"team": team, "member_count": team.memberships.count(), "active": "teams"}
    return render(request, "opsduty/team_confirm_delete.html", context)
