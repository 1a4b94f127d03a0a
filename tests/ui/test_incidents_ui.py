"""Incident pages: the list (filters, visibility, live fragment, bulk actions), the
detail actions (success, refusal, htmx), the archive setting; tenancy and permissions."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from incidents import services
from incidents.models import Incident, IncidentLogEntry, IncidentNote, Status, Urgency
from opsduty.models import Label, Organization, Role, Service, Team, User
from tests import factories
from tests.conftest import session_client_for
from tests.ui.helpers import HTMX

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(team_a: Team, owner: User, member: User) -> Team:
    factories.add_member(team_a, owner)
    factories.add_member(team_a, member)
    return team_a


@pytest.fixture
def api(team: Team) -> Service:
    return factories.make_service(team=team, name="API")


@pytest.fixture
def incident(api: Service) -> Incident:
    return factories.make_incident(
        service=api, summary="Disk full on db-1", payload={"host": "db-1", "disk": 97}
    )


@pytest.fixture
def foreign_incident(outsider: User, team_b: Team) -> Incident:
    factories.add_member(team_b, outsider)
    service = factories.make_service(team=team_b, name="Bravo service")
    return factories.make_incident(service=service, summary="Bravo secret incident")


@pytest.fixture
def lone_member(org_a: Organization) -> User:
    """A member of org A in no team: sees no service and no incident."""
    return factories.make_user(organization=org_a, email="lone@a.example", role=Role.MEMBER)


def _reload(incident: Incident) -> Incident:
    return Incident.objects.get(pk=incident.pk)


def _url(incident: Incident, action: str = "") -> str:
    return f"/incidents/{incident.pk}/" + (f"{action}/" if action else "")


# --- list -------------------------------------------------------------------------------------


def test_list_shows_visible_incidents_newest_first(
    api: Service, member_client: Client, foreign_incident: Incident
) -> None:
    first = factories.make_incident(service=api, summary="Older problem")
    second = factories.make_incident(service=api, summary="Newer problem", urgency=Urgency.LOW)
    services.incident_add_label(incident=second, by=None, name="database")
    response = member_client.get("/incidents/")
    content = response.content.decode()
    assert response.status_code == 200
    assert content.index("Newer problem") < content.index("Older problem")
    assert f"#{first.number}" in content and "Triggered" in content and "Low" in content
    assert "database" in content and "API" in content and "just now" in content
    assert "Bravo secret incident" not in content


def test_member_outside_the_team_sees_neither_list_nor_detail(
    incident: Incident, lone_member: User
) -> None:
    client = session_client_for(lone_member)
    assert "Disk full" not in client.get("/incidents/").content.decode()
    assert client.get(_url(incident)).status_code == 404
    assert client.post(_url(incident, "acknowledge")).status_code == 404
    assert _reload(incident).status == Status.TRIGGERED


def test_outsider_sees_no_incident_of_another_organization(
    incident: Incident, foreign_incident: Incident, outsider_client: Client, owner_client: Client
) -> None:
    content = outsider_client.get("/incidents/").content.decode()
    assert "Bravo secret incident" in content and "Disk full" not in content
    for action in ("", "acknowledge", "resolve", "notes", "silence", "labels/add"):
        method = outsider_client.get if not action else outsider_client.post
        assert method(_url(incident, action)).status_code == 404
        owner_method = owner_client.get if not action else owner_client.post
        assert owner_method(_url(foreign_incident, action)).status_code == 404
    assert _reload(incident).status == Status.TRIGGERED
    assert _reload(foreign_incident).status == Status.TRIGGERED


@pytest.fixture
def spread(api: Service, team: Team, owner: User) -> dict[str, Incident]:
    """Incidents differing in one attribute each, for the filter tests."""
    other_team = factories.make_team(organization=team.organization, name="Web")
    web = factories.make_service(team=other_team, name="Web app")
    made = {
        "acked": factories.make_incident(service=api, summary="Acked one"),
        "resolved": factories.make_incident(service=api, summary="Resolved one"),
        "low": factories.make_incident(service=api, summary="Low one", urgency=Urgency.LOW),
        "labelled": factories.make_incident(service=api, summary="Labelled one"),
        "web": factories.make_incident(service=web, summary="Web one"),
        "old": factories.make_incident(service=api, summary="Old one"),
    }
    services.incident_acknowledge(incident=made["acked"], by=owner)
    services.incident_resolve(incident=made["resolved"], by=owner)
    services.incident_add_label(incident=made["labelled"], by=owner, name="db")
    old_time = timezone.now() - timedelta(days=10)
    Incident.objects.filter(pk=made["old"].pk).update(created_at=old_time)
    return made


def _summaries(client: Client, query: str) -> set[str]:
    content = client.get(f"/incidents/?{query}").content.decode()
    return {
        s for s in ("Acked", "Resolved", "Low", "Labelled", "Web", "Old") if f"{s} one" in content
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=acknowledged", {"Acked"}),
        ("status=acknowledged&status=resolved", {"Acked", "Resolved"}),
        ("urgency=low", {"Low"}),
        ("label=db", {"Labelled"}),
    ],
)
def test_list_filters_narrow(
    spread: dict[str, Incident], owner_client: Client, query: str, expected: set[str]
) -> None:
    assert _summaries(owner_client, query) == expected


def test_list_filters_by_service_and_team(
    spread: dict[str, Incident], owner_client: Client, api: Service
) -> None:
    web = spread["web"].service
    assert _summaries(owner_client, f"service={web.pk}") == {"Web"}
    assert _summaries(owner_client, f"team={web.team_id}") == {"Web"}
    assert "Web" not in _summaries(owner_client, f"service={api.pk}")


def test_list_filters_by_time_range(spread: dict[str, Incident], owner_client: Client) -> None:
    today = timezone.now().date()
    old_day = (timezone.now() - timedelta(days=10)).date()
    assert _summaries(owner_client, f"until={old_day.isoformat()}") == {"Old"}
    assert "Old" not in _summaries(owner_client, f"since={today.isoformat()}")
    assert len(_summaries(owner_client, f"since={today.isoformat()}")) == 5


def test_list_paginates_and_keeps_filters_in_page_links(api: Service, owner_client: Client) -> None:
    for n in range(51):
        factories.make_incident(service=api, summary=f"Bulk {n}")
    page_one = owner_client.get("/incidents/?status=triggered").content.decode()
    assert page_one.count('name="incident"') == 50
    assert "51 incidents match these filters." in page_one
    older = re.search(r'href="(\?status=triggered&amp;after=[^"]+)" rel="next"', page_one)
    assert older is not None, "the Older link keeps the filter"
    page_two = owner_client.get("/incidents/" + html.unescape(older.group(1))).content.decode()
    assert page_two.count('name="incident"') == 1
    assert "Bulk 0<" in page_two
    assert 'rel="next"' not in page_two
    newer = re.search(r'href="([^"]+)" rel="prev"', page_two)
    assert newer is not None
    back = owner_client.get("/incidents/" + html.unescape(newer.group(1))).content.decode()
    assert back.count('name="incident"') == 50 and "Bulk 50<" in back and "Bulk 0<" not in back


def test_live_fragment_returns_rows_only_and_keeps_filters(
    spread: dict[str, Incident], owner_client: Client
) -> None:
    response = owner_client.get("/incidents/rows/?status=acknowledged", headers=HTMX)
    content = response.content.decode()
    assert response.status_code == 200
    assert "<tr" in content and "<html" not in content and "<table" not in content
    assert "Acked one" in content and "Low one" not in content
    page = owner_client.get("/incidents/?status=acknowledged").content.decode()
    assert 'hx-get="/incidents/rows/?status=acknowledged"' in page
    # Refreshed on live updates (static/js/live.js), not on a timer.
    assert 'hx-trigger="live"' in page and 'data-live="incidents"' in page


def test_bulk_acknowledge_changes_the_selected(api: Service, member_client: Client) -> None:
    one, two = (factories.make_incident(service=api, summary=s) for s in ("one", "two"))
    untouched = factories.make_incident(service=api, summary="three")
    response = member_client.post(
        "/incidents/bulk/",
        {"action": "acknowledge", "incident": [one.pk, two.pk], "next": "/incidents/?urgency=high"},
        follow=True,
    )
    assert response.redirect_chain[0][0] == "/incidents/?urgency=high"
    assert "Acknowledged 2 incidents." in response.content.decode()
    assert _reload(one).status == _reload(two).status == Status.ACKNOWLEDGED
    assert _reload(untouched).status == Status.TRIGGERED


def test_bulk_resolve_reports_the_refused_with_reasons(
    api: Service, owner: User, member_client: Client, foreign_incident: Incident
) -> None:
    open_one = factories.make_incident(service=api, summary="open")
    done = factories.make_incident(service=api, summary="done")
    services.incident_resolve(incident=done, by=owner)
    response = member_client.post(
        "/incidents/bulk/",
        {"action": "resolve", "incident": [open_one.pk, done.pk, foreign_incident.pk]},
        follow=True,
    )
    content = response.content.decode()
    assert "Resolved 1 incident." in content
    assert f"#{done.number} not changed: The incident is already resolved." in content
    assert _reload(open_one).status == Status.RESOLVED
    assert _reload(foreign_incident).status == Status.TRIGGERED


def test_bulk_without_selection_is_an_error(incident: Incident, member_client: Client) -> None:
    response = member_client.post("/incidents/bulk/", {"action": "resolve"}, follow=True)
    assert "Select at least one incident." in response.content.decode()
    assert _reload(incident).status == Status.TRIGGERED


def test_stakeholder_cannot_bulk_act(
    incident: Incident, team: Team, stakeholder: User, stakeholder_client: Client
) -> None:
    factories.add_member(team, stakeholder)
    response = stakeholder_client.post(
        "/incidents/bulk/", {"action": "acknowledge", "incident": [incident.pk]}, follow=True
    )
    assert "You cannot act on this incident." in response.content.decode()
    assert _reload(incident).status == Status.TRIGGERED


# --- detail -----------------------------------------------------------------------------------


def test_detail_shows_facts_and_timeline_with_raw_payload(
    incident: Incident, member: User, member_client: Client
) -> None:
    services.incident_add_note(incident=incident, by=member, text="Looking at it")
    content = member_client.get(_url(incident)).content.decode()
    assert "Disk full on db-1" in content and "Triggered" in content
    assert f'href="/services/{incident.service_id}/"' in content
    assert "Looking at it" in content and "Raw payload" in content
    pretty = json.dumps({"disk": 97, "host": "db-1"}, indent=2).replace('"', "&quot;")
    assert pretty in content
    assert content.index("Incident created by an event") < content.index("Looking at it")  # oldest
    assert f"/incidents/{incident.pk}/acknowledge/" in content
    assert f"/incidents/{incident.pk}/reopen/" not in content
    assert "{#" not in content and "#}" not in content  # no template comment leaks


def test_acknowledge_redirects_back_with_a_message(
    incident: Incident, member_client: Client
) -> None:
    response = member_client.post(_url(incident, "acknowledge"))
    assert response.status_code == 302 and response["Location"] == _url(incident)
    assert "acknowledged" in member_client.get(_url(incident)).content.decode()
    assert _reload(incident).status == Status.ACKNOWLEDGED


def test_htmx_action_returns_the_refreshed_fragment(
    incident: Incident, member_client: Client
) -> None:
    response = member_client.post(_url(incident, "acknowledge"), headers=HTMX)
    content = response.content.decode()
    assert response.status_code == 200
    assert 'id="incident-body"' in content and "<html" not in content
    assert "Acknowledged" in content and 'hx-swap-oob="innerHTML"' in content
    assert f"/incidents/{incident.pk}/unacknowledge/" in content


def test_acknowledging_a_resolved_incident_is_refused_and_changes_nothing(
    incident: Incident, owner: User, member_client: Client
) -> None:
    services.incident_resolve(incident=incident, by=owner)
    log_count = IncidentLogEntry.objects.filter(incident=incident).count()
    response = member_client.post(_url(incident, "acknowledge"))
    assert response.status_code == 422
    assert "Cannot acknowledge an incident that is resolved." in response.content.decode()
    assert _reload(incident).status == Status.RESOLVED
    assert IncidentLogEntry.objects.filter(incident=incident).count() == log_count
    htmx = member_client.post(_url(incident, "acknowledge"), headers=HTMX)
    assert htmx.status_code == 422 and 'id="incident-body"' in htmx.content.decode()


def test_unacknowledge_resolve_with_note_and_reopen(
    incident: Incident, member: User, member_client: Client
) -> None:
    services.incident_acknowledge(incident=incident, by=member)
    assert member_client.post(_url(incident, "unacknowledge")).status_code == 302
    assert _reload(incident).status == Status.TRIGGERED
    response = member_client.post(_url(incident, "resolve"), {"note": "Freed space"})
    assert response.status_code == 302
    assert _reload(incident).status == Status.RESOLVED
    assert IncidentNote.objects.get(incident=incident).text == "Freed space"
    assert member_client.post(_url(incident, "reopen")).status_code == 302
    assert _reload(incident).status == Status.TRIGGERED


def test_silence_for_minutes(incident: Incident, member_client: Client) -> None:
    response = member_client.post(_url(incident, "silence"), {"minutes": "30"})
    assert response.status_code == 302
    silenced = _reload(incident)
    assert silenced.status == Status.SILENCED
    assert silenced.silenced_until is not None
    assert timedelta(minutes=29) < silenced.silenced_until - timezone.now() <= timedelta(minutes=30)


@pytest.mark.parametrize("minutes", ["", "0", "abc"])
def test_silence_without_valid_minutes_is_an_error(
    incident: Incident, member_client: Client, minutes: str
) -> None:
    response = member_client.post(_url(incident, "silence"), {"minutes": minutes})
    assert response.status_code == 422
    assert 'class="message message-error"' in response.content.decode()
    assert _reload(incident).status == Status.TRIGGERED


def test_add_note_and_note_over_the_limit(incident: Incident, member_client: Client) -> None:
    assert member_client.post(_url(incident, "notes"), {"text": "Rebooting"}).status_code == 302
    too_long = "x" * 10_001
    response = member_client.post(_url(incident, "notes"), {"text": too_long})
    assert response.status_code == 422
    assert "at most 10000 characters" in response.content.decode()
    assert list(IncidentNote.objects.filter(incident=incident).values_list("text", flat=True)) == [
        "Rebooting"
    ]
    assert member_client.post(_url(incident, "notes"), {"text": "  "}).status_code == 422


def test_attach_and_detach(incident: Incident, api: Service, member_client: Client) -> None:
    parent = factories.make_incident(service=api, summary="Parent")
    response = member_client.post(_url(incident, "attach"), {"number": parent.number})
    assert response.status_code == 302
    assert _reload(incident).parent_id == parent.pk
    page = member_client.get(_url(incident)).content.decode()
    assert f"#{parent.number} Parent" in page and "/detach/" in page
    assert member_client.post(_url(incident, "detach")).status_code == 302
    assert _reload(incident).parent_id is None


def test_attach_to_an_unknown_or_foreign_number_is_refused(
    incident: Incident, foreign_incident: Incident, member_client: Client
) -> None:
    for number in (999, foreign_incident.number + 100):
        response = member_client.post(_url(incident, "attach"), {"number": number})
        assert response.status_code == 422
        assert f"There is no incident #{number} that you can see." in response.content.decode()
    assert _reload(incident).parent_id is None


def test_urgency_and_labels(incident: Incident, member_client: Client) -> None:
    assert member_client.post(_url(incident, "urgency"), {"urgency": "low"}).status_code == 302
    assert _reload(incident).urgency == Urgency.LOW
    assert member_client.post(_url(incident, "urgency"), {"urgency": "urgent"}).status_code == 422
    Label.objects.create(organization=incident.organization, name="db", group="Component")
    page = member_client.get(_url(incident)).content.decode()
    assert '<option value="db">Component · db</option>' in page  # chosen from the list
    assert member_client.post(_url(incident, "labels/add"), {"name": "db"}).status_code == 302
    assert list(incident.labels.values_list("name", flat=True)) == ["db"]
    assert member_client.post(_url(incident, "labels/add"), {"name": "x" * 65}).status_code == 422
    refused = member_client.post(_url(incident, "labels/add"), {"name": "made-up"})
    assert refused.status_code == 422
    assert "No such label: made-up. Create it on the labels page." in refused.content.decode()
    assert not Label.objects.filter(name="made-up").exists()
    assert member_client.post(_url(incident, "labels/remove"), {"name": "db"}).status_code == 302
    assert not incident.labels.exists()


def test_stakeholder_of_the_team_reads_but_cannot_act(
    incident: Incident, team: Team, stakeholder: User, stakeholder_client: Client
) -> None:
    factories.add_member(team, stakeholder)
    page = stakeholder_client.get(_url(incident)).content.decode()
    assert "Read-only" in page and "/acknowledge/" not in page
    assert stakeholder_client.post(_url(incident, "acknowledge")).status_code == 403
    assert _reload(incident).status == Status.TRIGGERED


def test_actions_need_post(incident: Incident, member_client: Client) -> None:
    assert member_client.get(_url(incident, "acknowledge")).status_code == 405


# --- archive ----------------------------------------------------------------------------------


def test_archive_hides_old_incidents_and_resolves_open_ones(
    api: Service, owner_client: Client, foreign_incident: Incident
) -> None:
    old = factories.make_incident(service=api, summary="Ancient outage")
    recent = factories.make_incident(service=api, summary="Fresh outage")
    Incident.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=30))
    Incident.objects.filter(pk=foreign_incident.pk).update(
        created_at=timezone.now() - timedelta(days=30)
    )
    before = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = owner_client.post("/settings/archive/", {"before": before}, follow=True)
    assert "Archived 1 incident." in response.content.decode()
    archived = _reload(old)
    assert archived.archived_at is not None and archived.status == Status.RESOLVED
    listing = owner_client.get("/incidents/").content.decode()
    assert "Ancient outage" not in listing and "Fresh outage" in listing
    assert _reload(recent).archived_at is None
    assert _reload(foreign_incident).archived_at is None
    assert _reload(foreign_incident).status == Status.TRIGGERED
    detail = owner_client.get(_url(old))
    assert detail.status_code == 200 and "was archived on" in detail.content.decode()


def test_archive_is_for_owners_only(
    incident: Incident, member_client: Client, owner_client: Client
) -> None:
    before = timezone.now().strftime("%Y-%m-%dT%H:%M")
    assert member_client.get("/settings/archive/").status_code == 403
    assert member_client.post("/settings/archive/", {"before": before}).status_code == 403
    assert _reload(incident).archived_at is None
    assert "/settings/archive/" in owner_client.get("/incidents/").content.decode()
    assert "/settings/archive/" not in member_client.get("/incidents/").content.decode()


def test_archive_refuses_a_future_time(incident: Incident, owner_client: Client) -> None:
    future = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = owner_client.post("/settings/archive/", {"before": future})
    assert response.status_code == 422
    assert "Choose a time in the past." in response.content.decode()
    assert owner_client.post("/settings/archive/", {"before": ""}).status_code == 422
    assert _reload(incident).archived_at is None


def test_home_goes_to_the_incident_list(owner_client: Client) -> None:
    assert owner_client.get("/", follow=True).redirect_chain[-1][0] == "/incidents/"
