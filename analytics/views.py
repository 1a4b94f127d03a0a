"""The analytics pages: overview, by service, by escalation policy, by team, by responder, and
each table as CSV (the page's URL + `csv/`, the same query string).

Everyone signed in reads them: members their teams' data (`selectors.scope_for`), owners and
stakeholders the organization's. Bad query parameters answer 400 with the page and a message
per field. Owners set the organization's time zone on the overview.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from analytics import tasks
from analytics.forms import AnalyticsFilterForm, TimeZoneForm, filter_choices
from analytics.selectors import Filters, overview, recounting, scope_for
from analytics.services import rebuild_request
from analytics.tables import (
    DEFINITIONS,
    METRICS,
    Table,
    breakdown_table,
    chart_spec,
    csv_response,
    is_weekly,
    metric_lines,
    metrics_table,
    over_time_table,
    responders_table,
)
from opsduty.services import organization_set_time_zone
from opsduty.views.common import AuthedRequest, add_validation_error, require_owner

# (slug, title, URL name): the tabs, in order.
TABS = (
    ("overview", "Overview", "analytics_overview"),
    ("services", "By service", "analytics_services"),
    ("policies", "By escalation policy", "analytics_policies"),
    ("teams", "By team", "analytics_teams"),
    ("responders", "By responder", "analytics_responders"),
)
DIMENSIONS = {"services": "service", "policies": "policy", "teams": "team"}
ABOUT = {
    "services": "An incident counts for the service it was raised on.",
    "policies": "An incident counts for its escalation run's policy (after a reassignment, "
    "the new one), else its service's; \u201cnone\u201d: it had no policy.",
    "teams": "An incident counts for the team that owns its service.",
}


def _filter_form(request: AuthedRequest) -> AnalyticsFilterForm:
    form = AnalyticsFilterForm(
        request.GET, organization=request.organization, choices=filter_choices(request.user)
    )
    form.is_valid()
    return form


def _render(
    request: AuthedRequest,
    tab: str,
    form: AnalyticsFilterForm,
    content: dict[str, Any],
    status: int = 200,
) -> HttpResponse:
    # The tabs keep a valid query string (a bad one would only lead to more 400s), but not
    # the page of a table.
    kept = request.GET.copy()
    kept.pop("page", None)
    query = kept.urlencode() if form.filters is not None else ""
    context = {
        **content,
        "form": form,
        "tab": tab,
        "tab_title": next(title for slug, title, _ in TABS if slug == tab),
        "tabs": TABS,
        "query": f"?{query}" if query else "",
        "time_zone": request.organization.time_zone,
        "recounting": recounting(request.organization),
        "active": "analytics",
    }
    if tab in DIMENSIONS:
        context.update(
            about=ABOUT[tab],
            csv_url_name=f"analytics_{tab}_csv",
            definitions=[(column.header, DEFINITIONS[column.key]) for column in METRICS],
        )
    if form.filters is None:
        status = 400
    template = "breakdown" if tab in DIMENSIONS else tab
    return render(request, f"analytics/{template}.html", context, status=status)


def _overview_content(request: AuthedRequest, filters: Filters) -> dict[str, Any]:
    scope = scope_for(request.user)
    series = over_time_table(scope, filters)
    return {
        "metrics": metric_lines(overview(scope, filters)),
        "series": series,
        "weekly": is_weekly(filters),
        "series_chart": chart_spec(
            series, ("high", "low"), stacked=True, title=series.caption, limit=None
        ),
    }


def _overview_page(
    request: AuthedRequest, time_zone_form: TimeZoneForm | None = None, status: int = 200
) -> HttpResponse:
    form = _filter_form(request)
    content: dict[str, Any] = {}
    if form.filters is not None:
        content = _overview_content(request, form.filters)
    if request.user.is_owner:
        content["time_zone_form"] = time_zone_form or TimeZoneForm(
            initial={"time_zone": request.organization.time_zone}
        )
    return _render(request, "overview", form, content, status)


@require_GET
@login_required
def analytics_overview(request: AuthedRequest) -> HttpResponse:
    """The metrics of every incident in range, with their definitions, and incidents over
    time by urgency."""
    return _overview_page(request)


def _page_number(request: AuthedRequest) -> int:
    """What `?page=` asks for (1 unless a number; clamped by `Table.page`)."""
    raw = request.GET.get("page", "")
    return int(raw) if raw.isdigit() and len(raw) < 9 else 1


def _table_page(request: AuthedRequest, table: Table) -> dict[str, Any]:
    """The page of the table's rows that `?page=` asks for (the rows are counted in memory:
    paging them only spares drawing thousands of services)."""
    number = _page_number(request)
    shown = table.page(number)
    number = min(max(number, 1), table.page_count())
    return {
        "table": shown,
        "table_page": number,
        "table_pages": table.page_count(),
        "table_rows": len(table.rows),
    }


def _breakdown(request: AuthedRequest, tab: str, filters: Filters, *, paged: bool) -> Table:
    """The tab's table; `paged`: with the percentiles of the page shown only (not a CSV)."""
    page = _page_number(request) if paged else None
    return breakdown_table(
        request.user, scope_for(request.user), filters, DIMENSIONS[tab], page=page
    )


