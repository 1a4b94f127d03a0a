"""Settings -> Slack (owners): "Add to Slack" (OAuth v2) and its callback, the default channel,
thread replies, each service's channel, and uninstall. Thin: the writes are in services.py,
the reads in selectors.py; a service id in a URL is looked up in the organization."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from integrations.slack import selectors as slack_selectors
from integrations.slack.models import SlackWorkspace
from integrations.slack.setup import selectors, services
from integrations.slack.setup.forms import (
    ChannelSettingsForm,
    ServiceChannelForm,
    UninstallForm,
    service_channel_choices,
)
from opsduty.models import Service
from opsduty.navigation import SettingsPage
from opsduty.tenancy import get_for_org_or_404, scoped
from opsduty.views.common import AuthedRequest, add_validation_error, require_owner

ACTIVE = "slack_settings"
SETTINGS_PAGE = SettingsPage(label="Slack", url_name="slack_settings", active=ACTIVE)
HOME = "slack_settings"
CANCELLED = "Slack install cancelled."
STATE_REFUSED = (
    "This Slack install link is not valid: it was used already, it expired (after 10 "
    "minutes), or someone else started it. Start again with Add to Slack."
)


def _workspace(request: AuthedRequest) -> SlackWorkspace | None:
    return slack_selectors.workspace_for_organization(request.organization.pk)


def _page(
    request: AuthedRequest,
    *,
    settings_form: ChannelSettingsForm | None = None,
    service_forms: dict[int, ServiceChannelForm] | None = None,
    status: int = 200,
) -> HttpResponse:
    workspace = _workspace(request)
    context: dict[str, object] = {
        "active": ACTIVE,
        "configured": slack_selectors.slack_configured(),
        "workspace": workspace,
    }
    if workspace is not None:
        # A page re-rendered with a form's errors shows the directory as it was.
        bound = settings_form is not None or bool(service_forms)
        failure = None if bound else services.directory_refresh(workspace=workspace)
        directory = selectors.channel_list(workspace=workspace)
        page = selectors.service_page(organization=request.organization, params=request.GET)
        # A refused form is shown whichever page its service is on.
        shown = {service.pk for service in page}
        refused = [
            form_service
            for form_service in _refused_services(request, service_forms)
            if form_service.pk not in shown
        ]
        rows = []
        choices = service_channel_choices(directory)
        for row in selectors.service_channel_list(services=[*refused, *page], directory=directory):
            form = (service_forms or {}).get(row.service.pk) or ServiceChannelForm(
                workspace=workspace,
                choices=choices,
                initial={"channel": row.channel_id},
                prefix=f"service-{row.service.pk}",
            )
            rows.append({"row": row, "form": form})
        context.update(
            refresh_problem=failure.message if failure else "",
            channels=directory,
            settings_form=settings_form
            or ChannelSettingsForm(workspace=workspace, channels=directory),
            rows=rows,
            page=page,
            rate_limited_until=selectors.rate_limited_until(
                workspace=workspace, now=timezone.now()
            ),
        )
    return render(request, "integrations/slack/settings.html", context, status=status)


def _refused_services(
    request: AuthedRequest, service_forms: dict[int, ServiceChannelForm] | None
) -> list[Service]:
    if not service_forms:
        return []
    return list(scoped(Service, request.organization).filter(pk__in=list(service_forms)))


@require_GET
@login_required
def slack_settings(request: AuthedRequest) -> HttpResponse:
    """Not configured on this server, Add to Slack, or the installed workspace's settings."""
    require_owner(request)
    return _page(request)


@require_POST
@login_required
def install_start(request: AuthedRequest) -> HttpResponseBase:
    """Add to Slack: a single-use state, then Slack's consent page."""
    require_owner(request)
    if not slack_selectors.slack_configured():
        messages.error(request, "Slack is not configured on this server.")
        return redirect(HOME)
    url = services.install_start(organization=request.organization, user=request.user)
    return redirect(url)


