"""Every action is reachable by keyboard: on the pages a responder acts on, Tab alone reaches
every visible link, button, field and disclosure (a radio group counts once, as browsers
give it one stop), on a laptop and on a phone with the menu open."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, ViewportSize
from pytest_django.live_server_helper import LiveServer

from escalations.models import Schedule
from incidents.models import Incident
from opsduty.models import Service
from signals.models import Heartbeat
from tests import demo_data
from tests.browser.helpers import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Marks every visible, enabled control with data-kbd="<n>" and returns their descriptions.
MARK_CONTROLS = """() => {
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea, summary, '
    + '[tabindex]:not([tabindex="-1"])';
  const found = [];
  for (const e of document.querySelectorAll(selector)) {
    if (e.disabled || !e.checkVisibility({visibilityProperty: true})) continue;
    const group = e.type === 'radio'
      && document.querySelector(`input[type=radio][name="${e.name}"]:checked`);
    if (group && group !== e) continue;
    e.dataset.kbd = String(found.length);
    found.push(e.outerHTML.slice(0, 160));
  }
  return found;
}"""


def _unreachable_by_tab(page: Page) -> list[str]:
    """The visible controls that pressing Tab never focuses."""
    controls: list[str] = page.evaluate(MARK_CONTROLS)
    reached: set[str] = set()
    for _ in range(2 * len(controls) + 10):  # every stop once, plus the browser's own
        page.keyboard.press("Tab")
        mark = page.evaluate("document.activeElement && document.activeElement.dataset.kbd")
        if mark is not None:
            reached.add(mark)
    return [html for index, html in enumerate(controls) if str(index) not in reached]


def _pages() -> list[str]:
    incident = Incident.objects.filter(status="triggered").order_by("pk").first()
    assert incident is not None
    schedule = Schedule.objects.get(name="Platform primary")
    api = Service.objects.get(routing_key="demo-api")
    heartbeat = Heartbeat.objects.get(name="nightly-backup")
    return [
        "/incidents/",
        f"/incidents/{incident.pk}/",
        f"/services/{api.pk}/",
        f"/escalation-policies/{api.escalation_policy_id}/",
        f"/schedules/{schedule.pk}/",
        f"/heartbeats/{heartbeat.pk}/environments/",
        "/profile/",
        "/profile/notifications/",
        "/profile/calendars/",
    ]


@pytest.mark.parametrize(
    "viewport",
    [{"width": 1366, "height": 768}, {"width": 390, "height": 844}],
    ids=["laptop", "phone"],
)
def test_tab_reaches_every_control(
    page: Page, live_server: LiveServer, viewport: ViewportSize
) -> None:
    demo_data.seed_demo_with_incidents()
    page.set_viewport_size(viewport)
    sign_in(page, live_server, demo_data.DEMO_DOMAIN, demo_data.OWNER, demo_data.DEMO_PASSWORD)
    missed: list[str] = []
    for url in _pages():
        page.goto(live_server.url + url)
        if viewport["width"] < 1024:
            page.get_by_role("button", name="Menu").click()  # its links count too
        missed += [f"{url}: {html}" for html in _unreachable_by_tab(page)]
    assert not missed, "controls Tab never reaches:\n" + "\n".join(missed)
