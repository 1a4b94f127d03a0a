"""The team's status-page screens (/status-pages/): the list, a page's settings and secret,
its groups and components (add, edit, delete, move, status), notices (declare, draft and
publish, updates now and scheduled, resolve), maintenance, postmortems (save, preview,
draft, publish) and "Tell customers" on an incident's page; who manages, who only reads,
and other organizations' ids."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.http import HttpResponse, HttpResponseBase
from django.test import Client
from django.utils import timezone

from incidents.models import IncidentNote
from opsduty.models import AuditLogEntry, Organization, User
from statuspages import services
from statuspages.models import (
    AccessMode,
    Component,
    ComponentGroup,
    Notice,
    NoticeUpdate,
    Postmortem,
    StatusPage,
)
from tests import factories
from tests.statuspages.conftest import PageWorld, page_world
from tests.ui.helpers import HTMX

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(org_a: Organization, member: User) -> PageWorld:
    built = page_world(org_a)
    factories.add_member(built.team, member)
    return built


@pytest.fixture
def foreign(org_b: Organization) -> PageWorld:
    return page_world(org_b)


def _text(response: HttpResponseBase) -> str:
    assert isinstance(response, HttpResponse)
    return response.content.decode()


def _order(content: str, *names: str) -> list[int]:
    return [content.index(name) for name in names]


# --- the list and a page's settings -------------------------------------------------------


def test_list_shows_pages_with_team_access_headline_and_open_notices(
    world: PageWorld, foreign: PageWorld, stakeholder_client: Client
) -> None:
    services.component_status_set(component=world.web_component, by=None, status="major_outage")
    services.notice_declare(page=world.page, by=None, title="Slow API")
    content = _text(stakeholder_client.get("/status-pages/"))
    assert 'href="/status-pages/"' in content  # the navigation entry
    assert "Acme status" in content and "Platform" in content
    assert "Anyone with the link" in content and "Major outage" in content
    assert re.search(r'data-label="Open notices"><span class="badge status-triggered">1<', content)
    assert f"acme-{foreign.page.organization.domain}" not in content
    assert "New status page" not in content  # a stakeholder manages no team


def test_member_creates_a_page_for_their_team(world: PageWorld, member_client: Client) -> None:
    assert "New status page" in _text(member_client.get("/status-pages/"))
    data = {
        "team": world.team.pk,
        "name": "Shop status",
        "slug": "shop",
        "domain": "status.shop.test",
        "description": "All about the shop",
        "enabled": "on",
        "access_mode": AccessMode.PUBLIC,
    }
    response = member_client.post("/status-pages/new/", data, follow=True)
    page = StatusPage.objects.get(slug="shop")
    assert response.redirect_chain[-1][0] == f"/status-pages/{page.pk}/"
    assert "Status page “Shop status” created." in _text(response)
    assert page.team == world.team and page.enabled and not page.calculate_uptime


def test_bad_page_input_answers_422_per_field_and_saves_nothing(
    world: PageWorld, member_client: Client
) -> None:
    data = {"team": world.team.pk, "name": "", "slug": "not a slug!", "access_mode": "nobody"}
    response = member_client.post("/status-pages/new/", data)
    assert response.status_code == 422
    content = _text(response)
    assert "This field is required." in content and "valid “slug”" in content
    assert "Select a valid choice. nobody" in content
    taken = {**data, "name": "Again", "slug": world.page.slug, "access_mode": "public"}
    response = member_client.post("/status-pages/new/", taken)
    assert response.status_code == 422 and "already exists" in _text(response)
    assert StatusPage.objects.count() == 1


def test_stakeholder_reads_a_page_but_may_change_nothing(
    world: PageWorld, stakeholder_client: Client
) -> None:
    response = stakeholder_client.get(f"/status-pages/{world.page.pk}/")
    assert response.status_code == 200
    content = _text(response)
    assert "Only owners and members of Platform can change this page." in content
    assert "Declare a notice" not in content and "Set status" not in content
    assert stakeholder_client.get("/status-pages/new/").status_code == 403
    posts = [
        f"/status-pages/{world.page.pk}/edit/",
        f"/status-pages/{world.page.pk}/groups/new/",
        f"/status-pages/groups/{world.platform.pk}/move/",
        f"/status-pages/groups/{world.platform.pk}/delete/",
        f"/status-pages/components/{world.api_component.pk}/status/",
        f"/status-pages/{world.page.pk}/notices/new/",
    ]
    for url in posts:
        assert stakeholder_client.post(url, {"movement": "top", "name": "x"}).status_code == 403
    assert ComponentGroup.objects.filter(pk=world.platform.pk).exists()


def test_member_of_another_team_only_reads(world: PageWorld, org_a: Organization) -> None:
    other = factories.make_user(organization=org_a, email="web@a.example")
    factories.add_member(factories.make_team(organization=org_a, name="Web"), other)
    client = Client()
    client.force_login(other)
    assert client.get(f"/status-pages/{world.page.pk}/").status_code == 200
    url = f"/status-pages/{world.page.pk}/edit/"
    assert client.get(url).status_code == 403


def test_other_organizations_ids_answer_404(foreign: PageWorld, owner_client: Client) -> None:
    notice = services.notice_declare(page=foreign.page, by=None, title="Theirs")
    for url in (
        f"/status-pages/{foreign.page.pk}/",
        f"/status-pages/{foreign.page.pk}/edit/",
        f"/status-pages/groups/{foreign.platform.pk}/edit/",
        f"/status-pages/components/{foreign.api_component.pk}/edit/",
        f"/status-pages/notices/{notice.pk}/",
        f"/status-pages/notices/{notice.pk}/postmortem/",
    ):
        assert owner_client.get(url).status_code == 404, url


def test_edit_a_page(world: PageWorld, member_client: Client) -> None:
    url = f"/status-pages/{world.page.pk}/edit/"
    assert 'value="Acme status"' in _text(member_client.get(url))
    data = {
        "team": world.team.pk,
        "name": "Acme service status",
        "slug": "acme-status",
        "domain": "",
        "access_mode": AccessMode.OPSDUTY_MEMBERS,
        "calculate_uptime": "on",
    }
    response = member_client.post(url, data, follow=True)
    assert "Status page “Acme service status” saved." in _text(response)
    world.page.refresh_from_db()
    assert world.page.slug == "acme-status" and not world.page.enabled
    assert world.page.access_mode == AccessMode.OPSDUTY_MEMBERS


def test_rotating_the_secret_shows_it_once_and_stores_it_encrypted(
    world: PageWorld, member_client: Client
) -> None:
    StatusPage.objects.filter(pk=world.page.pk).update(access_mode=AccessMode.CUSTOM_BACKEND)
    edit = _text(member_client.get(f"/status-pages/{world.page.pk}/edit/"))
    assert "Make a secret" in edit
    response = member_client.post(f"/status-pages/{world.page.pk}/secret/rotate/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    secret = re.search(r'id="secret" value="([^"]+)"', _text(response))
    assert secret is not None
    world.page.refresh_from_db()
    assert world.page.access_secret == secret.group(1)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_secret FROM statuspages_statuspage WHERE id=%s", [world.page.pk]
        )
        stored = cursor.fetchone()[0]
    assert secret.group(1) not in stored  # encrypted at rest
    edit = _text(member_client.get(f"/status-pages/{world.page.pk}/edit/"))
    assert secret.group(1) not in edit and "Rotate secret" in edit
    logged = AuditLogEntry.objects.filter(object_pk=str(world.page.pk)).order_by("pk").last()
    assert logged is not None and "access_secret" in str(logged.changes)
    assert secret.group(1) not in str(logged.changes)  # recorded as hidden


def test_a_public_page_has_no_secret_to_rotate(world: PageWorld, member_client: Client) -> None:
    response = member_client.post(f"/status-pages/{world.page.pk}/secret/rotate/", follow=True)
    assert "Only a page signed in through your own login has a secret." in _text(response)
    world.page.refresh_from_db()
    assert world.page.access_secret == ""


# --- groups and components ----------------------------------------------------------------


def test_page_shows_groups_and_components_in_order(world: PageWorld, member_client: Client) -> None:
    content = _text(member_client.get(f"/status-pages/{world.page.pk}/"))
    a, b, c, d = _order(
        content, 'id="group-', "<strong>API</strong>", "<strong>Web</strong>", ">Payments</h3>"
    )
    assert a < b < c < d
    assert "Services: API" in content


def test_add_edit_and_move_groups(world: PageWorld, member_client: Client) -> None:
    page_url = f"/status-pages/{world.page.pk}/"
    response = member_client.post(
        f"/status-pages/{world.page.pk}/groups/new/", {"name": "Data", "description": "Stores"}
    )
    assert response.status_code == 302
    response = member_client.post(f"/status-pages/{world.page.pk}/groups/new/", {"name": ""})
    assert response.status_code == 422 and "This field is required." in _text(response)
    data = ComponentGroup.objects.get(name="Data")
    assert data.order == 2
    member_client.post(f"/status-pages/groups/{data.pk}/move/", {"movement": "top"})
    content = _text(member_client.get(page_url))
    assert _order(content, ">Data</h3>", ">Platform</h3>", ">Payments</h3>") == sorted(
        _order(content, ">Data</h3>", ">Platform</h3>", ">Payments</h3>")
    )
    member_client.post(f"/status-pages/groups/{world.platform.pk}/move/", {"movement": "bottom"})
    content = _text(member_client.get(page_url))
    assert content.index(">Payments</h3>") < content.index(">Platform</h3>")
    response = member_client.post(f"/status-pages/groups/{data.pk}/move/", {"movement": "sideways"})
    assert response.status_code == 422
    assert "Move it to the top, up, down or to the bottom." in _text(response)
    response = member_client.post(
        f"/status-pages/groups/{data.pk}/edit/", {"name": "Databases"}, follow=True
    )
    assert ">Databases</h3>" in _text(response)


def test_deleting_a_group_asks_first_and_notices_lose_its_components(
    world: PageWorld, member_client: Client
) -> None:
    notice = services.notice_declare(
        page=world.page, by=None, title="Down", component_ids=[world.api_component.pk]
    )
    url = f"/status-pages/groups/{world.platform.pk}/delete/"
    confirm = _text(member_client.get(url))
    assert "Its components go with it (API, Web)" in confirm
    assert "notices no longer list them as affected" in confirm
    response = member_client.post(url, follow=True)
    assert "Component group “Platform” deleted." in _text(response)
    assert not Component.objects.filter(pk=world.api_component.pk).exists()
    assert list(notice.components.all()) == []


def test_add_edit_move_delete_components(
    world: PageWorld, foreign: PageWorld, member_client: Client
) -> None:
    url = f"/status-pages/groups/{world.platform.pk}/components/new/"
    form = _text(member_client.get(url))
    assert "Checkout" in form and "Bravo" not in form  # the organization's services only
    response = member_client.post(url, {"name": "Search", "services": [foreign.api.pk]})
    assert response.status_code == 422 and "Select a valid choice" in _text(response)
    assert not Component.objects.filter(name="Search").exists()
    member_client.post(url, {"name": "Search", "services": [world.checkout.pk]})
    search = Component.objects.get(name="Search")
    assert list(search.services.all()) == [world.checkout]
    member_client.post(f"/status-pages/components/{search.pk}/move/", {"movement": "top"})
    content = _text(member_client.get(f"/status-pages/{world.page.pk}/"))
    assert content.index("<strong>Search</strong>") < content.index("<strong>API</strong>")
    member_client.post(
        f"/status-pages/components/{search.pk}/edit/", {"name": "Site search", "services": []}
    )
    search.refresh_from_db()
    assert search.name == "Site search" and not search.services.exists()
    confirm = _text(member_client.get(f"/status-pages/components/{search.pk}/delete/"))
    assert "Delete the component “Site search”?" in confirm
    member_client.post(f"/status-pages/components/{search.pk}/delete/")
    assert not Component.objects.filter(pk=search.pk).exists()


def test_set_a_component_status(world: PageWorld, member_client: Client) -> None:
    url = f"/status-pages/components/{world.web_component.pk}/status/"
    response = member_client.post(url, {"status": "partial_outage"}, follow=True)
    assert "Web: Partial outage." in _text(response)
    response = member_client.post(url, {"status": "on_fire"})
    assert response.status_code == 422 and "choose one of the statuses offered" in _text(response)
    world.web_component.refresh_from_db()
    assert world.web_component.shown_status == "partial_outage"


# --- notices ------------------------------------------------------------------------------


def _declare(world: PageWorld, **overrides: object) -> dict[str, object]:
    return {
        "title": "Elevated errors",
        "status": "investigating",
        "impact": "major",
        "body": "We are **looking**.",
        "components": [world.api_component.pk],
        "sync_component_status": "on",
        "publish": "now",
        **overrides,
    }


def test_declare_a_notice_and_see_its_timeline(world: PageWorld, member_client: Client) -> None:
    url = f"/status-pages/{world.page.pk}/notices/new/"
    response = member_client.post(url, _declare(world), follow=True)
    notice = Notice.objects.get()
    assert response.redirect_chain[-1][0] == f"/status-pages/notices/{notice.pk}/"
    content = _text(response)
    assert "“Elevated errors” published." in content
    assert "<strong>looking</strong>" in content and "Affected components</dt><dd>API" in content
    world.api_component.refresh_from_db()
    assert world.api_component.shown_status == "partial_outage"


def test_bad_notice_input_answers_422_and_saves_nothing(
    world: PageWorld, foreign: PageWorld, member_client: Client
) -> None:
    url = f"/status-pages/{world.page.pk}/notices/new/"
    for overrides, error in (
        ({"title": ""}, "This field is required."),
        ({"components": [foreign.api_component.pk]}, "Select a valid choice"),
        ({"impact": "apocalyptic"}, "Select a valid choice"),
        ({"incident": 999}, "There is no incident #999 that you can see."),
    ):
        response = member_client.post(url, _declare(world, **overrides))
        assert response.status_code == 422, overrides
        assert error in _text(response), overrides
    assert not Notice.objects.exists()


def test_a_draft_waits_until_published(world: PageWorld, member_client: Client) -> None:
    url = f"/status-pages/{world.page.pk}/notices/new/"
    member_client.post(url, _declare(world, publish="draft"))
    notice = Notice.objects.get()
    content = _text(member_client.get(f"/status-pages/notices/{notice.pk}/"))
    assert "Draft: customers do not see it" in content and "Post an update" not in content
    world.api_component.refresh_from_db()
    assert world.api_component.shown_status == "operational"
    response = member_client.post(f"/status-pages/notices/{notice.pk}/publish/", follow=True)
    assert "“Elevated errors” published." in _text(response)
    notice.refresh_from_db()
    assert not notice.draft


def test_post_updates_now_and_scheduled_then_resolve(
    world: PageWorld, member_client: Client
) -> None:
    notice = services.notice_declare(page=world.page, by=None, title="Slow", body="Hm")
    url = f"/status-pages/notices/{notice.pk}/updates/new/"
    response = member_client.post(url, {"body": "Found it", "status": "identified"}, follow=True)
    assert "Update posted." in _text(response)
    later = (timezone.now() + timedelta(hours=2)).replace(second=0, microsecond=0)
    data = {
        "body": "Fix ships",
        "status": "monitoring",
        "display_at": later.strftime("%Y-%m-%dT%H:%M"),
    }
    response = member_client.post(url, data, follow=True)
    content = _text(response)
    assert "not visible until then" in content
    assert f"scheduled for {later:%Y-%m-%d %H:%M} UTC, not visible yet" in content
    notice.refresh_from_db()
    assert notice.status == "identified"
    response = member_client.post(url, {"body": "", "display_at": "tomorrow"})
    assert response.status_code == 422
    assert "This field is required." in _text(response) and "Enter a valid date/time." in _text(
        response
    )
    assert NoticeUpdate.objects.filter(notice=notice).count() == 3
    response = member_client.post(
        f"/status-pages/notices/{notice.pk}/resolve/", {"body": "All good"}, follow=True
    )
    notice.refresh_from_db()
    assert notice.status == "resolved" and "All good" in _text(response)
    assert "Post an update" not in _text(response)


def test_schedule_maintenance(world: PageWorld, member_client: Client) -> None:
    url = f"/status-pages/{world.page.pk}/maintenance/new/"
    start = timezone.now() + timedelta(days=1)
    data = {
        "title": "Database upgrade",
        "body": "Short read-only window",
        "components": [world.checkout_component.pk],
        "scheduled_start": start.strftime("%Y-%m-%dT%H:%M"),
        "scheduled_end": (start - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
    }
    response = member_client.post(url, data)
    assert response.status_code == 422 and "The end must be after the start." in _text(response)
    assert not Notice.objects.exists()
    data["scheduled_end"] = (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    response = member_client.post(url, data, follow=True)
    assert "Maintenance “Database upgrade” scheduled." in _text(response)
    notice = Notice.objects.get()
    assert notice.status == "scheduled" and notice.due_at is not None
    assert "Complete maintenance" in _text(response)


# --- postmortems --------------------------------------------------------------------------


def test_postmortem_save_publish_and_unpublish(world: PageWorld, member_client: Client) -> None:
    notice = services.notice_declare(page=world.page, by=None, title="Slow")
    url = f"/status-pages/notices/{notice.pk}/postmortem/"
    assert "Not written yet." in _text(member_client.get(url))
    response = member_client.post(url, {"body": "# What happened", "action": "save"}, follow=True)
    assert "Postmortem saved." in _text(response) and "Saved, not published" in _text(response)
    response = member_client.post(
        url, {"body": "# What happened", "action": "publish"}, follow=True
    )
    assert "Postmortem published." in _text(response)
    assert Postmortem.objects.get().published
    response = member_client.post(url, {"body": "# Redo", "action": "unpublish"}, follow=True)
    postmortem = Postmortem.objects.get()
    assert not postmortem.published and postmortem.body == "# Redo"
    assert "Not published" in _text(member_client.get(f"/status-pages/notices/{notice.pk}/"))


def test_start_from_a_draft_fills_the_editor(world: PageWorld, member_client: Client) -> None:
    notice = services.notice_declare(
        page=world.page, by=None, title="Slow", component_ids=[world.api_component.pk]
    )
    content = _text(member_client.get(f"/status-pages/notices/{notice.pk}/postmortem/?draft=1"))
    assert "# Postmortem: Slow" in content and "## What was affected" in content
    assert not Postmortem.objects.exists()


def test_preview_renders_markdown_and_neutralizes_scripts(
    world: PageWorld, member_client: Client
) -> None:
    notice = services.notice_declare(page=world.page, by=None, title="Slow")
    body = (
        "## Cause\n\n**bold** <script>alert(1)</script>\n\n"
        '<img src=x onerror="alert(2)">\n\n[click](javascript:alert(3))'
    )
    url = f"/status-pages/notices/{notice.pk}/postmortem/preview/"
    response = member_client.post(url, {"body": body}, headers=HTMX)
    content = _text(response)
    assert response.status_code == 200 and content.startswith('<div id="postmortem-preview"')
    assert "<h2>Cause</h2>" in content and "<strong>bold</strong>" in content
    assert "<script" not in content and "<img" not in content
    assert 'href="javascript:' not in content
    full = _text(member_client.post(url, {"body": body}))  # without htmx: the whole editor
    assert "<h2>Cause</h2>" in full and "Start from a draft" in full
    assert not Postmortem.objects.exists()


# --- tell customers -----------------------------------------------------------------------


def test_tell_customers_from_an_incident(world: PageWorld, member_client: Client) -> None:
    incident = factories.make_incident(service=world.api, summary="API 500s")
    page = _text(member_client.get(f"/incidents/{incident.pk}/"))
    assert "Tell customers" in page and 'value="API 500s"' in page
    data = {
        "tell-status_page": world.page.pk,
        "tell-title": "API errors",
        "tell-impact": "critical",
        "tell-body": "Looking",
        "tell-derive_affected_components": "on",
        "tell-sync_component_status": "on",
    }
    response = member_client.post(f"/status-pages/tell-customers/{incident.pk}/", data, follow=True)
    notice = Notice.objects.get()
    assert notice.incident == incident and list(notice.components.all()) == [world.api_component]
    assert "Customers were told on Acme status: “API errors” (1 component affected)." in _text(
        response
    )
    world.api_component.refresh_from_db()
    assert world.api_component.shown_status == "major_outage"
    note = IncidentNote.objects.get(incident=incident)
    assert "Customers were told on the status page Acme status" in note.text


def test_tell_customers_refuses_bad_input_and_people_without_a_page(
    world: PageWorld,
    foreign: PageWorld,
    member_client: Client,
    stakeholder: User,
    stakeholder_client: Client,
    owner_client: Client,
) -> None:
    factories.add_member(world.team, stakeholder)  # sees the team's incidents, manages nothing
    incident = factories.make_incident(service=world.api)
    url = f"/status-pages/tell-customers/{incident.pk}/"
    response = member_client.post(url, {"tell-status_page": foreign.page.pk, "tell-title": ""})
    assert response.status_code == 422
    assert "Select a valid choice" in _text(response) and "This field is required." in _text(
        response
    )
    seen = stakeholder_client.get(f"/incidents/{incident.pk}/")
    assert seen.status_code == 200 and "Tell customers" not in _text(seen)
    assert stakeholder_client.post(url, {}).status_code == 403
    theirs = factories.make_incident(service=foreign.api)
    assert owner_client.get(f"/status-pages/tell-customers/{theirs.pk}/").status_code == 404
    assert not Notice.objects.exists()
