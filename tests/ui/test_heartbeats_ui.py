"""Heartbeat pages through the Django test client: the list with each environment's state
badge and last check-in (filter by service, htmx refresh), create / edit / delete with
per-field errors, the heartbeat page (check-in URLs, curl, environments, open incident,
check-in history), the environment editor (all or nothing, errors per row, "Add a row",
per-environment delete, copy settings to all others); who may edit (403), who may see (404),
other organizations 404.

Time is frozen: NOW is Monday 4 January 2027, 08:00 UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client

from incidents.models import Status
from opsduty.models import Organization, Role, Service, Team, User
from signals.heartbeats import services as hb
from signals.heartbeats.models import Heartbeat, HeartbeatCheckIn, HeartbeatState
from signals.heartbeats.views import checkin_url
from tests import factories
from tests.conftest import session_client_for
from tests.ui.helpers import HTMX

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def team(team_a: Team, member: User, stakeholder: User) -> Team:
    for user in (member, stakeholder):
        factories.add_member(team_a, user)
    return team_a


@pytest.fixture
def service(team: Team) -> Service:
    return factories.make_service(team=team, name="Billing")


@pytest.fixture
def heartbeat(service: Service) -> Heartbeat:
    for name in ("backup", "db"):
        factories.make_label(organization=service.organization, name=name)
    return hb.heartbeat_create(
        service=service, by=None, name="Nightly backup", labels=["backup", "db"]
    )


def interval(seconds: int, timeout: int = 0, **changes: Any) -> hb.StateInput:
    return hb.StateInput(
        type="interval", interval_seconds=seconds, timeout_seconds=timeout, **changes
    )


def add_state(
    heartbeat: Heartbeat, environment: str, data: hb.StateInput, at: datetime = NOW
) -> HeartbeatState:
    with time_machine.travel(at, tick=False):
        return hb.state_create(heartbeat=heartbeat, by=None, environment=environment, data=data)


def check_in(state: HeartbeatState, at: datetime, **details: Any) -> HeartbeatState:
    return hb.checkin(state=state, at=at, **details)


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def row_of(html: str, marker: str, end: str = "</tr>") -> str:
    """The markup from `marker` to the end of its row."""
    assert marker in html, marker
    return html.split(marker, 1)[1].split(end, 1)[0]


def editor_post(rows: list[dict[str, Any]], initial: int) -> dict[str, Any]:
    """The environment editor's POST: rows in order, the first `initial` existing ones."""
    data: dict[str, Any] = {
        "env-TOTAL_FORMS": str(len(rows)),
        "env-INITIAL_FORMS": str(initial),
        "env-MIN_NUM_FORMS": "0",
        "env-MAX_NUM_FORMS": "100",
    }
    for index, row in enumerate(rows):
        values = {
            "environment": "",
            "type": "interval",
            "cron_expression": "",
            "cron_timezone": "UTC",
            "interval_seconds": "",
            "timeout_seconds": "0",
            "resolve_incident": "on",
            **row,
        }
        for name, value in values.items():
            if value is not None:
                data[f"env-{index}-{name}"] = value
    return data


def existing_row(state: HeartbeatState, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "environment": state.environment,
        "type": state.type,
        "cron_expression": state.cron_expression or "",
        "cron_timezone": state.cron_timezone or "UTC",
        "interval_seconds": str(state.interval_seconds or ""),
        "timeout_seconds": str(state.timeout_seconds),
        "muted": "on" if state.muted else None,
        "resolve_incident": "on" if state.resolve_incident else None,
    }
    row.update(changes)
    return row


# --- list -----------------------------------------------------------------------------------


def five_states(heartbeat: Heartbeat) -> dict[str, HeartbeatState]:
    """One environment in each state at NOW."""
    up = add_state(heartbeat, "up-env", interval(3600), NOW - timedelta(hours=2))
    check_in(up, NOW - timedelta(minutes=10))
    late = add_state(heartbeat, "late-env", interval(600, 600), NOW - timedelta(hours=2))
    check_in(late, NOW - timedelta(minutes=15))  # expected 5 min ago, deadline in 5 min
    down = add_state(heartbeat, "down-env", interval(60), NOW - timedelta(hours=1))
    hb.misses_detect(now=NOW - timedelta(minutes=30))
    muted = add_state(heartbeat, "muted-env", interval(60, muted=True), NOW - timedelta(hours=1))
    waiting = add_state(heartbeat, "waiting-env", interval(3600), NOW - timedelta(minutes=1))
    return {"up": up, "late": late, "down": down, "muted": muted, "waiting": waiting}


