"""The analytics pages on incidents and notifications made through the services: each tab shows
the selectors' numbers (and its chart the same ones), filters and ranges change them, bad
parameters answer 400 with a message per field, members see their teams' data only,
stakeholders and owners everything, the CSV of every table holds the table's numbers; the
organization's time zone (owners) and the person's (profile)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client

from analytics import tasks
from analytics.selectors import Filters, breakdown, overview, responder_load, scope_for
from analytics.services import responder_notified
from analytics.tables import duration_text, metric_lines
from escalations.catalog import services as catalog
from escalations.policies.services import policy_create, policy_delete
from incidents import services as incident_services
from incidents.models import Incident
from opsduty.models import Organization, Service, Team, User
from tests import factories
from tests.analytics.pages import PageRead, read_csv, read_page
from tests.conftest import session_client_for

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)  # "today" of the pages: Thursday 2026-03-05
WEEK = Filters(start=date(2026, 2, 27), end=date(2026, 3, 5))  # range=7 on NOW
MONTH = Filters(start=date(2026, 2, 4), end=date(2026, 3, 5))  # range=30
TABS = ["/analytics/", "/analytics/services/", "/analytics/policies/", "/analytics/teams/"]
TABS += ["/analytics/responders/"]


@dataclass
class World:
    payments: Team  # the member's team
    platform: Team
    checkout: Service  # Payments'
    elsewhere: Service  # Platform's


def _at(at: datetime, action: Any, **kwargs: Any) -> Any:
    with time_machine.travel(at, tick=False):
        return action(**kwargs)


def _open(service: Service, at: datetime, **event: Any) -> Incident:
    with time_machine.travel(at, tick=False):
        return factories.make_incident(service=service, **event)


@pytest.fixture
def world(org_a: Organization, owner: User, member: User) -> World:
    """In range=7: a high incident acknowledged after 4 min 12 s and resolved, a low one
    labelled "db" resolved by the system, both on Checkout (the member's team), and an open
    one on Elsewhere; 20 days before, another on Checkout. Notifications to the member
    (business hours twice within 60 s, then sleep hours) and to the owner (a Sunday)."""
    payments = factories.make_team(organization=org_a, name="Payments")
    platform = factories.make_team(organization=org_a, name="Platform")
    factories.add_member(payments, member)
    checkout = catalog.service_create(team=payments, by=None, name="Checkout")
    elsewhere = catalog.service_create(team=platform, by=None, name="Elsewhere")
    high = _open(checkout, T0)
    _at(
        T0 + timedelta(seconds=252),
        incident_services.incident_acknowledge,
        incident=high,
        by=member,
    )
    _at(T0 + timedelta(minutes=30), incident_services.incident_resolve, incident=high, by=member)
    low = _open(checkout, T0 + timedelta(days=1), urgency="low", labels=["db"])
    _at(
        T0 + timedelta(days=1, minutes=10),
        incident_services.incident_resolve,
        incident=low,
        by=None,
    )
    _open(elsewhere, T0 + timedelta(days=2))
    _open(checkout, T0 - timedelta(days=20))
    for at in (T0, T0 + timedelta(seconds=30), datetime(2026, 3, 3, 23, 0, tzinfo=UTC)):
        responder_notified(organization_id=org_a.pk, user_id=member.pk, at=at)
    responder_notified(
        organization_id=org_a.pk, user_id=owner.pk, at=datetime(2026, 3, 1, 14, 0, tzinfo=UTC)
    )
    return World(payments, platform, checkout, elsewhere)


@pytest.fixture(autouse=True)
def _today() -> Iterator[None]:
    """The pages run on NOW (the presets count back from the organization's today)."""
    with time_machine.travel(NOW, tick=False):
        yield


def _page(client: Client, url: str, status: int = 200) -> PageRead:
    page = read_page(client, url)
    assert page.status == status, page.html[:3000]
    return page


def _metrics_shown(page: PageRead) -> dict[str, tuple[str, str]]:
    table = page.tables["table-overview"]
    return {
        key: (row[1].text, row[1].value or "")
        for key, row in zip(table.keys, table.rows, strict=True)
    }


def _metrics_expected(user: User, filters: Filters) -> dict[str, tuple[str, str]]:
    lines = metric_lines(overview(scope_for(user), filters))
    return {line.key: (line.text, "" if line.value is None else str(line.value)) for line in lines}


# --- Overview ------------------------------------------------------------------------------


def test_overview_shows_the_selectors_metrics_with_their_definitions(
    world: World, owner: User, owner_client: Client
) -> None:
    page = _page(owner_client, "/analytics/?range=7")
    shown = _metrics_shown(page)
    assert shown == _metrics_expected(owner, WEEK)
    assert shown["incidents"] == ("3", "3")
    assert shown["acknowledged"] == ("1", "1")
    assert shown["mtta_seconds"] == ("4 min 12 s", "252.0")
    assert shown["mttr_seconds"][1] == str((1800.0 + 600.0) / 2)
    assert (shown["open"], shown["auto_resolved"]) == (("1", "1"), ("1", "1"))
    assert shown["ack_rate"][0] == "33.3 %"
    definitions = page.tables["table-overview"].column("Definition")
    assert any("first acknowledgement by a person" in text for text in definitions)
    assert len(definitions) == 17 and all(definitions)


def _checked_range(html: str) -> list[str]:
    return re.findall(r'name="range" value="(\w+)"[^>]*\bchecked\b', html)


def test_the_default_range_is_30_days(world: World, owner: User, owner_client: Client) -> None:
    page = _page(owner_client, "/analytics/")
    assert _metrics_shown(page) == _metrics_expected(owner, MONTH)
    assert _metrics_shown(page)["incidents"] == ("4", "4")
    assert _checked_range(page.html) == ["30"]


def test_incidents_over_time_in_days_with_empty_days_as_zero_and_the_chart_equal(
    world: World, owner_client: Client
) -> None:
    page = _page(owner_client, "/analytics/?range=7")
    table = page.tables["table-over-time"]
    assert table.headers == ["Day", "High", "Low", "Total"]
    assert table.values() == [
        ["2026-02-27", "0", "0", "0"],
        ["2026-02-28", "0", "0", "0"],
        ["2026-03-01", "0", "0", "0"],
        ["2026-03-02", "1", "0", "1"],
        ["2026-03-03", "0", "1", "1"],
        ["2026-03-04", "1", "0", "1"],
        ["2026-03-05", "0", "0", "0"],
    ]
    chart = page.charts["chart-over-time"]
    assert chart["stacked"] is True
    assert chart["labels"] == [row[0] for row in table.values()]
    assert [d["label"] for d in chart["datasets"]] == ["High", "Low"]
    assert chart["datasets"][0]["data"] == [int(row[1]) for row in table.values()]
    assert chart["datasets"][1]["data"] == [int(row[2]) for row in table.values()]
    assert 'role="img"' in page.html and 'aria-label="New incidents per day by urgency' in page.html


def test_ranges_beyond_a_month_count_weeks_from_monday(world: World, owner_client: Client) -> None:
    page = _page(owner_client, "/analytics/?range=90")
    table = page.tables["table-over-time"]
    assert table.headers[0] == "Week from"
    weeks = [date.fromisoformat(row[0]) for row in table.values()]
    assert all(week.weekday() == 0 for week in weeks)
    assert len(weeks) == 14  # 2025-12-06 .. 2026-03-05, from the Monday of the first week
    counts = {row[0]: row[1:] for row in table.values()}
    assert counts["2026-03-02"] == ["2", "1", "3"]
    assert counts["2026-02-09"] == ["1", "0", "1"]
    assert "Monday to Sunday" in page.html


def test_a_custom_range_picks_its_days(world: World, owner_client: Client) -> None:
    page = _page(owner_client, "/analytics/?range=custom&start=2026-02-10&end=2026-02-10")
    assert _metrics_shown(page)["incidents"] == ("1", "1")
    assert page.tables["table-over-time"].values() == [["2026-02-10", "1", "0", "1"]]


@pytest.mark.parametrize(
    ("query", "incidents", "filters"),
    [
        ("urgency=low", 1, {"urgency": "low"}),
        ("urgency=high", 2, {"urgency": "high"}),
        ("label=db", 1, {"label": "db"}),
        ("service={elsewhere}", 1, {"service_id": "elsewhere"}),
        ("team={payments}", 2, {"team_id": "payments"}),
        ("team={platform}&urgency=low", 0, {"team_id": "platform", "urgency": "low"}),
    ],
)
def test_filters_change_the_numbers(
    world: World,
    owner: User,
    owner_client: Client,
    query: str,
    incidents: int,
    filters: dict[str, Any],
) -> None:
    ids = {"elsewhere": world.elsewhere.pk, "payments": world.payments.pk}
    ids["platform"] = world.platform.pk
    chosen = {k: ids.get(v, v) for k, v in filters.items()}
    expected = Filters(start=WEEK.start, end=WEEK.end, **chosen)
    page = _page(owner_client, "/analytics/?range=7&" + query.format(**ids))
    assert _metrics_shown(page) == _metrics_expected(owner, expected)
    assert _metrics_shown(page)["incidents"] == (str(incidents), str(incidents))
    totals = [int(row[3]) for row in page.tables["table-over-time"].values()]
    assert sum(totals) == incidents


# --- Breakdowns and responders -------------------------------------------------------------


@pytest.mark.parametrize(
    ("tab", "dimension"), [("services", "service"), ("policies", "policy"), ("teams", "team")]
)
def test_each_breakdown_shows_the_selectors_numbers_and_its_chart_the_same(
    world: World, owner: User, owner_client: Client, tab: str, dimension: str
) -> None:
    page = _page(owner_client, f"/analytics/{tab}/?range=7")
    table = page.tables[f"table-{tab}"]
    groups = breakdown(scope_for(owner), WEEK, dimension)
    assert len(table.rows) == len(groups)
    incidents = [int(value) for value in table.column("Incidents")]
    assert incidents == sorted(incidents, reverse=True)
    assert sum(incidents) == 3
    chart = page.charts["chart-breakdown"]
    assert chart["labels"] == [row[0].text for row in table.rows][:20]
    assert chart["datasets"][0]["data"] == incidents[:20]
    mtta = [row[1 + 5].value for row in table.rows]  # the MTTA column's data-value
    assert [str(v) if v is not None else "" for v in chart["datasets"][1]["data"]] == mtta[:20]


def test_the_service_breakdown_names_and_links_each_service(
    world: World, owner: User, owner_client: Client
) -> None:
    table = _page(owner_client, "/analytics/services/?range=7").tables["table-services"]
    rows = {row[0].text: row for row in table.rows}
    assert set(rows) == {"Checkout", "Elsewhere"}
    assert rows["Checkout"][0].href == f"/services/{world.checkout.pk}/"
    checkout = breakdown(scope_for(owner), WEEK, "service")[world.checkout.pk]
    assert [cell.text for cell in rows["Checkout"][1:6]] == ["2", "1", "1", "50.0 %", "50.0 %"]
    assert rows["Checkout"][6].text == duration_text(checkout.mtta) == "4 min 12 s"


def test_every_page_of_a_long_breakdown_shows_its_rows_percentiles(
    org_a: Organization, owner: User, owner_client: Client
) -> None:
    """52 services, the k-th's incident acknowledged after k minutes: a tab of two pages,
    which reads the histograms of the page it shows only; each page's p50 and p95 are the
    selector's, worked out over all the services at once."""
    team = factories.make_team(organization=org_a, name="Many")
    for k in range(1, 53):
        service = catalog.service_create(team=team, by=None, name=f"Service {k:02d}")
        for _ in range(k % 3 + 1):  # 1 to 3 incidents: the order is not the names'
            incident = _open(service, T0)
            _at(
                T0 + timedelta(minutes=k),
                incident_services.incident_acknowledge,
                incident=incident,
                by=owner,
            )
    expected = breakdown(scope_for(owner), WEEK, "service")
    shown: dict[str, list[str | None]] = {}
    for number in (1, 2):
        page = _page(owner_client, f"/analytics/services/?range=7&page={number}")
        table = page.tables["table-services"]
        assert len(table.rows) == (50 if number == 1 else 2)
        for row in table.rows:
            shown[row[0].text] = [row[1 + 6].value, row[1 + 7].value]  # MTTA p50, p95
    names = dict(Service.objects.filter(organization=org_a).values_list("name", "pk"))
    assert len(shown) == 52
    for name, values in shown.items():
        metrics = expected[names[name]]
        assert values == [str(metrics.mtta_p50), str(metrics.mtta_p95)], name
    assert shown["Service 52"] != shown["Service 01"]


def test_no_policy_reads_none_and_a_deleted_policy_by_its_number(
    world: World, owner_client: Client
) -> None:
    policy = policy_create(team=world.platform, by=None, name="Night shift")
    policy_id = policy.pk
    catalog.service_set_policy(service=world.elsewhere, policy=policy, by=None)
    _open(world.elsewhere, NOW - timedelta(hours=1))
    catalog.service_set_policy(service=world.elsewhere, policy=None, by=None)
    policy_delete(policy=policy, by=None)
    table = _page(owner_client, "/analytics/policies/?range=7").tables["table-policies"]
    names = {row[0].text: row[0].href for row in table.rows}
    assert names == {"none": None, f"deleted escalation policy #{policy_id}": None}


def test_the_responder_tab_shows_each_persons_interruptions(
    world: World, owner: User, member: User, owner_client: Client
) -> None:
    page = _page(owner_client, "/analytics/responders/?range=7")
    table = page.tables["table-responders"]
    assert table.headers == [
        "Person",
        "Business hours",
        "Off hours",
        "Sleep hours",
        "Interruptions",
        "Notifications",
    ]
    loads = {load.user_id: load for load in responder_load(scope_for(owner), WEEK)}
    assert table.values() == [
        [member.get_full_name(), "1", "0", "1", "2", "3"],  # two within 60 s: one interruption
        [owner.get_full_name(), "0", "1", "0", "1", "1"],
    ]
    assert loads[member.pk].interruptions == 2 and loads[owner.pk].off == 1
    chart = page.charts["chart-responders"]
    assert [d["label"] for d in chart["datasets"]] == ["Business hours", "Off hours", "Sleep hours"]
    assert [d["data"] for d in chart["datasets"]] == [[1, 0], [0, 1], [1, 0]]


# --- Who sees what -------------------------------------------------------------------------


def test_members_see_their_teams_data_only(
    world: World, member: User, member_client: Client
) -> None:
    page = _page(member_client, "/analytics/?range=7")
    assert _metrics_shown(page) == _metrics_expected(member, WEEK)
    assert _metrics_shown(page)["incidents"] == ("2", "2")
    services = _page(member_client, "/analytics/services/?range=7").tables["table-services"]
    assert services.column("Service") == ["Checkout"]
    teams = _page(member_client, "/analytics/teams/?range=7").tables["table-teams"]
    assert teams.column("Team") == ["Payments"]
    responders = _page(member_client, "/analytics/responders/?range=7").tables["table-responders"]
    assert responders.column("Person") == [member.get_full_name()]
    assert "Elsewhere" not in page.html and "Platform" not in page.html  # not even as a choice


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("team={platform}", "team", "No such team."),
        ("service={elsewhere}", "service", "No such service."),
    ],
)
def test_members_cannot_filter_into_another_teams_data(
    world: World, member_client: Client, query: str, field: str, message: str
) -> None:
    ids = {"platform": world.platform.pk, "elsewhere": world.elsewhere.pk}
    for tab in TABS:
        page = _page(member_client, f"{tab}?range=7&{query.format(**ids)}", status=400)
        assert message in page.html
        assert not page.tables.get("table-overview") and not page.tables.get("table-services")