def _breakdown_view(tab: str) -> Callable[[AuthedRequest], HttpResponse]:
    @require_GET
    @login_required
    def view(request: AuthedRequest) -> HttpResponse:
        form = _filter_form(request)
        content: dict[str, Any] = {}
        if form.filters is not None:
            table = _breakdown(request, tab, form.filters, paged=True)
            title = f"Incidents and MTTA by {DIMENSIONS[tab]}"
            chart = chart_spec(table, ("incidents", "mtta_seconds"), stacked=False, title=title)
            content = {"chart": chart, **_table_page(request, table)}
        return _render(request, tab, form, content)

    view.__name__ = view.__qualname__ = f"analytics_{tab}"
    view.__doc__ = f"The metrics per {DIMENSIONS[tab]}, most incidents first, and a chart."
    return view


analytics_services = _breakdown_view("services")
analytics_policies = _breakdown_view("policies")
analytics_teams = _breakdown_view("teams")


@require_GET
@login_required
def analytics_responders(request: AuthedRequest) -> HttpResponse:
    """Interruptions per person (business, off and sleep hours) and their notifications."""
    form = _filter_form(request)
    content: dict[str, Any] = {}
    if form.filters is not None:
        table = responders_table(request.user, scope_for(request.user), form.filters)
        chart = chart_spec(
            table, ("business", "off", "sleep"), stacked=True, title="Interruptions by person"
        )
        content = {"chart": chart, **_table_page(request, table)}
    return _render(request, "responders", form, content)


# --- CSV -----------------------------------------------------------------------------------


def _table_of(request: AuthedRequest, tab: str, filters: Filters) -> Table:
    scope = scope_for(request.user)
    if tab == "overview":
        return metrics_table(overview(scope, filters))
    if tab == "over-time":
        return over_time_table(scope, filters)
    if tab == "responders":
        return responders_table(request.user, scope, filters)
    return _breakdown(request, tab, filters, paged=False)


def _csv_view(tab: str, page: str) -> Callable[[AuthedRequest], HttpResponse]:
    @require_GET
    @login_required
    def view(request: AuthedRequest) -> HttpResponse:
        form = _filter_form(request)
        if form.filters is None:  # the page `page`, with the messages
            if page == "overview":
                return _overview_page(request)
            return _render(request, page, form, {})
        return csv_response(_table_of(request, tab, form.filters), form.filters)

    view.__name__ = view.__qualname__ = f"analytics_{tab.replace('-', '_')}_csv"
    view.__doc__ = f"The {tab} table as CSV: numbers unformatted, durations in seconds."
    return view


analytics_overview_csv = _csv_view("overview", "overview")
analytics_over_time_csv = _csv_view("over-time", "overview")
analytics_services_csv = _csv_view("services", "services")
analytics_policies_csv = _csv_view("policies", "policies")
analytics_teams_csv = _csv_view("teams", "teams")
analytics_responders_csv = _csv_view("responders", "responders")


# --- The organization's time zone ----------------------------------------------------------


@require_POST
@login_required
def analytics_time_zone(request: AuthedRequest) -> HttpResponseBase:
    """Set the organization's time zone (owners), then recount its analytics in it."""
    require_owner(request)
    form = TimeZoneForm(request.POST)
    if form.is_valid():
        time_zone = form.cleaned_data["time_zone"]
        try:
            with transaction.atomic():
                changed = organization_set_time_zone(
                    organization=request.organization, time_zone=time_zone, by=request.user
                )
                if changed:
                    # Every incident's day moves with the zone: recounted in the background
                    # (a minute for a million incidents), never lost (a row, then a task).
                    rebuild_request(request.organization)
                    transaction.on_commit(tasks.rebuilds_run.delay, robust=True)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(
                request,
                f"The organization's time zone is {time_zone}."
                + (" The analytics are being recounted in it." if changed else ""),
            )
            return redirect("analytics_overview")
    return _overview_page(request, time_zone_form=form, status=422)
