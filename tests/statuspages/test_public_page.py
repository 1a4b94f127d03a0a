"""The public status page as a visitor reads it (docs/status-pages.md, "The public page")."""

from __future__ import annotations

import re
from datetime import timedelta
from xml.etree import ElementTree

import orjson
import pytest
from django.test import Client
from django.utils import timezone

from opsduty.models import Organization
from statuspages.events import page_touched
from statuspages.models import Component, ComponentStatus, Impact, NoticeStatus, StatusPage
from statuspages.public.selectors import HISTORY_ON_FRONT, HISTORY_PER_PAGE
from statuspages.uptime import FORMULA
from tests.statuspages.world import (
    make_component,
    make_group,
    make_notice,
    make_page,
    post_update,
    show,
    write_postmortem,
)

pytestmark = pytest.mark.django_db
ATOM = "{http://www.w3.org/2005/Atom}"
EVENT_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.IGNORECASE)


def _text(client: Client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return response.content.decode()


def _order(html: str, *needles: str) -> list[int]:
    return [html.index(n) for n in needles]


@pytest.fixture
def page(org_a: Organization) -> StatusPage:
    return make_page(organization=org_a, name="Acme status", slug="acme")


def test_page_shows_groups_and_components_in_order_with_their_status(page: StatusPage) -> None:
    later = make_group(page, "Later group", order=1)
    first = make_group(page, "First group", order=0)
    make_component(later, "Search", 0)
    make_component(first, "Payments", 1)
    checkout = make_component(first, "Checkout", 0)
    show(checkout, ComponentStatus.PARTIAL_OUTAGE)

    html = _text(Client(), "/status/acme/")

    positions = _order(html, "First group", "Checkout", "Payments", "Later group", "Search")
    assert positions == sorted(positions)
    assert "Partial outage" in html
    assert re.search(r'<h2 id="headline">Partial outage</h2>', html)


def test_headline_is_the_worst_status_of_all_components(page: StatusPage) -> None:
    group = make_group(page, "Core", order=0)
    a, b, _c = (make_component(group, name, n) for n, name in enumerate(["A", "B", "C"]))
    assert '<h2 id="headline">All systems operational</h2>' in _text(Client(), "/status/acme/")
    show(a, ComponentStatus.UNDER_MAINTENANCE)
    show(b, ComponentStatus.DEGRADED_PERFORMANCE)
    assert '<h2 id="headline">Degraded performance</h2>' in _text(Client(), "/status/acme/")
    show(a, ComponentStatus.MAJOR_OUTAGE)
    assert '<h2 id="headline">Major outage</h2>' in _text(Client(), "/status/acme/")


def test_uptime_percent_bars_and_formula_are_on_the_page(page: StatusPage) -> None:
    group = make_group(page, "Core", order=0)
    api = make_component(group, "API", 0)
    start = timezone.now() - timedelta(days=3)
    show(api, ComponentStatus.MAJOR_OUTAGE, at=start)
    show(api, ComponentStatus.OPERATIONAL, at=start + timedelta(hours=9))

    html = _text(Client(), "/status/acme/")

    # 9 hours down in 90 days: 100 x (1 - 9 / 2160)
    assert "99.583% uptime" in html
    assert FORMULA in html
    # One bar a day for 90 days, oldest first: the outage 3 days before today (day 89) is
    # day 86, one day long, or two when the 9 hours straddle midnight (UTC).
    assert html.count('<svg class="bars" viewBox="0 0 90 1"') == 1
    assert re.search(r'<path class="mo" d="M86 0h([12])v1h-\1z"/>', html)
    assert html.count("<path ") == 1  # no other day is colored
    assert "of downtime" in html


def test_uptime_is_not_shown_when_the_page_does_not_publish_it(page: StatusPage) -> None:
    StatusPage.objects.filter(pk=page.pk).update(calculate_uptime=False)
    make_component(make_group(page, "Core", order=0), "API", 0)
    html = _text(Client(), "/status/acme/")
    assert "API" in html
    assert "uptime" not in html
    assert FORMULA not in html


def test_open_notices_show_their_visible_updates_newest_first(page: StatusPage) -> None:
    api = make_component(make_group(page, "Core", order=0), "API", 0)
    notice = make_notice(page, "Elevated errors", components=[api], impact=Impact.MAJOR)
    now = timezone.now()
    post_update(notice, "We are **looking** into it", at=now - timedelta(minutes=10))
    post_update(notice, "Fix deployed", status=NoticeStatus.MONITORING, at=now)

    html = _text(Client(), "/status/acme/")

    assert "Current incidents" in html
    assert "Elevated errors" in html
    assert "Affects API" in html
    assert "<strong>looking</strong>" in html
    positions = _order(html, "Fix deployed", "We are <strong>looking</strong>")
    assert positions == sorted(positions)
    assert "Monitoring" in html


def test_drafts_hidden_updates_and_unpublished_postmortems_are_never_shown(
    page: StatusPage,
) -> None:
    make_component(make_group(page, "Core", order=0), "API", 0)
    draft = make_notice(page, "Secret draft title", draft=True)
    post_update(draft, "draft update body")
    shown = make_notice(page, "Public notice", status=NoticeStatus.RESOLVED)
    post_update(shown, "visible words")
    post_update(shown, "scheduled words not yet visible", visible=False)
    write_postmortem(shown, "Unpublished postmortem words", published=False)
    client = Client()

    pages = [
        _text(client, "/status/acme/"),
        _text(client, f"/status/acme/incidents/{shown.pk}/"),
        _text(client, "/status/acme/history/"),
        _text(client, "/status/acme/feed.atom"),
        _text(client, "/status/acme/summary.json"),
    ]
    for html in pages:
        for secret in (
            "Secret draft title",
            "draft update body",
            "scheduled words",
            "Unpublished postmortem words",
        ):
            assert secret not in html
    assert "visible words" in pages[1]
    _text(client, f"/status/acme/incidents/{draft.pk}/", status=404)


def test_a_published_postmortem_is_on_the_notice_page_and_in_the_feed(page: StatusPage) -> None:
    notice = make_notice(page, "Database failover", status=NoticeStatus.RESOLVED)
    post_update(notice, "Resolved")
    write_postmortem(notice, "# What happened\n\nA disk filled up.", published=True)
    client = Client()

    html = _text(client, f"/status/acme/incidents/{notice.pk}/")
    assert "Postmortem" in html
    assert "<h1>What happened</h1>" in html
    assert "A disk filled up." in html
    assert "A disk filled up." in _text(client, "/status/acme/feed.atom")
    # The front page lists it in the history, without the postmortem's text.
    front = _text(client, "/status/acme/")
    assert "Database failover" in front
    assert "A disk filled up." not in front


def test_maintenance_is_listed_apart_from_incidents(page: StatusPage) -> None:
    start = timezone.now() + timedelta(days=1)
    make_notice(
        page,
        "Database upgrade",
        status=NoticeStatus.SCHEDULED,
        impact=Impact.MAINTENANCE,
        scheduled_start=start,
        scheduled_end=start + timedelta(hours=2),
    )
    html = _text(Client(), "/status/acme/")
    assert "Maintenance</h2>" in html
    assert "Current incidents" not in html
    assert "Database upgrade" in html
    assert f"{start:%Y-%m-%d %H:%M} UTC" in html


def test_history_is_paged(page: StatusPage) -> None:
    base = timezone.now() - timedelta(days=30)
    total = HISTORY_PER_PAGE + 3
    for n in range(total):
        make_notice(
            page,
            f"Old incident {n:02d}",
            status=NoticeStatus.RESOLVED,
            created_at=base + timedelta(hours=n),
        )
    client = Client()

    front = _text(client, "/status/acme/")
    assert front.count("Old incident") == HISTORY_ON_FRONT
    assert f"Old incident {total - 1:02d}" in front  # newest first
    first = _text(client, "/status/acme/history/?page=1")
    second = _text(client, "/status/acme/history/?page=2")
    assert first.count("Old incident") == HISTORY_PER_PAGE
    assert second.count("Old incident") == 3
    assert "Old incident 00" in second
    assert "Page 2 of 2" in second
    _text(client, "/status/acme/history/?page=3", status=404)
    _text(client, "/status/acme/history/?page=x", status=404)


def test_a_disabled_page_answers_404_everywhere(page: StatusPage) -> None:
    notice = make_notice(page, "Something")
    StatusPage.objects.filter(pk=page.pk).update(enabled=False)
    client = Client()
    for url in ("", "history/", f"incidents/{notice.pk}/", "feed.atom", "summary.json"):
        _text(client, f"/status/acme/{url}", status=404)
    assert client.post("/status/acme/subscribe/", {"email": "a@example.com"}).status_code == 404
    _text(client, "/status/unknown-page/", status=404)


def test_a_notice_of_another_page_or_organization_is_never_shown(
    page: StatusPage, org_b: Organization
) -> None:
    other = make_page(organization=org_b, name="Other org", slug="other")
    foreign = make_notice(other, "Org B's own notice")
    sibling = make_page(organization=page.organization, slug="sibling")
    sibling_notice = make_notice(sibling, "Sibling page notice")
    client = Client()

    _text(client, f"/status/acme/incidents/{foreign.pk}/", status=404)
    _text(client, f"/status/acme/incidents/{sibling_notice.pk}/", status=404)
    for url in ("", "feed.atom", "summary.json", "history/"):
        html = _text(client, f"/status/acme/{url}")
        assert "Org B's own notice" not in html
        assert "Sibling page notice" not in html


def test_markdown_and_html_injection_is_rendered_harmless(page: StatusPage) -> None:
    component = make_component(make_group(page, "<b>Group</b>", order=0), "<i>API</i>", 0)
    notice = make_notice(page, '<script>alert("title")</script>', components=[component], body="x")
    post_update(
        notice,
        '<script>alert(1)</script>\n\n<img src=x onerror="alert(2)">\n\n'
        "[click](javascript:alert(3)) [ok](https://example.com/)\n\n"
        '<a href="#" onclick="alert(4)">raw</a>',
    )
    write_postmortem(
        notice, '<svg onload="alert(5)"></svg>[pm](javascript:alert(6))', published=True
    )
    client = Client()

    for url in ("/status/acme/", f"/status/acme/incidents/{notice.pk}/", "/status/acme/feed.atom"):
        html = client.get(url).content.decode()
        assert "<script" not in html
        assert "<img" not in html
        # The only SVG are the page's own uptime bars (the postmortem's is gone).
        for svg in re.findall(r"<svg[^>]*>", html):
            assert svg.startswith(('<svg class="bars" ', '<svg class="bar-defs" ')), svg
        # No element carries an event handler or a javascript: link (as text they are fine).
        assert not EVENT_HANDLER.search(html), EVENT_HANDLER.search(html)
        assert "javascript:" not in " ".join(re.findall(r"<a [^>]*>", html))
        assert "<i>API</i>" not in html
        assert "<b>Group</b>" not in html
    html = client.get(f"/status/acme/incidents/{notice.pk}/").content.decode()
    assert "&lt;script&gt;alert(&quot;title&quot;)&lt;/script&gt;" in html
    assert 'href="https://example.com/"' in html
    assert "&lt;i&gt;API&lt;/i&gt;" in html


def test_a_change_shows_on_the_next_request_and_not_before_the_version_moves(
    page: StatusPage,
) -> None:
    group = make_group(page, "Core", order=0)
    api = make_component(group, "API", 0)
    client = Client()
    assert "Payments" not in _text(client, "/status/acme/")
    assert "Payments" not in _text(client, "/status/acme/summary.json")

    # A change that did not move the page's version: the cached page is still served.
    Component.objects.filter(pk=api.pk).update(name="Payments")
    assert "Payments" not in _text(client, "/status/acme/")
    assert "Payments" not in _text(client, "/status/acme/summary.json")

    # The change's own page_touched (as every service calls it): the very next request.
    page_touched(page.pk)
    assert "Payments" in _text(client, "/status/acme/")
    assert "Payments" in _text(client, "/status/acme/summary.json")

    show(api, ComponentStatus.MAJOR_OUTAGE)
    assert '<h2 id="headline">Major outage</h2>' in _text(client, "/status/acme/")
    notice = make_notice(page, "New notice")
    assert "New notice" in _text(client, "/status/acme/")
    assert "New notice" in _text(client, "/status/acme/feed.atom")
    post_update(notice, "Second update words")
    assert "Second update words" in _text(client, f"/status/acme/incidents/{notice.pk}/")


def test_the_feed_is_atom_with_one_entry_per_published_notice(page: StatusPage) -> None:
    now = timezone.now()
    older = make_notice(page, "Older", created_at=now - timedelta(days=2))
    post_update(older, "older words", at=now - timedelta(days=2))
    newer = make_notice(page, "Newer", created_at=now - timedelta(days=1))
    make_notice(page, "A draft", draft=True)

    response = Client().get("/status/acme/feed.atom")

    assert response["Content-Type"].startswith("application/atom+xml")
    root = ElementTree.fromstring(response.content)  # noqa: S314 - our own answer
    assert root.findtext(f"{ATOM}title") == "Acme status: status"
    entries = root.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == [
        "Newer (Investigating)",
        "Older (Investigating)",
    ]
    links = [e.find(f"{ATOM}link").get("href") for e in entries]  # type: ignore[union-attr]
    assert str(links[0]).endswith(f"/status/acme/incidents/{newer.pk}/")
    assert "older words" in (entries[1].findtext(f"{ATOM}summary") or "")


def test_the_json_summary_has_page_status_components_and_open_notices(page: StatusPage) -> None:
    group = make_group(page, "Core", order=0)
    api = make_component(group, "API", 0)
    make_component(group, "Web", 1)
    show(api, ComponentStatus.PARTIAL_OUTAGE)
    notice = make_notice(page, "API errors", components=[api], impact=Impact.MAJOR)
    post_update(notice, "Looking")
    make_notice(page, "Closed one", status=NoticeStatus.RESOLVED)

    response = Client().get("/status/acme/summary.json")

    assert response["Content-Type"] == "application/json"
    data = orjson.loads(response.content)
    assert data["page"] == {"id": page.pk, "name": "Acme status", "url": "/status/acme/"}
    assert data["status"] == {"indicator": "partial_outage", "description": "Partial outage"}
    assert [(c["name"], c["group"], c["status"]) for c in data["components"]] == [
        ("API", "Core", "partial_outage"),
        ("Web", "Core", "operational"),
    ]
    assert data["components"][1]["uptime_percent"] == 100.0
    assert [n["title"] for n in data["open_notices"]] == ["API errors"]
    assert data["open_notices"][0]["components"] == ["API"]
    assert data["open_notices"][0]["updates"][0]["body"] == "Looking"
    assert data["open_notices"][0]["url"] == f"/status/acme/incidents/{notice.pk}/"
