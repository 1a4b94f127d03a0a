"""Playwright on Debian's Chromium: a member opens Analytics from the menu, changes the range to
7 days and the urgency to high, and the chart Chart.js drew holds exactly the numbers of the
table under it; the same on the "By service" tab (incidents and MTTA), which kept the query
string. The page has no serious accessibility violation."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from incidents import services as incident_services
from opsduty.models import Role
from tests import factories
from tests.browser.helpers import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The chart's labels and each dataset's numbers, as Chart.js holds them.
CHART_DATA = """(id) => {
  const chart = Chart.getChart(document.getElementById(id));
  return {
    labels: chart.data.labels,
    series: chart.data.datasets.map((d) => ({label: d.label, data: d.data})),
  };
}"""
# Each body row of a table: the row's name, then every cell's text and data-value.
TABLE_ROWS = """(id) => [...document.querySelectorAll(`#${id} tbody tr`)].map((tr) => [
  tr.querySelector('th').textContent.trim(),
  ...[...tr.querySelectorAll('td')].map((td) => [td.textContent.trim(), td.dataset.value]),
])"""


def _world() -> None:
    """Acme: Olivia (member of Platform) and, on Platform's Billing, high incidents now (two),
    a day ago (acknowledged after 2 min 30 s) and 20 days ago, and a low one now; on another
    team's service a high one now, which Olivia does not see."""
    acme = factories.make_organization(domain="acme", name="Acme Corp")
    platform = factories.make_team(organization=acme, name="Platform")
    olivia = factories.make_user(
        organization=acme, email="olivia@acme.example", first_name="Olivia", role=Role.MEMBER
    )
    factories.add_member(platform, olivia)
    billing = factories.make_service(team=platform, name="Billing")
    search = factories.make_service(team=platform, name="Search")
    elsewhere = factories.make_service(organization=acme, name="Elsewhere")
    now = timezone.now()
    factories.make_incident(service=billing)
    factories.make_incident(service=search)
    factories.make_incident(service=billing, urgency="low")
    factories.make_incident(service=elsewhere)
    with time_machine.travel(now - timedelta(days=1), tick=False):
        acked = factories.make_incident(service=billing)
    with time_machine.travel(now - timedelta(days=1) + timedelta(seconds=150), tick=False):
        incident_services.incident_acknowledge(incident=acked, by=olivia)
    with time_machine.travel(now - timedelta(days=20), tick=False):
        factories.make_incident(service=billing)


def _chart_and_table(page: Page, chart: str, table: str) -> tuple[dict[str, Any], list[Any]]:
    page.wait_for_function(
        "(id) => window.Chart && Chart.getChart(document.getElementById(id))", arg=chart
    )
    return page.evaluate(CHART_DATA, chart), page.evaluate(TABLE_ROWS, table)


def test_the_chart_shows_the_tables_numbers_after_changing_range_and_urgency(
    page: Page, live_server: LiveServer, axe_check: Callable[[Page], None]
) -> None:
    _world()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, live_server, "acme", "olivia@acme.example", factories.PASSWORD)

    page.get_by_role("link", name="Analytics", exact=True).click()
    expect(page.get_by_role("heading", name="Analytics", level=1)).to_be_visible()
    expect(page.get_by_label("30 days")).to_be_checked()
    page.get_by_label("7 days").check()
    page.get_by_label("Urgency", exact=True).select_option("high")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"/analytics/\?range=7&.*urgency=high"))
    expect(page.get_by_label("7 days")).to_be_checked()

    chart, rows = _chart_and_table(page, "chart-over-time", "table-over-time")
    assert len(rows) == 7  # a bucket per day, empty days included
    assert chart["labels"] == [row[0] for row in rows]
    assert [series["label"] for series in chart["series"]] == ["High", "Low"]
    high, low = (series["data"] for series in chart["series"])
    assert high == [int(row[1][0]) for row in rows]
    assert low == [int(row[2][0]) for row in rows]
    assert (sum(high), sum(low)) == (3, 0)  # not the low one, the old one nor Elsewhere's
    canvas = page.locator("#chart-over-time")
    expect(canvas).to_have_attribute("role", "img")
    expect(canvas).to_have_attribute("aria-label", re.compile("the table below"))
    axe_check(page)

    page.get_by_role("link", name="By service").click()
    expect(page).to_have_url(re.compile(r"/analytics/services/\?range=7&.*urgency=high"))
    chart, rows = _chart_and_table(page, "chart-breakdown", "table-services")
    assert [row[0] for row in rows] == ["Billing", "Search"]
    assert chart["labels"] == ["Billing", "Search"]
    incidents, mtta = (series["data"] for series in chart["series"])
    assert incidents == [int(row[1][0]) for row in rows] == [2, 1]
    assert mtta == [float(row[6][1]) if row[6][1] else None for row in rows] == [150.0, None]
    assert rows[0][6][0] == "2 min 30 s"
    axe_check(page)
    assert not errors