def test_stakeholders_read_everything_and_link_only_to_pages_they_may_open(
    world: World, owner: User, stakeholder: User, stakeholder_client: Client
) -> None:
    page = _page(stakeholder_client, "/analytics/?range=7")
    assert _metrics_shown(page) == _metrics_expected(owner, WEEK)
    assert f'value="{world.elsewhere.pk}">Elsewhere</option>' in page.html
    services = _page(stakeholder_client, "/analytics/services/?range=7").tables["table-services"]
    assert sorted(services.column("Service")) == ["Checkout", "Elsewhere"]
    assert all(row[0].href is None for row in services.rows)  # service pages are their teams'
    teams = _page(stakeholder_client, "/analytics/teams/?range=7").tables["table-teams"]
    assert {row[0].href for row in teams.rows} == {
        f"/teams/{world.payments.pk}/",
        f"/teams/{world.platform.pk}/",
    }
    responders = _page(stakeholder_client, "/analytics/responders/?range=7")
    assert len(responders.tables["table-responders"].rows) == 2


@pytest.mark.parametrize("role_client", ["owner_client", "member_client", "stakeholder_client"])
def test_every_role_finds_analytics_in_the_navigation(
    world: World, request: pytest.FixtureRequest, role_client: str
) -> None:
    client: Client = request.getfixturevalue(role_client)
    html = client.get("/incidents/").content.decode()
    assert '<a href="/analytics/">Analytics</a>' in html
    for tab in TABS:
        assert client.get(tab).status_code == 200