def _install_failed(request: AuthedRequest, reason: str) -> HttpResponse:
    context = {"active": ACTIVE, "reason": reason}
    return render(request, "integrations/slack/install_failed.html", context, status=400)


@require_GET
@login_required
def oauth_callback(request: AuthedRequest) -> HttpResponseBase:
    """Where Slack sends the owner back: spend the state, then exchange the code for the bot
    token and store the workspace."""
    require_owner(request)
    claimed = services.install_state_claim(
        organization=request.organization,
        user=request.user,
        state=request.GET.get("state", "")[:200],
    )
    error = request.GET.get("error", "")
    if error:
        if error == "access_denied":
            messages.info(request, CANCELLED)
        else:
            messages.error(request, f"Slack did not install the app ({error[:100]}).")
        return redirect(HOME)
    if not claimed:
        return _install_failed(request, STATE_REFUSED)
    code = request.GET.get("code", "")
    if not code or len(code) > 500:  # noqa: PLR2004
        return _install_failed(request, "Slack sent no authorization code. Start again.")
    if not slack_selectors.slack_configured():
        return _install_failed(request, "Slack is not configured on this server.")
    try:
        workspace = services.install_complete(
            organization=request.organization, user=request.user, code=code
        )
    except services.InstallRefused as refusal:
        messages.error(request, str(refusal))
        return redirect(HOME)
    messages.success(request, f"Slack workspace {workspace} connected.")
    return redirect(HOME)


@require_POST
@login_required
def channels_refresh(request: AuthedRequest) -> HttpResponseBase:
    """List the workspace's channels from Slack now."""
    require_owner(request)
    workspace = _workspace(request)
    if workspace is None:
        return redirect(HOME)
    failure = services.directory_refresh(workspace=workspace, force=True)
    if failure is None:
        messages.success(request, "Channel list refreshed.")
    else:
        messages.error(request, f"The channel list was not refreshed: {failure.message}.")
    return redirect(HOME)


@require_POST
@login_required
def settings_update(request: AuthedRequest) -> HttpResponseBase:
    """The default channel and thread replies."""
    require_owner(request)
    workspace = _workspace(request)
    if workspace is None:
        return redirect(HOME)
    form = ChannelSettingsForm(request.POST, workspace=workspace)
    if form.is_valid():
        try:
            services.workspace_settings_update(
                workspace=workspace,
                default_channel_id=form.cleaned_data["default_channel"],
                thread_replies=form.cleaned_data["thread_replies"],
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, "Slack settings saved.")
            return redirect(HOME)
    return _page(request, settings_form=form, status=422)


@require_POST
@login_required
def service_channel_update(request: AuthedRequest, service_id: int) -> HttpResponseBase:
    """The channel one service's incidents are posted to (or the organization's default)."""
    service = get_for_org_or_404(Service, request.organization, pk=service_id)
    require_owner(request)
    workspace = _workspace(request)
    if workspace is None:
        return redirect(HOME)
    form = ServiceChannelForm(request.POST, workspace=workspace, prefix=f"service-{service.pk}")
    if form.is_valid():
        try:
            value = services.service_channel_set(
                workspace=workspace, service=service, channel_id=form.cleaned_data["channel"]
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            where = value or "the organization's default channel"
            messages.success(request, f"{service.name}: incidents are posted to {where}.")
            return redirect(HOME)
    return _page(request, service_forms={service.pk: form}, status=422)


@require_http_methods(["GET", "POST"])
@login_required
def uninstall(request: AuthedRequest) -> HttpResponseBase:
    """Confirm (GET) and uninstall (POST): the app leaves the workspace, OpsDuty forgets it."""
    require_owner(request)
    workspace = _workspace(request)
    if workspace is None:
        return redirect(HOME)
    form = UninstallForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        services.workspace_uninstall(workspace=workspace)
        messages.success(request, f"Slack workspace {workspace} disconnected.")
        return redirect(HOME)
    context = {"active": ACTIVE, "workspace": workspace, "form": form}
    status = 422 if form.is_bound else 200
    return render(request, "integrations/slack/uninstall.html", context, status=status)
