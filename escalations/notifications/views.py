"""Notification rules: your own on the profile's "Notification rules" section, where you edit
them; owners may view anyone's."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from escalations.notifications.models import MAX_DELAY_MINUTES, Channel, RuleUrgency
from escalations.notifications.rules import (
    RuleInput,
    notification_rule_list,
    notification_rules_replace,
)
from opsduty.models import User
from opsduty.views.common import AuthedRequest, is_htmx
from opsduty.views.profile import ProfileSection, profile_context

PROFILE_SECTION = ProfileSection(label="Notification rules", url_name="profile_notifications")


def notification_rules_context(
    user: User,
    errors: dict[str, list[str]] | None = None,
    rows: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """The template context of the rules section: rows per urgency, errors, choices."""
    sections = []
    for urgency in RuleUrgency:
        shown = (rows or {}).get(urgency.value)
        if shown is None:
            shown = [
                {"delay_minutes": r.delay_minutes, "channel": r.channel}
                for r in notification_rule_list(user=user, urgency=urgency.value)
            ]
        sections.append(
            {
                "urgency": urgency.value,
                "label": urgency.label,
                "rows": shown,
                "errors": (errors or {}).get(urgency.value, []),
            }
        )
    return {
        "rules_user": user,
        "rule_sections": sections,
        "channels": Channel.choices,
        "max_delay": MAX_DELAY_MINUTES,
    }


def _parse(request: HttpRequest) -> tuple[list[dict[str, Any]], list[RuleInput], list[str]]:
    """Rows from the form (blank rows and rows marked remove are dropped) and parse errors."""
    delays = request.POST.getlist("delay_minutes")
    channels = request.POST.getlist("channel")
    removed = set(request.POST.getlist("remove"))
    rows: list[dict[str, Any]] = []
    rules: list[RuleInput] = []
    errors: list[str] = []
    for index, (delay, channel) in enumerate(zip(delays, channels, strict=False)):
        if str(index) in removed or (not delay.strip() and not channel):
            continue
        rows.append({"delay_minutes": delay, "channel": channel})
        try:
            minutes = int(delay.strip())
        except ValueError:
            errors.append(f"Rule {len(rows)}: the delay must be a whole number of minutes.")
            continue
        rules.append(RuleInput(minutes, channel))
    return rows, rules, errors


def _render(request: AuthedRequest, user: User, status: int, **extra: Any) -> HttpResponse:
    context = notification_rules_context(user, **extra)
    if is_htmx(request):
        return render(request, "escalations/_notification_rules.html", context, status=status)
    context = profile_context(PROFILE_SECTION.url_name, **context)
    return render(request, "escalations/profile_notifications.html", context, status=status)


@require_GET
@login_required
def profile_notifications(request: AuthedRequest) -> HttpResponse:
    """The profile's "Notification rules" section: the signed-in user's rules, editable."""
    return _render(request, request.user, 200)


@require_POST
@login_required
def notification_rules_update(request: AuthedRequest) -> HttpResponseBase:
    """Replace the signed-in user's rules for one urgency; 422 with the errors if invalid."""
    urgency = request.POST.get("urgency", "")
    rows, rules, errors = _parse(request)
    if not errors:
        try:
            notification_rules_replace(user=request.user, urgency=urgency, rules=rules)
        except ValidationError as error:
            errors = list(error.messages)
    if errors:
        return _render(request, request.user, 422, errors={urgency: errors}, rows={urgency: rows})
    messages.success(request, f"{urgency.capitalize()} urgency notification rules saved.")
    if is_htmx(request):
        return _render(request, request.user, 200)
    return redirect(PROFILE_SECTION.url_name)


@require_GET
@login_required
def user_notification_rules(request: AuthedRequest, user_id: int) -> HttpResponse:
    """Someone's rules, read-only: owners see anyone in their organization, others themselves."""
    user = get_object_or_404(User.objects.for_org(request.organization), pk=user_id)
    if user.pk != request.user.pk and not request.user.is_owner:
        raise PermissionDenied("Only owners can see other people's notification rules.")
    context = notification_rules_context(user)
    context.update(active="members", read_only=user.pk != request.user.pk)
    return render(request, "escalations/notification_rules.html", context)