def test_signed_out_visitors_are_sent_to_sign_in(client: Client) -> None:
    for tab in TABS:
        response = client.get(tab)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_another_organizations_ids_answer_400_no_such(
    world: World, org_b: Organization, owner_client: Client
) -> None:
    team_b = factories.make_team(organization=org_b, name="Bravo")
    service_b = factories.make_service(team=team_b, name="Bravo service")
    factories.make_incident(service=service_b)
    for tab in TABS:
        page = _page(owner_client, f"{tab}?team={team_b.pk}&service={service_b.pk}", status=400)
        form = page.html
        assert "No such team." in form and "No such service." in form
        assert "Bravo" not in page.html


# --- Bad parameters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("range=14", "range", "Choose 7, 30 or 90 days, or custom with a start and an end."),
        ("range=custom&start=2026-13-01&end=2026-03-01", "start", "Use a date like 2026-01-31."),
        ("range=custom&start=2026-03-05", "end", "Use a date like 2026-01-31."),
        ("range=custom&start=2026-03-05&end=2026-03-01", "end", "The end is before the start."),
        ("range=custom&start=2025-01-01&end=2026-03-01", "end", "A range is at most 366 days."),
        ("range=custom&start=9999-12-25&end=9999-12-31", "end", "Choose a day from 1970-01-01"),
        ("range=custom&start=0001-01-01&end=0001-01-02", "start", "Choose a day from 1970-01-01"),
        ("team=abc", "team", "Use an id (a whole number)."),
        ("team=%C2%B2", "team", "Use an id (a whole number)."),
        ("service=99999999999999999999", "service", "Use an id (a whole number)."),
        ("service=987654321", "service", "No such service."),
        ("urgency=urgent", "urgency", "Urgency is high or low."),
        ("label=nope", "label", "No such label."),
    ],
)
def test_bad_parameters_answer_400_with_the_page_and_the_fields_message(
    world: World, owner_client: Client, query: str, field: str, message: str
) -> None:
    for url in [*TABS, "/analytics/csv/", "/analytics/over-time/csv/", "/analytics/teams/csv/"]:
        response: Any = owner_client.get(f"{url}?{query}")
        assert response.status_code == 400, url
        assert response["Content-Type"].startswith("text/html")
        errors = response.context["form"].errors
        assert any(shown.startswith(message) for shown in errors[field]), (url, errors)
        assert "Correct the range or filters above" in response.content.decode()