def test_list_shows_each_environments_state_and_last_checkin(
    heartbeat: Heartbeat, member_client: Client
) -> None:
    states = five_states(heartbeat)
    listing = page(member_client, "/heartbeats/")
    assert 'aria-current="page">Heartbeats' in listing
    row = row_of(listing, f'data-heartbeat="{heartbeat.pk}"')
    assert "Nightly backup" in row and "Billing" in row
    for status in ("up", "late", "down", "muted", "waiting"):
        env = row_of(row, f'data-environment="{status}-env"', "</li>")
        assert f'class="badge hb-{status}"' in env, (status, env)
        assert f">{status}</span>" in env
    up = row_of(row, 'data-environment="up-env"', "</li>")
    assert "10\xa0minutes ago" in up and "2027-01-04 07:50:00 UTC" in up
    assert "never checked in" in row_of(row, 'data-environment="waiting-env"', "</li>")
    states["down"].refresh_from_db()  # the miss detector marked it down, not the clock alone
    assert states["down"].missed_at is not None


def test_list_filters_by_service_and_refreshes_the_table_for_htmx(
    heartbeat: Heartbeat, team: Team, member_client: Client
) -> None:
    other = factories.make_service(team=team, name="Search")
    hb.heartbeat_create(service=other, by=None, name="Reindex")
    both = page(member_client, "/heartbeats/")
    assert "Nightly backup" in both and "Reindex" in both
    only = page(member_client, f"/heartbeats/?service={other.pk}")
    assert "Reindex" in only and "Nightly backup" not in only
    assert f'<option value="{other.pk}" selected>Search</option>' in only
    fragment = member_client.get(f"/heartbeats/?service={other.pk}", headers=HTMX)
    body = fragment.content.decode()
    assert fragment.status_code == 200
    assert 'id="heartbeat-table"' in body and "<html" not in body and "Reindex" in body
    assert page(member_client, "/heartbeats/?service=junk").count("data-heartbeat=") == 2


def test_list_shows_only_heartbeats_of_visible_services(
    heartbeat: Heartbeat, org_a: Organization, outsider_client: Client, owner_client: Client
) -> None:
    hidden_service = factories.make_service(team=factories.make_team(organization=org_a))
    hb.heartbeat_create(service=hidden_service, by=None, name="Hidden job")
    other = factories.make_user(organization=org_a, email="o@a.example", role=Role.MEMBER)
    listing = page(session_client_for(other), "/heartbeats/")
    assert "Nightly backup" not in listing and "Hidden job" not in listing
    assert "New heartbeat" not in listing  # manages no service
    owner_listing = page(owner_client, "/heartbeats/")
    assert "Nightly backup" in owner_listing and "Hidden job" in owner_listing
    assert "Nightly backup" not in page(outsider_client, "/heartbeats/")


# --- create, edit, delete -------------------------------------------------------------------


