"""No page of the demo answers 5xx: every same-origin link (GET only) from the home page, as
an owner, a member and a stakeholder, and the API v1 reads, before and after the extreme
values of tests/demo_data.py (names at their limits, 5,000 characters of unicode and stack
trace, times to 2099 through the services and rows at years 1 and 9999 past them).

The same crawl checks that every table on every page stacks into cards on a phone (class
`stack`, a `data-label` on every cell: static/css/app.css)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from escalations.models import Schedule, ScheduleOverride
from escalations.schedules.selectors import schedule_visible_list
from incidents.models import Incident
from opsduty import services
from opsduty.models import Organization, Service, User
from signals.models import Heartbeat, HeartbeatState, IncidentReference
from tests import demo_data
from tests.crawling import CrawledPage, api_crawl, crawl, server_errors

pytestmark = pytest.mark.django_db

ROLES = [demo_data.OWNER, demo_data.MEMBER, demo_data.STAKEHOLDER]


@pytest.fixture
def demo(settings: Any) -> Organization:
    # The demo's Twilio account and number exist when a stand-in Twilio is configured: point
    # it at a closed loopback port, so the telephony pages are crawled with Twilio unreachable.
    settings.OPSDUTY_TWILIO_API_URL = "http://127.0.0.1:9"
    return demo_data.seed_demo_with_incidents()


def _client(email: str) -> Client:
    """Signed in as `email`; a view's exception answers 500 instead of failing the request."""
    client = Client(raise_request_exception=False)
    client.force_login(demo_data.demo_user(email))
    return client


def _report(pages: dict[str, CrawledPage]) -> str:
    return "\n".join(
        f"{page.status} {page.url} {'; '.join(page.problems)}" for page in pages.values()
    )


def _odd_queries(user: User) -> list[str]:
    """Query strings no page links to: the far ends of every date and number a page reads."""
    far = "since=0001-01-01&until=9999-12-31"
    urls = [
        f"/incidents/?{far}",
        f"/incidents/rows/?{far}&page=99999999999999999999",
        "/incidents/?status=bogus&service=abc&team=-1&urgency=x&label=" + "L" * 500,
        "/raw-events/?since=0001-01-01T00:00&until=9999-12-31T23:59&before=9",
        "/raw-events/?after=99999999999999999999&status=nope&webhook=0",
        "/heartbeats/?service=99999999999999999999999",
        "/receive-channels/debug/?template=no-such-template",
        # Analytics: the far ends of a custom range, a year of weeks, ids past bigint.
        "/analytics/?range=custom&start=0001-01-01&end=9999-12-31",
        "/analytics/?range=custom&start=9999-12-25&end=9999-12-31",
        "/analytics/over-time/csv/?range=custom&start=0001-01-01&end=0001-01-07",
        "/analytics/policies/?range=custom&start=1970-01-01&end=1971-01-01",
        "/analytics/services/?team=99999999999999999999&service=%C2%B2&urgency=x&label="
        + "L" * 500,
        "/analytics/responders/csv/?range=90&team=0&label=%00",
    ]
    for schedule in schedule_visible_list(user=user):
        base = f"/schedules/{schedule.pk}/"
        urls += [f"{base}?start={day}" for day in ("0001-01-01", "9999-12-31", "2099-12-31")]
        urls.append(f"{base}?override_start=9999-12-31T23:59&override_end=0001-01-01T00:00")
    return urls


def _assert_pages_work(email: str) -> dict[str, CrawledPage]:
    odd = _odd_queries(demo_data.demo_user(email))
    pages = crawl(_client(email), ["/", *odd])
    statuses = {url: page.status for url, page in pages.items()}
    assert not server_errors(statuses), _report(
        {url: page for url, page in pages.items() if page.status >= 500}
    )
    # A link that leads nowhere (or to a page its reader may not open) is a bug too; the odd
    # queries may be refused (403, 404), only never with a 5xx.
    broken = {
        url: page for url, page in pages.items() if url not in odd and page.status not in (200, 302)
    }
    assert not broken, _report(broken)
    problems = {url: page for url, page in pages.items() if page.problems}
    assert not problems, _report(problems)
    return pages


