"""Playwright on Debian's Chromium at phone size (390x844): the navigation folds behind a Menu
button that opens, navigates and closes with Escape (and by keyboard alone); without
JavaScript the links stay visible; no main page scrolls sideways on a phone or a laptop
(1366x768), not even with the longest values stored (tests/demo_data.py)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect
from pytest_django.live_server_helper import LiveServer

from escalations.models import Schedule
from incidents.models import Incident
from opsduty.models import Service, Team
from signals.models import Heartbeat, RawEvent, Webhook
from tests import demo_data
from tests.browser.axe import assert_no_serious_violations
from tests.browser.helpers import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE: ViewportSize = {"width": 390, "height": 844}
LAPTOP: ViewportSize = {"width": 1366, "height": 768}


@pytest.fixture
def demo() -> None:
    demo_data.seed_demo_with_incidents()


def _sign_in_as_owner(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server, demo_data.DEMO_DOMAIN, demo_data.OWNER, demo_data.DEMO_PASSWORD)


def test_the_menu_opens_navigates_and_closes_with_escape(
    page: Page, live_server: LiveServer, demo: None
) -> None:
    page.set_viewport_size(PHONE)
    _sign_in_as_owner(page, live_server)
    menu = page.get_by_role("button", name="Menu")
    main_nav = page.get_by_role("navigation", name="Main")
    schedules = main_nav.get_by_role("link", name="Schedules", exact=True)
    expect(menu).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(schedules).to_be_hidden()

    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(schedules).to_be_visible()
    expect(main_nav.get_by_role("button", name="Sign out")).to_be_visible()
    assert_no_serious_violations(page)  # the open menu too
    schedules.click()
    expect(page.get_by_role("heading", name="Schedules", level=1)).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "false")  # a new page starts closed

    menu.click()
    expect(schedules).to_have_attribute("aria-current", "page")
    page.keyboard.press("Escape")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(schedules).to_be_hidden()
    expect(menu).to_be_focused()


def test_the_menu_works_by_keyboard_alone(page: Page, live_server: LiveServer, demo: None) -> None:
    page.set_viewport_size(PHONE)
    _sign_in_as_owner(page, live_server)
    menu = page.get_by_role("button", name="Menu")
    menu.focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("Tab")  # the first link of the menu
    expect(page.get_by_role("link", name="Incidents", exact=True)).to_be_focused()
    page.keyboard.press("Tab")
    services = page.get_by_role("link", name="Services", exact=True)
    expect(services).to_be_focused()
    page.keyboard.press("Escape")  # from inside the menu: closed, focus back on the button
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_focused()
    page.keyboard.press("Space")
    expect(menu).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Services", level=1)).to_be_visible()


def test_a_click_outside_closes_the_menu(page: Page, live_server: LiveServer, demo: None) -> None:
    page.set_viewport_size(PHONE)
    _sign_in_as_owner(page, live_server)
    menu = page.get_by_role("button", name="Menu")
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    page.get_by_role("heading", name="Incidents", level=1).click()
    expect(menu).to_have_attribute("aria-expanded", "false")


def test_a_laptop_shows_the_links_and_no_menu_button(
    page: Page, live_server: LiveServer, demo: None
) -> None:
    page.set_viewport_size(LAPTOP)
    _sign_in_as_owner(page, live_server)
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(page.get_by_role("link", name="Schedules", exact=True)).to_be_visible()


def test_without_javascript_a_phone_shows_every_link(
    browser: Browser, live_server: LiveServer, demo: None
) -> None:
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    try:
        _sign_in_as_owner(page, live_server)
        expect(page.get_by_role("button", name="Menu")).to_be_hidden()
        for name in ("Incidents", "Schedules", "Analytics", "Profile", "Diagnostics"):
            expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
        assert _sideways_scroll(page) is None
    finally:
        context.close()


def test_a_schedule_timeline_on_a_phone_opens_at_now(
    page: Page, live_server: LiveServer, demo: None
) -> None:
    page.set_viewport_size(PHONE)
    _sign_in_as_owner(page, live_server)
    schedule = Schedule.objects.get(name="Platform primary")
    page.goto(f"{live_server.url}/schedules/{schedule.pk}/")
    timeline = page.get_by_role("region", name="Timeline of Platform primary")
    timeline.scroll_into_view_if_needed()
    # The bars are wider than the phone: the box scrolls, and opens on the "now" line with
    # the row names still in view.
    assert timeline.evaluate("box => box.scrollWidth > box.clientWidth")
    expect(timeline.locator(".tl-now")).to_be_in_viewport()
    expect(timeline.get_by_text("Final schedule")).to_be_in_viewport()


def _sideways_scroll(page: Page) -> str | None:
    """None when the page fits its width; else the widths and the widest offenders."""
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    if widths[0] <= widths[1]:
        return None
    offenders = page.evaluate(
        """(limit) => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > limit + 1)
            .slice(0, 5)
            .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '')
                 + ' ' + Math.round(e.getBoundingClientRect().right))""",
        widths[1],
    )
    return f"scrollWidth {widths[0]} > clientWidth {widths[1]}: {offenders}"


def _main_pages() -> list[str]:
    """The pages a responder uses most, with the objects the extreme values made longest."""
    longest = Incident.objects.get(description__startswith=demo_data.UNICODE)
    api = Service.objects.get(routing_key="demo-api")
    schedule = Schedule.objects.get(name="Platform primary")
    far = Schedule.objects.get(name="Far Pacific/Kiritimati")
    heartbeat = Heartbeat.objects.get(name="nightly-backup")
    team = Team.objects.get(name__startswith="Platform")
    policy = api.escalation_policy
    assert policy is not None
    raw = RawEvent.objects.order_by("pk").first()
    assert raw is not None
    webhook = Webhook.objects.order_by("pk").first()
    assert webhook is not None
    return [
        "/incidents/",
        f"/incidents/{longest.pk}/",
        "/services/",
        f"/services/{api.pk}/",
        "/escalation-policies/",
        f"/escalation-policies/{policy.pk}/",
        "/schedules/",
        f"/schedules/{schedule.pk}/",
        f"/schedules/{far.pk}/",
        f"/schedules/{schedule.pk}/layers/new/",
        "/routing-rules/",
        "/receive-channels/",
        "/receive-channels/debug/?template=alertmanager",
        "/heartbeats/",
        f"/heartbeats/{heartbeat.pk}/",
        f"/heartbeats/{heartbeat.pk}/environments/",
        "/webhooks/",
        f"/webhooks/{webhook.pk}/",
        "/raw-events/",
        f"/raw-events/{raw.pk}/",
        "/members/",
        "/teams/",
        f"/teams/{team.pk}/",
        "/profile/",
        "/profile/notifications/",
        "/profile/calendars/",
        "/settings/developer/",
        "/settings/archive/",
        "/settings/diagnostics/",
        "/analytics/",
        "/analytics/services/?range=90",
        "/analytics/responders/",
    ]


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["phone", "laptop"])
def test_no_main_page_scrolls_sideways(
    page: Page, live_server: LiveServer, demo: None, viewport: ViewportSize
) -> None:
    demo_data.store_extreme_values(demo_data.demo_organization())
    page.set_viewport_size(viewport)
    _sign_in_as_owner(page, live_server)
    wide: list[str] = []
    for url in _main_pages():
        response = page.goto(live_server.url + url)
        assert response is not None and response.status == 200, url
        problem = _sideways_scroll(page)
        if problem:
            wide.append(f"{url}: {problem}")
    assert not wide, "pages wider than the screen:\n" + "\n".join(wide)