def test_member_creates_a_heartbeat(service: Service, member_client: Client) -> None:
    organization = service.organization
    billing, nightly = (
        factories.make_label(organization=organization, name=name)
        for name in ("billing", "nightly")
    )
    export = factories.make_label(organization=organization, name="export", team=service.team)
    elsewhere = factories.make_team(organization=organization, name="Elsewhere")
    factories.make_label(organization=organization, name="their-label", team=elsewhere)
    form = page(member_client, f"/heartbeats/new/?service={service.pk}")
    assert f'<option value="{service.pk}" selected>Billing (Platform)</option>' in form
    assert "export (team Platform)" in form and "their-label" not in form
    response = member_client.post(
        "/heartbeats/new/",
        {
            "service": service.pk,
            "name": " Nightly export ",
            "description": "Exports invoices",
            "link": "https://wiki.example.com/export",
            "incident_urgency": "low",
            "labels": [billing.pk, nightly.pk, export.pk],
        },
    )
    heartbeat = Heartbeat.objects.get(name="Nightly export")
    assert response.status_code == 302
    assert response["Location"] == f"/heartbeats/{heartbeat.pk}/"
    assert heartbeat.service == service and heartbeat.incident_urgency == "low"
    assert sorted(heartbeat.labels) == ["billing", "export", "nightly"]
    assert heartbeat.link == "https://wiki.example.com/export"
    detail = page(member_client, f"/heartbeats/{heartbeat.pk}/")
    assert "You can edit this heartbeat." in detail and "No environments yet" in detail


def test_bad_heartbeat_input_answers_422_per_field(
    heartbeat: Heartbeat, service: Service, member_client: Client
) -> None:
    data = {"service": service.pk, "name": "Nightly backup", "incident_urgency": "high"}
    response = member_client.post("/heartbeats/new/", data | {"link": "nope"})
    assert response.status_code == 422
    body = response.content.decode()
    assert "This service already has a heartbeat with this name." in body
    assert "Enter a valid URL, e.g. https://wiki.example.com/runbook." in body
    assert body.index("already has a heartbeat") > body.index('name="name"')
    response = member_client.post("/heartbeats/new/", data | {"name": "  "})
    assert response.status_code == 422 and "This field is required." in response.content.decode()
    response = member_client.post("/heartbeats/new/", data | {"incident_urgency": "urgent"})
    assert response.status_code == 422 and "Select a valid choice" in response.content.decode()
    assert Heartbeat.objects.count() == 1


def test_service_choice_is_limited_to_services_the_user_manages(
    service: Service, org_a: Organization, member_client: Client
) -> None:
    foreign = factories.make_service(
        team=factories.make_team(organization=org_a, name="Other"), name="Theirs"
    )
    form = page(member_client, "/heartbeats/new/")
    assert "Billing (Platform)" in form and "Theirs" not in form
    response = member_client.post("/heartbeats/new/", {"service": foreign.pk, "name": "Sneaky"})
    assert response.status_code == 422 and "Select a valid choice" in response.content.decode()
    assert not Heartbeat.objects.filter(name="Sneaky").exists()


def test_edit_changes_fields_and_moves_to_another_service(
    heartbeat: Heartbeat, team: Team, member_client: Client
) -> None:
    other = factories.make_service(team=team, name="Search")
    form = page(member_client, f"/heartbeats/{heartbeat.pk}/edit/")
    assert 'value="Nightly backup"' in form
    assert form.count("checked") == 2  # the heartbeat's two labels, ticked
    response = member_client.post(
        f"/heartbeats/{heartbeat.pk}/edit/",
        {
            "service": other.pk,
            "name": "Backup",
            "description": "",
            "link": "",
            "incident_urgency": "high",
        },
    )
    assert response.status_code == 302
    heartbeat.refresh_from_db()
    assert (heartbeat.name, heartbeat.service, heartbeat.labels) == ("Backup", other, [])
    assert heartbeat.link is None