def test_tabs_keep_the_query_string(world: World, owner_client: Client) -> None:
    query = f"range=custom&start=2026-03-01&end=2026-03-05&urgency=high&team={world.payments.pk}"
    html = _page(owner_client, f"/analytics/?{query}").html
    for tab in ("services", "policies", "teams", "responders"):
        assert f'href="/analytics/{tab}/?{query.replace("&", "&amp;")}"' in html
    assert f'href="/analytics/csv/?{query.replace("&", "&amp;")}"' in html


def test_the_form_shows_the_range_a_preset_stands_for(world: World, owner_client: Client) -> None:
    html = _page(owner_client, "/analytics/?range=7").html
    assert 'name="start" value="2026-02-27"' in html and 'name="end" value="2026-03-05"' in html
    assert _checked_range(html) == ["7"]


# --- CSV -----------------------------------------------------------------------------------


def test_the_overview_csv_holds_the_tables_numbers(world: World, owner_client: Client) -> None:
    page = _page(owner_client, "/analytics/?range=7")
    disposition, rows = read_csv(owner_client, "/analytics/csv/?range=7")
    assert disposition == (
        'attachment; filename="opsduty-analytics-overview-2026-02-27-2026-03-05.csv"'
    )
    assert rows[0] == ["metric", "value"]
    assert dict(rows[1:]) == {key: value for key, (_, value) in _metrics_shown(page).items()}
    assert dict(rows[1:])["mtta_seconds"] == "252.0"  # seconds, unformatted

    disposition, rows = read_csv(owner_client, "/analytics/over-time/csv/?range=7")
    assert disposition.endswith('filename="opsduty-analytics-over-time-2026-02-27-2026-03-05.csv"')
    assert rows[0] == ["date", "high", "low", "total"]
    assert rows[1:] == page.tables["table-over-time"].values()


