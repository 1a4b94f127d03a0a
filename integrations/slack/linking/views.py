"""Profile, Slack (whether you are linked, and unlinking) and the page of the one-time link
that `/opsduty account link` gives in Slack: open it signed in, confirm, and that Slack user
is you here (services.py)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from integrations.slack import selectors
from integrations.slack.linking import services
from integrations.slack.models import SlackUserLink
from opsduty.views.common import AuthedRequest
from opsduty.views.profile import ProfileSection, profile_context

PROFILE_SECTION = ProfileSection(label="Slack", url_name="profile_slack")


@require_GET
@login_required
def profile_slack(request: AuthedRequest) -> HttpResponse:
    """Linked or not (workspace, Slack user, since), how to link, and the Unlink button."""
    link = (
        SlackUserLink.objects.select_related("workspace")
        .filter(user=request.user, organization_id=request.organization.pk)
        .first()
    )
    context = profile_context(
        PROFILE_SECTION.url_name,
        workspace=selectors.workspace_for_organization(request.organization.pk),
        link=link,
    )
    return render(request, "integrations/slack/profile_slack.html", context)


@require_POST
@login_required
def profile_slack_unlink(request: AuthedRequest) -> HttpResponseBase:
    """Unbind the person's Slack user (Slack DMs and commands stop knowing them)."""
    link = services.user_unlink(user=request.user)
    if link is None:
        messages.info(request, "Your account was not linked to a Slack user.")
    else:
        messages.success(
            request,
            f"Unlinked from Slack user {link.slack_name or link.slack_user_id}: Slack no longer "
            "knows you as this account.",
        )
    return redirect(PROFILE_SECTION.url_name)


def _refused(request: AuthedRequest, refusal: services.LinkRefused) -> HttpResponse:
    context = {"title": refusal.title, "message": refusal.message, "active": "profile"}
    return render(request, "integrations/slack/link_refused.html", context, status=refusal.status)


@require_http_methods(["GET", "POST"])
@login_required
def slack_link(request: AuthedRequest, token: str) -> HttpResponseBase:
    """GET: "link Slack user @name of workspace X to <you>?"; POST: confirm (single use)."""
    if request.method == "POST":
        try:
            linked = services.link_confirm(token=token, user=request.user)
        except services.LinkRefused as refusal:
            return _refused(request, refusal)
        link = linked.link
        text = (
            f"Linked: Slack user @{link.slack_name or link.slack_user_id} of workspace "
            f"{link.workspace} is now {request.user.email} in OpsDuty."
        )
        if linked.moved_from is not None:
            text += (
                f" It was linked to {linked.moved_from.get_full_name() or linked.moved_from.email}"
                " before; that account is no longer linked."
            )
        messages.success(request, text)
        return redirect(PROFILE_SECTION.url_name)
    try:
        link_request = services.link_request_check(token=token, user=request.user)
    except services.LinkRefused as refusal:
        return _refused(request, refusal)
    links = SlackUserLink.objects.select_related("user", "workspace")
    context = {
        "link_request": link_request,
        "token": token,
        # What confirming replaces: the person's own link, the Slack user's link to another.
        "current": links.filter(user=request.user).first(),
        "taken_by": links.filter(
            workspace=link_request.workspace, slack_user_id=link_request.slack_user_id
        )
        .exclude(user=request.user)
        .first(),
        "active": "profile",
    }
    return render(request, "integrations/slack/link.html", context)