def test_delete_asks_then_deletes_with_environments(
    heartbeat: Heartbeat, member_client: Client
) -> None:
    state = add_state(heartbeat, "prod", interval(60))
    check_in(state, NOW)
    confirm = page(member_client, f"/heartbeats/{heartbeat.pk}/delete/")
    assert "Delete the heartbeat “Nightly backup”?" in confirm
    response = member_client.post(f"/heartbeats/{heartbeat.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == "/heartbeats/"
    assert not Heartbeat.objects.exists() and not HeartbeatCheckIn.objects.exists()


# --- the heartbeat page ---------------------------------------------------------------------


def test_checkin_urls_with_and_without_environment_and_curl(
    heartbeat: Heartbeat, member_client: Client
) -> None:
    add_state(heartbeat, "prod:eu", interval(60))
    key = heartbeat.public_primary_key
    detail = page(member_client, f"/heartbeats/{heartbeat.pk}/")
    with_env = f"http://testserver/heartbeats/checkin/{key}/prod:eu/"
    without = f"http://testserver/heartbeats/checkin/{key}/"
    assert f'value="{with_env}"' in detail and f'value="{without}"' in detail
    assert f'value="curl -fsS -m 10 --retry 3 {with_env}"' in detail
    assert 'data-copy-target="checkin-url-1"' in detail and "js/copy.js" in detail
    add_state(heartbeat, "dev", interval(60))
    detail = page(member_client, f"/heartbeats/{heartbeat.pk}/")
    assert f'value="{without}"' not in detail
    assert f'value="http://testserver/heartbeats/checkin/{key}/dev/"' in detail
    assert "a URL without one is refused" in detail


def test_checkin_url_format_is_the_public_clients() -> None:
    heartbeat = Heartbeat(public_primary_key="HBKEY")
    assert checkin_url(heartbeat) == "/heartbeats/checkin/HBKEY/"
    assert checkin_url(heartbeat, "prod:eu") == "/heartbeats/checkin/HBKEY/prod:eu/"
    assert checkin_url(heartbeat, "a b") == "/heartbeats/checkin/HBKEY/a%20b/"


def test_detail_shows_each_environments_times_and_open_incident(
    heartbeat: Heartbeat, member_client: Client
) -> None:
    cron = hb.StateInput(
        type="cron", cron_expression="0 2 * * *", cron_timezone="Europe/Oslo", timeout_seconds=900
    )
    nightly = add_state(heartbeat, "prod", cron, NOW - timedelta(days=2))
    check_in(nightly, NOW - timedelta(days=2) + timedelta(minutes=5))
    hb.misses_detect(now=NOW - timedelta(hours=6))  # 02:00 Oslo + 15 min passed: down
    nightly.refresh_from_db()
    incident = nightly.incident
    assert incident is not None and incident.status == Status.TRIGGERED
    detail = page(member_client, f"/heartbeats/{heartbeat.pk}/")
    row = row_of(detail, 'data-environment="prod"')
    assert 'class="badge hb-down"' in row
    assert "<code>0 2 * * *</code>" in row and "Europe/Oslo" in row and "timeout 900 s" in row
    assert "a check-in resolves it" in row
    assert f'href="/incidents/{incident.pk}/">#{incident.number}</a>' in row
    # Next run: 5 Jan 02:00 Oslo = 01:00 UTC; deadline 15 minutes later.
    assert "2027-01-05 01:00:00 UTC" in row and "2027-01-05 01:15:00 UTC" in row
    assert "in 17\xa0hours" in row
    assert "High" in detail and "backup" in detail and "db" in detail

    check_in(nightly, NOW - timedelta(minutes=1), source_ip="10.1.2.3", user_agent="curl/8.5")
    detail = page(member_client, f"/heartbeats/{heartbeat.pk}/")
    row = row_of(detail, 'data-environment="prod"')
    assert 'class="badge hb-up"' in row and "#" + str(incident.number) not in row
    assert "1\xa0minute ago" in row


def test_history_lists_the_last_50_checkins_across_environments(
    heartbeat: Heartbeat, member_client: Client
) -> None:
    prod = add_state(heartbeat, "prod", interval(60), NOW - timedelta(hours=2))
    dev = add_state(heartbeat, "dev", interval(60), NOW - timedelta(hours=2))
    for minute in range(60):
        state = prod if minute % 2 else dev
        check_in(state, NOW - timedelta(minutes=90 - minute), source_ip="192.0.2.7")
    check_in(dev, NOW - timedelta(seconds=30), source_ip="2001:db8::1", user_agent="cron-job/1")
    detail = page(member_client, f"/heartbeats/{heartbeat.pk}/")
    history = detail.split('id="checkin-history"', 1)[1].split("</table>", 1)[0]
    assert history.count("<tr>") == 1 + 50  # header and 50 rows
    first = history.split("<tbody>", 1)[1].split("</tr>", 1)[0]
    assert "2001:db8::1" in first and "cron-job/1" in first and ">dev<" in first
    assert "just now" in first and "2027-01-04 07:59:30 UTC" in first
    assert "The latest 50 check-ins" in detail


# --- environment editor ---------------------------------------------------------------------


def test_editor_updates_and_adds_environments_in_one_save(
    heartbeat: Heartbeat, member_client: Client
) -> None:
    prod = add_state(heartbeat, "prod", interval(60))
    editor = page(member_client, f"/heartbeats/{heartbeat.pk}/environments/")
    assert 'name="env-0-environment" value="prod"' in editor and "readonly" in editor
    assert 'name="env-1-environment"' in editor  # a spare row
    assert '<datalist id="timezone-names">' in editor
    rows = [
        existing_row(prod, interval_seconds="300", timeout_seconds="30", muted="on"),
        {
            "environment": " staging ",
            "type": "cron",
            "cron_expression": "*/5 * * * *",
            "cron_timezone": "Europe/Oslo",
            "resolve_incident": None,
        },
        {},  # a spare row left blank
    ]
    response = member_client.post(f"/heartbeats/{heartbeat.pk}/environments/", editor_post(rows, 1))
    assert response.status_code == 302
    assert response["Location"] == f"/heartbeats/{heartbeat.pk}/#environments"
    prod.refresh_from_db()
    assert (prod.interval_seconds, prod.timeout_seconds, prod.muted) == (300, 30, True)
    staging = HeartbeatState.objects.get(heartbeat=heartbeat, environment="staging")
    assert (staging.type, staging.cron_expression, staging.cron_timezone) == (
        "cron",
        "*/5 * * * *",
        "Europe/Oslo",
    )
    assert staging.resolve_incident is False and staging.interval_seconds is None
    assert staging.next_expected_at == datetime(2027, 1, 4, 8, 5, tzinfo=UTC)


def test_editor_errors_land_on_their_row_and_nothing_is_saved(
    heartbeat: Heartbeat, member_client: Client
) -> None:
    prod = add_state(heartbeat, "prod", interval(60))
    rows = [
        existing_row(prod, interval_seconds="120"),
        {"environment": "nightly", "type": "cron", "cron_expression": "61 * * *"},
        {"environment": "tz", "type": "cron", "cron_expression": "0 2 * * *"},
        {"environment": "fast"},  # interval without seconds
        {"environment": "prod", "interval_seconds": "10"},  # a second row for prod
        {"environment": "x/y", "interval_seconds": "10"},
    ]
    rows[2]["cron_timezone"] = "Mars/Base"
    response = member_client.post(f"/heartbeats/{heartbeat.pk}/environments/", editor_post(rows, 1))
    assert response.status_code == 422
    body = response.content.decode()
    assert body.index("is not a valid cron expression") > body.index('name="env-1-cron_expression"')
    assert body.index("is not a valid cron expression") < body.index('name="env-1-cron_timezone"')
    assert "Unknown time zone “Mars/Base”." in row_of(body, 'data-row="3"')
    assert "An interval state needs interval_seconds" in row_of(body, 'data-row="4"')
    assert "Row 1 already names environment “prod”." in row_of(body, 'data-row="5"')
    assert "cannot contain “/”" in row_of(body, 'data-row="6"')
    assert 'value="nightly"' in body  # the input is kept
    prod.refresh_from_db()
    assert prod.interval_seconds == 60
    assert list(HeartbeatState.objects.values_list("environment", flat=True)) == ["prod"]


def test_editor_out_of_range_values_are_the_services_messages(
    heartbeat: Heartbeat, member_client: Client
) -> None:
    rows = [{"environment": "prod", "interval_seconds": "0", "timeout_seconds": "-5"}]
    response = member_client.post(f"/heartbeats/{heartbeat.pk}/environments/", editor_post(rows, 0))
    body = response.content.decode()
    assert response.status_code == 422
    assert "Timeout must be a whole number of seconds from 0 to 604800" in body
    assert "a whole number of seconds from 1 to 31622400" in body
    response = member_client.post(
        f"/heartbeats/{heartbeat.pk}/environments/",
        editor_post([{"environment": "prod", "interval_seconds": "soon"}], 0),
    )
    assert "Enter a whole number of seconds." in response.content.decode()
    assert not HeartbeatState.objects.exists()


def test_add_a_row_keeps_the_input_and_saves_nothing(
    heartbeat: Heartbeat, member_client: Client
) -> None:
    rows = [{"environment": "prod", "interval_seconds": "60"}]
    data = editor_post(rows, 0) | {"add_row": "1"}
    response = member_client.post(f"/heartbeats/{heartbeat.pk}/environments/", data)
    body = response.content.decode()
    assert response.status_code == 200
    assert 'name="env-0-environment" value="prod"' in body
    assert 'name="env-1-environment"' in body and 'name="env-TOTAL_FORMS" value="2"' in body
    assert 'name="env-1-resolve_incident" id="id_env-1-resolve_incident" checked' in body
    assert not HeartbeatState.objects.exists()


def test_saving_leaves_unchanged_environments_deadlines_alone(
    heartbeat: Heartbeat, member_client: Client
) -> None:
    prod = add_state(heartbeat, "prod", interval(3600), NOW - timedelta(minutes=30))
    deadline = prod.next_deadline
    rows = [existing_row(prod), {"environment": "dev", "interval_seconds": "60"}]
    response = member_client.post(f"/heartbeats/{heartbeat.pk}/environments/", editor_post(rows, 1))
    assert response.status_code == 302
    prod.refresh_from_db()
    assert prod.next_deadline == deadline == NOW + timedelta(minutes=30)


def test_delete_an_environment(heartbeat: Heartbeat, member_client: Client) -> None:
    prod = add_state(heartbeat, "prod", interval(60))
    dev = add_state(heartbeat, "dev", interval(60))
    editor = page(member_client, f"/heartbeats/{heartbeat.pk}/environments/")
    assert f'href="/heartbeat-environments/{dev.pk}/delete/"' in editor
    confirm = page(member_client, f"/heartbeat-environments/{dev.pk}/delete/")
    assert "Delete the environment “dev”?" in confirm
    response = member_client.post(f"/heartbeat-environments/{dev.pk}/delete/")
    assert response.status_code == 302
    assert response["Location"] == f"/heartbeats/{heartbeat.pk}/environments/"
    assert list(HeartbeatState.objects.all()) == [prod]


def test_copy_one_environments_settings_to_all_others(
    heartbeat: Heartbeat, member_client: Client
) -> None:
    cron = hb.StateInput(
        type="cron", cron_expression="0 2 * * *", cron_timezone="UTC", timeout_seconds=600
    )
    prod = add_state(heartbeat, "prod", cron)
    dev = add_state(heartbeat, "dev", interval(60))
    eu = add_state(heartbeat, "eu", interval(30, muted=True))
    editor = page(member_client, f"/heartbeats/{heartbeat.pk}/environments/")
    assert f'href="/heartbeat-environments/{prod.pk}/copy-settings/"' in editor
    confirm = page(member_client, f"/heartbeat-environments/{prod.pk}/copy-settings/")
    assert "Copy the settings of “prod” to all other environments?" in confirm
    assert "<strong>dev</strong>, <strong>eu</strong>" in confirm
    assert "Copy to 2 environments" in confirm
    assert HeartbeatState.objects.get(pk=dev.pk).type == "interval"  # the GET changed nothing
    response = member_client.post(f"/heartbeat-environments/{prod.pk}/copy-settings/")
    assert response.status_code == 302
    assert response["Location"] == f"/heartbeats/{heartbeat.pk}/environments/"
    for state in (dev, eu):
        state.refresh_from_db()
        assert (state.type, state.cron_expression, state.timeout_seconds, state.muted) == (
            "cron",
            "0 2 * * *",
            600,
            False,
        )
    followed = page(member_client, f"/heartbeats/{heartbeat.pk}/environments/")
    assert "Settings of “prod” copied to 2 other environments." in followed


def test_copy_is_not_offered_with_a_single_environment(
    heartbeat: Heartbeat, member_client: Client
) -> None:
    prod = add_state(heartbeat, "prod", interval(60))
    editor = page(member_client, f"/heartbeats/{heartbeat.pk}/environments/")
    assert "copy-settings" not in editor
    assert "nothing would change" in page(
        member_client, f"/heartbeat-environments/{prod.pk}/copy-settings/"
    )


# --- permissions and tenancy ----------------------------------------------------------------


def write_requests(client: Client, heartbeat: Heartbeat, state: HeartbeatState) -> list[int]:
    """The status of every write page and action for `client`."""
    rows = editor_post([existing_row(state, interval_seconds="5")], 1)
    responses = [
        client.get(f"/heartbeats/{heartbeat.pk}/edit/"),
        client.post(f"/heartbeats/{heartbeat.pk}/edit/", {"name": "x"}),
        client.get(f"/heartbeats/{heartbeat.pk}/delete/"),
        client.post(f"/heartbeats/{heartbeat.pk}/delete/"),
        client.get(f"/heartbeats/{heartbeat.pk}/environments/"),
        client.post(f"/heartbeats/{heartbeat.pk}/environments/", rows),
        client.get(f"/heartbeat-environments/{state.pk}/delete/"),
        client.post(f"/heartbeat-environments/{state.pk}/delete/"),
        client.get(f"/heartbeat-environments/{state.pk}/copy-settings/"),
        client.post(f"/heartbeat-environments/{state.pk}/copy-settings/"),
    ]
    return [response.status_code for response in responses]


def assert_unchanged(heartbeat: Heartbeat, state: HeartbeatState) -> None:
    fresh = HeartbeatState.objects.get(pk=state.pk)
    assert fresh.interval_seconds == 60
    assert Heartbeat.objects.get(pk=heartbeat.pk).name == "Nightly backup"


def test_stakeholder_reads_but_cannot_edit(
    heartbeat: Heartbeat, service: Service, stakeholder_client: Client
) -> None:
    state = add_state(heartbeat, "prod", interval(60))
    detail = page(stakeholder_client, f"/heartbeats/{heartbeat.pk}/")
    assert "Read-only" in detail and "Edit environments" not in detail
    assert "Delete heartbeat" not in detail and 'class="badge hb-waiting"' in detail
    assert "New heartbeat" not in page(stakeholder_client, "/heartbeats/")
    assert stakeholder_client.get("/heartbeats/new/").status_code == 403
    new = stakeholder_client.post("/heartbeats/new/", {"service": service.pk, "name": "x"})
    assert new.status_code == 403
    assert write_requests(stakeholder_client, heartbeat, state) == [403] * 10
    assert_unchanged(heartbeat, state)


def test_member_of_another_team_gets_404(heartbeat: Heartbeat, org_a: Organization) -> None:
    state = add_state(heartbeat, "prod", interval(60))
    other = factories.make_user(organization=org_a, email="o@a.example", role=Role.MEMBER)
    factories.add_member(factories.make_team(organization=org_a, name="Other"), other)
    client = session_client_for(other)
    assert client.get(f"/heartbeats/{heartbeat.pk}/").status_code == 404
    assert write_requests(client, heartbeat, state) == [404] * 10
    assert_unchanged(heartbeat, state)


def test_owner_outside_the_team_may_edit(heartbeat: Heartbeat, owner_client: Client) -> None:
    state = add_state(heartbeat, "prod", interval(60))
    rows = editor_post([existing_row(state, interval_seconds="90")], 1)
    response = owner_client.post(f"/heartbeats/{heartbeat.pk}/environments/", rows)
    assert response.status_code == 302
    state.refresh_from_db()
    assert state.interval_seconds == 90


def test_other_organizations_heartbeat_answers_404(
    heartbeat: Heartbeat, outsider_client: Client
) -> None:
    state = add_state(heartbeat, "prod", interval(60))
    assert outsider_client.get(f"/heartbeats/{heartbeat.pk}/").status_code == 404
    assert write_requests(outsider_client, heartbeat, state) == [404] * 10
    assert_unchanged(heartbeat, state)
    response = outsider_client.get(f"/heartbeats/?service={heartbeat.service_id}")
    assert "Nightly backup" not in response.content.decode()
