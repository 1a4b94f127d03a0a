"""Notices (status-page incidents) and planned maintenance: declare, publish a draft, post
updates (now or scheduled), resolve; each notice's timeline; its postmortem (write, preview,
start from the generated draft, publish, unpublish). Markdown is rendered on the server by
statuspages/markdown.py (sanitized)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from incidents.models import Incident
from incidents.selectors import incident_list
from opsduty.views.common import AuthedRequest, add_validation_error, is_htmx
from statuspages import selectors, services
from statuspages.forms import (
    MaintenanceForm,
    NoticeForm,
    PostmortemForm,
    ResolveForm,
    UpdateForm,
)
from statuspages.markdown import markdown_html
from statuspages.models import Notice, NoticeStatus
from statuspages.views.common import ACTIVE, form_errors, render_form, require_manage

RESOLVED_TEXT = "This incident has been resolved."
COMPLETED_TEXT = "The scheduled maintenance is completed."


def _to_notice(notice: Notice) -> HttpResponseBase:
    return redirect("notice_detail", notice_id=notice.pk)


def _incident(request: AuthedRequest, form: NoticeForm) -> Incident | None:
    """The operational incident the form names by number (one the person can see)."""
    number = form.cleaned_data.get("incident")
    if not number:
        return None
    incident = incident_list(user=request.user).filter(number=number).first()
    if incident is None:
        form.add_error("incident", f"There is no incident #{number} that you can see.")
    return incident


@require_http_methods(["GET", "POST"])
@login_required
def notice_declare(request: AuthedRequest, status_page_id: int) -> HttpResponseBase:
    """Tell customers about a problem: published now, or a draft only the team sees."""
    page = selectors.status_page_get(user=request.user, page_id=status_page_id)
    require_manage(request, page)
    form = NoticeForm(request.POST or None, page=page)
    if request.method == "POST" and form.is_valid():
        incident = _incident(request, form)
        data = form.cleaned_data
        if not form.errors:
            try:
                notice = services.notice_declare(
                    page=page,
                    by=request.user,
                    title=data["title"],
                    status=data["status"],
                    impact=data["impact"],
                    body=data["body"],
                    component_ids=[c.pk for c in data["components"]],
                    incident=incident,
                    sync_component_status=data["sync_component_status"],
                    published=data["publish"] == "now",
                )
            except ValidationError as error:
                add_validation_error(form, error)
            else:
                done = "published" if not notice.draft else "saved as a draft"
                messages.success(request, f"“{notice.title}” {done}.")
                return _to_notice(notice)
    return render_form(request, "statuspages/notice_form.html", form, page=page)


@require_http_methods(["GET", "POST"])
@login_required
def maintenance_schedule(request: AuthedRequest, status_page_id: int) -> HttpResponseBase:
    """Announce planned maintenance: it starts and completes by itself at its times, its
    components shown under maintenance meanwhile."""
    page = selectors.status_page_get(user=request.user, page_id=status_page_id)
    require_manage(request, page)
    form = MaintenanceForm(request.POST or None, page=page)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            notice = services.notice_declare(
                page=page,
                by=request.user,
                title=data["title"],
                status=NoticeStatus.SCHEDULED,
                impact="maintenance",
                body=data["body"],
                component_ids=[c.pk for c in data["components"]],
                sync_component_status=True,
                scheduled_start=data["scheduled_start"],
                scheduled_end=data["scheduled_end"],
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, f"Maintenance “{notice.title}” scheduled.")
            return _to_notice(notice)
    return render_form(request, "statuspages/maintenance_form.html", form, page=page)


def _notice_context(request: AuthedRequest, notice: Notice, **forms: Any) -> dict[str, Any]:
    updates = list(selectors.notice_update_list(notice=notice))
    for update in updates:
        update.html = markdown_html(update.body)  # type: ignore[attr-defined]
    components = list(notice.components.order_by("group__order", "position", "pk"))
    return {
        "notice": notice,
        "page": notice.status_page,
        "updates": updates,
        "components": components,
        "postmortem": selectors.postmortem_get(notice=notice),
        "incident": Incident.objects.filter(pk=notice.incident_id).first()
        if notice.incident_id
        else None,
        "can_manage": selectors.can_manage_page(request.user, notice.status_page),
        "update_form": forms.get("update_form") or UpdateForm(),
        "resolve_form": forms.get("resolve_form")
        or ResolveForm(initial={"body": COMPLETED_TEXT if notice.planned else RESOLVED_TEXT}),
        "active": ACTIVE,
    }


def _render_notice(
    request: AuthedRequest, notice: Notice, status: int = 200, **forms: Any
) -> HttpResponse:
    context = _notice_context(request, notice, **forms)
    return render(request, "statuspages/notice_detail.html", context, status=status)


@require_GET
@login_required
def notice_detail(request: AuthedRequest, notice_id: int) -> HttpResponse:
    """A notice and its timeline (scheduled updates marked as waiting)."""
    return _render_notice(request, selectors.notice_get(user=request.user, notice_id=notice_id))


@require_POST
@login_required
def notice_publish(request: AuthedRequest, notice_id: int) -> HttpResponseBase:
    """Put a draft on the page, dated from now."""
    notice = selectors.notice_get(user=request.user, notice_id=notice_id)
    require_manage(request, notice.status_page)
    services.notice_publish(notice=notice, by=request.user)
    messages.success(request, f"“{notice.title}” published.")
    return _to_notice(notice)


def _post(
    request: AuthedRequest, notice: Notice, form: UpdateForm | ResolveForm, key: str, **kw: Any
) -> HttpResponseBase | None:
    """Post the update through the service; None when refused (errors on the form)."""
    try:
        update = services.notice_update_post(
            notice=notice, by=request.user, body=form.cleaned_data["body"], **kw
        )
    except ValidationError as error:
        add_validation_error(form, error)
        messages.error(request, form_errors(form))
        return None
    if update.visible:
        messages.success(request, "Update posted.")
    else:
        when = update.display_at.strftime("%Y-%m-%d %H:%M UTC") if update.display_at else ""
        messages.success(request, f"Update scheduled for {when}; not visible until then.")
    return _to_notice(notice)


@require_POST
@login_required
def notice_update_post(request: AuthedRequest, notice_id: int) -> HttpResponseBase:
    """Post an update, optionally moving the notice to a new status, now or at a time."""
    notice = selectors.notice_get(user=request.user, notice_id=notice_id)
    require_manage(request, notice.status_page)
    form = UpdateForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        done = _post(
            request, notice, form, "update_form",
            status=data["status"] or None, display_at=data["display_at"],
        )  # fmt: skip
        if done is not None:
            return done
    else:
        messages.error(request, form_errors(form))
    return _render_notice(request, notice, status=422, update_form=form)


@require_POST
@login_required
def notice_resolve(request: AuthedRequest, notice_id: int) -> HttpResponseBase:
    """Close the notice (resolved; planned work: completed) with a last message."""
    notice = selectors.notice_get(user=request.user, notice_id=notice_id)
    require_manage(request, notice.status_page)
    form = ResolveForm(request.POST)
    if form.is_valid():
        closed = NoticeStatus.COMPLETED if notice.planned else NoticeStatus.RESOLVED
        done = _post(request, notice, form, "resolve_form", status=closed)
        if done is not None:
            return done
    else:
        messages.error(request, form_errors(form))
    return _render_notice(request, notice, status=422, resolve_form=form)


# Postmortems


def _postmortem_context(
    request: AuthedRequest, notice: Notice, form: PostmortemForm, preview: str | None = None
) -> dict[str, Any]:
    return {
        "notice": notice,
        "page": notice.status_page,
        "postmortem": selectors.postmortem_get(notice=notice),
        "form": form,
        "preview": markdown_html(preview) if preview is not None else None,
        "active": ACTIVE,
    }


@require_http_methods(["GET", "POST"])
@login_required
def postmortem_edit(request: AuthedRequest, notice_id: int) -> HttpResponseBase:
    """The editor: GET shows the saved text (`?draft=1`: the generated draft instead); POST
    saves it, publishing or unpublishing by the button pressed."""
    notice = selectors.notice_get(user=request.user, notice_id=notice_id)
    require_manage(request, notice.status_page)
    postmortem = selectors.postmortem_get(notice=notice)
    if request.method == "GET":
        if request.GET.get("draft"):
            body = selectors.postmortem_draft(notice=notice)
        else:
            body = postmortem.body if postmortem else ""
        form = PostmortemForm(initial={"body": body})
        context = _postmortem_context(request, notice, form)
        return render(request, "statuspages/postmortem_form.html", context)
    form = PostmortemForm(request.POST)
    if form.is_valid():
        action = form.cleaned_data["action"] or "save"
        published = {"publish": True, "unpublish": False}.get(
            action, bool(postmortem and postmortem.published)
        )
        try:
            services.postmortem_write(
                notice=notice, by=request.user, body=form.cleaned_data["body"], published=published
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            done = {"publish": "published", "unpublish": "unpublished"}.get(action, "saved")
            messages.success(request, f"Postmortem {done}.")
            return redirect("postmortem_edit", notice_id=notice.pk)
    context = _postmortem_context(request, notice, form)
    return render(request, "statuspages/postmortem_form.html", context, status=422)


@require_POST
@login_required
def postmortem_preview(request: AuthedRequest, notice_id: int) -> HttpResponse:
    """The typed Markdown rendered as customers will see it (nothing saved): the fragment for
    htmx, the whole editor without it."""
    notice = selectors.notice_get(user=request.user, notice_id=notice_id)
    require_manage(request, notice.status_page)
    form = PostmortemForm(request.POST)
    if not form.is_valid():
        context = _postmortem_context(request, notice, form)
        template = (
            "statuspages/_preview.html" if is_htmx(request) else "statuspages/postmortem_form.html"
        )
        return render(request, template, context, status=422)
    context = _postmortem_context(request, notice, form, preview=form.cleaned_data["body"])
    if is_htmx(request):
        return render(request, "statuspages/_preview.html", context)
    return render(request, "statuspages/postmortem_form.html", context)