def _api_paths(organization: Organization) -> list[str]:
    """Every API v1 read: the lists and, for each object, its detail and sub-lists."""
    window = "datetime_start=2099-11-01T00:00:00Z&datetime_end=2099-12-31T00:00:00Z"
    now_window = "datetime_start=2026-01-01T00:00:00Z&datetime_end=2026-04-30T00:00:00Z"
    paths = [
        "/api/v1/users/",
        "/api/v1/heartbeats/",
        "/api/v1/services/",
        "/api/v1/schedules/",
        "/api/v1/incidents/",
        "/api/v1/incidents/?status=resolved",
        "/api/v1/receive-channels/",
        "/api/v1/openapi.json",
    ]
    for tab in ("overview", "services", "policies", "teams", "responders"):
        paths += [f"/api/v1/analytics/{tab}/", f"/api/v1/analytics/{tab}/?range=90&urgency=high"]
    for service in Service.objects.filter(organization=organization):
        paths.append(f"/api/v1/services/{service.pk}/oncall/")
    for schedule in Schedule.objects.filter(organization=organization):
        paths += [
            f"/api/v1/schedules/{schedule.pk}/shifts/?{window}",
            f"/api/v1/schedules/{schedule.pk}/shifts/?{now_window}&overflow=false",
            f"/api/v1/schedules/{schedule.pk}/overrides/",
        ]
    for heartbeat in Heartbeat.objects.filter(organization=organization):
        paths.append(f"/api/v1/heartbeats/{heartbeat.pk}/")
    for incident in Incident.objects.filter(organization=organization):
        paths += [
            f"/api/v1/incidents/{incident.pk}/",
            f"/api/v1/incidents/{incident.pk}/responders/",
        ]
    for reference in IncidentReference.objects.filter(organization=organization):
        paths.append(f"/api/v1/incidents/incident-reference/{reference.public_id}/")
    return paths


def _assert_api_works(organization: Organization) -> dict[str, int]:
    owner = demo_data.demo_user(demo_data.OWNER)
    client = Client(
        HTTP_AUTHORIZATION=f"Bearer {services.api_token_create(user=owner)}",
        raise_request_exception=False,
    )
    statuses = api_crawl(client, _api_paths(organization))
    assert not server_errors(statuses), server_errors(statuses)
    assert set(statuses.values()) == {200}, {u: s for u, s in statuses.items() if s != 200}
    return statuses


@pytest.mark.parametrize("email", ROLES)
def test_no_page_of_the_demo_answers_5xx(demo: Organization, email: str) -> None:
    pages = _assert_pages_work(email)
    # The crawl reached the pages a responder uses (not only the home page).
    visited = set(pages)
    assert "/incidents/" in visited and "/profile/" in visited
    assert "/profile/notifications/" in visited and "/profile/calendars/" in visited
    assert "/profile/phone/" in visited
    # Analytics, every tab and its CSV, for every role.
    for tab in ("", "services/", "policies/", "teams/", "responders/"):
        assert f"/analytics/{tab}" in visited and f"/analytics/{tab}csv/" in visited
    assert "/analytics/over-time/csv/" in visited
    assert any(url.startswith("/incidents/") and url[11:12].isdigit() for url in visited)
    if email == demo_data.OWNER:  # the telephony pages, with Twilio unreachable
        assert {"/settings/telephony/", "/settings/telephony/addresses/"} <= visited
        assert any(url.startswith("/settings/telephony/numbers/") for url in visited)
        assert "/settings/slack/" in visited
    if email != demo_data.STAKEHOLDER:  # carol's team (Payments) has no schedule
        assert any(url.startswith("/schedules/") and url[11:12].isdigit() for url in visited)


@pytest.mark.parametrize("email", ROLES)
def test_no_page_answers_5xx_with_extreme_values_stored(demo: Organization, email: str) -> None:
    demo_data.store_extreme_values(demo)
    assert ScheduleOverride.objects.filter(end__year=9999).exists()  # the rows are there
    assert HeartbeatState.objects.filter(next_deadline__year=9999).exists()
    pages = _assert_pages_work(email)
    far = Incident.objects.filter(created_at__year__in=[1, 9999])
    visible = [incident for incident in far if f"/incidents/{incident.pk}/" in pages]
    assert len(visible) == (2 if email == demo_data.STAKEHOLDER else 4)


def test_no_api_read_answers_5xx(demo: Organization) -> None:
    statuses = _assert_api_works(demo)
    assert len(statuses) > 20


def test_no_api_read_answers_5xx_with_extreme_values_stored(demo: Organization) -> None:
    demo_data.store_extreme_values(demo)
    statuses = _assert_api_works(demo)
    assert any("/shifts/" in url for url in statuses)
    assert Service.objects.filter(
        maintenance_window_end__gte=datetime(9999, 1, 1, tzinfo=UTC)
    ).exists()