@pytest.mark.parametrize(
    ("tab", "id_key", "name_key"),
    [
        ("services", "service_id", "service"),
        ("policies", "policy_id", "policy"),
        ("teams", "team_id", "team"),
        ("responders", "user_id", "person"),
    ],
)
@pytest.mark.parametrize("query", ["range=7", "range=30&urgency=high", "range=90&label=db"])
def test_each_tabs_csv_holds_the_tables_numbers(
    world: World, owner_client: Client, tab: str, id_key: str, name_key: str, query: str
) -> None:
    table = _page(owner_client, f"/analytics/{tab}/?{query}").tables[f"table-{tab}"]
    disposition, rows = read_csv(owner_client, f"/analytics/{tab}/csv/?{query}")
    assert disposition.startswith(f'attachment; filename="opsduty-analytics-{tab}-')
    assert rows[0][:2] == [id_key, name_key]
    assert len(rows[0]) == len(table.headers) + 1
    assert [row[1:] for row in rows[1:]] == table.values()
    assert table.rows  # there is something to compare


def test_a_name_a_spreadsheet_would_run_is_quoted_in_the_csv(
    world: World, owner_client: Client
) -> None:
    world.elsewhere.name = "=HYPERLINK(1)"
    world.elsewhere.save(update_fields=["name"])
    _, rows = read_csv(owner_client, "/analytics/services/csv/?range=7")
    assert "'=HYPERLINK(1)" in [row[1] for row in rows]


# --- Time zones ----------------------------------------------------------------------------


def test_owners_set_the_time_zone_and_the_analytics_are_recounted_in_it(
    world: World,
    org_a: Organization,
    owner_client: Client,
    eager_tasks: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    _open(world.checkout, datetime(2026, 3, 1, 11, 0, tzinfo=UTC))  # 2026-03-02 in Auckland
    url = "/analytics/over-time/csv/?range=custom&start=2026-03-01&end=2026-03-02"
    assert read_csv(owner_client, url)[1][1:] == [
        ["2026-03-01", "1", "0", "1"],
        ["2026-03-02", "1", "0", "1"],
    ]
    assert 'name="time_zone"' in owner_client.get("/analytics/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):  # analytics.rebuild, run at once
        response: Any = owner_client.post(
            "/analytics/time-zone/", {"time_zone": "Pacific/Auckland"}
        )
    assert response.status_code == 302 and response["Location"] == "/analytics/"
    org_a.refresh_from_db()
    assert org_a.time_zone == "Pacific/Auckland"
    assert read_csv(owner_client, url)[1][1:] == [
        ["2026-03-01", "0", "0", "0"],
        ["2026-03-02", "2", "0", "2"],
    ]
    page = owner_client.get("/analytics/").content.decode()
    assert "Pacific/Auckland" in page and "Recounting" not in page


def test_a_time_zone_change_whose_task_is_lost_is_recounted_by_the_sweep(
    world: World, org_a: Organization, owner_client: Client
) -> None:
    _open(world.checkout, datetime(2026, 3, 1, 11, 0, tzinfo=UTC))  # 2026-03-02 in Auckland
    url = "/analytics/over-time/csv/?range=custom&start=2026-03-01&end=2026-03-02"
    # The task queued after the commit never arrives (on_commit callbacks not run: as if
    # Redis had lost it).
    owner_client.post("/analytics/time-zone/", {"time_zone": "Pacific/Auckland"})
    page = owner_client.get("/analytics/").content.decode()
    assert "Recounting" in page  # still counting days in UTC, and says so
    assert read_csv(owner_client, url)[1][1:][0] == ["2026-03-01", "1", "0", "1"]
    tasks.rollups_compact()  # the sweep (Celery beat, every 10 s)
    assert read_csv(owner_client, url)[1][1:] == [
        ["2026-03-01", "0", "0", "0"],
        ["2026-03-02", "2", "0", "2"],
    ]
    assert "Recounting" not in owner_client.get("/analytics/").content.decode()


def test_a_time_zone_not_in_the_list_is_refused(
    world: World, org_a: Organization, owner_client: Client
) -> None:
    response: Any = owner_client.post("/analytics/time-zone/", {"time_zone": "Mars/Olympus"})
    assert response.status_code == 422
    assert "Choose a time zone from the list" in response.content.decode()
    org_a.refresh_from_db()
    assert org_a.time_zone == "UTC"


@pytest.mark.parametrize("role_client", ["member_client", "stakeholder_client"])
def test_only_owners_set_the_time_zone(
    world: World, org_a: Organization, request: pytest.FixtureRequest, role_client: str
) -> None:
    client: Client = request.getfixturevalue(role_client)
    assert client.post("/analytics/time-zone/", {"time_zone": "Europe/Oslo"}).status_code == 403
    org_a.refresh_from_db()
    assert org_a.time_zone == "UTC"
    assert 'name="time_zone"' not in client.get("/analytics/").content.decode()


def test_the_profile_saves_the_persons_time_zone(member: User, member_client: Client) -> None:
    details = {"first_name": "Mo", "last_name": "", "phone_number": ""}
    response: Any = member_client.post("/profile/details/", {**details, "time_zone": "Europe/Oslo"})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.time_zone == "Europe/Oslo"
    html = member_client.get("/profile/").content.decode()
    assert '<option value="Europe/Oslo" selected>' in html
    assert "The organization&#x27;s (UTC)" in html
    response = member_client.post("/profile/details/", {**details, "time_zone": "Mars/Olympus"})
    assert response.status_code == 200
    assert "Choose a time zone from the list" in response.content.decode()
    member.refresh_from_db()
    assert member.time_zone == "Europe/Oslo"
    member_client.post("/profile/details/", {**details, "time_zone": ""})
    member.refresh_from_db()
    assert member.time_zone == ""  # blank: the organization's


def test_the_persons_time_zone_places_their_notifications(
    org_a: Organization, member: User
) -> None:
    """23:30 UTC on a Monday is sleep hours in UTC, business hours (08:30) in Tokyo."""
    at = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    member.time_zone = "Asia/Tokyo"
    member.save(update_fields=["time_zone"])
    responder_notified(organization_id=org_a.pk, user_id=member.pk, at=at)
    client = session_client_for(member)
    # The member sees only the people of their teams: put them in one.
    factories.add_member(factories.make_team(organization=org_a, name="Solo"), member)
    table = read_page(client, "/analytics/responders/?range=7").tables["table-responders"]
    assert table.values() == [[member.get_full_name(), "1", "0", "0", "1", "1"]]
