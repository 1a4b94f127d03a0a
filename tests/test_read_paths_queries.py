"""Issue 20, item 5: no list page or API list makes more queries when there are more rows.

Every route of the URLconfs is classified (tests/read_paths.py): a list, or not a list for a
reason. Every list has a case here. One organization (tests/read_paths_world.py) is grown by
one generation, each case's page is counted (Django's CaptureQueriesContext, after one
warm-up request, with the on-call and policy-step caches emptied so that a schedule's
timeline is read as on a cold process); then three more generations of every kind of row are
added and each page is counted again. A count that grew is an N+1 (a query per row): the
failure lists the queries of both runs. Each page must also still answer 200 and show the
newest row of what it lists. Speed is bench/read_paths.py's business, not these tests'.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from escalations.policies.selectors import policy_steps_forget
from escalations.schedules.selectors import oncall_forget
from integrations.slack.fake import FakeSlack
from opsduty import services as core
from tests.read_paths import LIST_ROUTES, unclassified_routes
from tests.read_paths_world import World, grow, world_create

# The mark makes pytest-django set up the test database, which the module's fixture uses.
pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Case:
    route: str  # as tests/read_paths.py names it
    url: Callable[[World], str]
    shows: Callable[[World], str] | None = None  # the newest row's text, after growing
    api: bool = False
    name: str = ""

    @property
    def id(self) -> str:
        return self.name or self.route


def _ui(route: str, shows: str | None = None, url: Callable[[World], str] | None = None) -> Case:
    return Case(
        route,
        url or (lambda w: "/" + route),
        (lambda w: w.newest[shows]) if shows else None,
    )


def _api(route: str, shows: str | None = None, url: Callable[[World], str] | None = None) -> Case:
    return Case(
        f"api/v1/{route}",
        url or (lambda w: f"/api/v1/{route}"),
        (lambda w: w.newest[shows]) if shows else None,
        api=True,
    )


def _first(kind: str) -> Callable[[World], int]:
    return lambda w: w.first[kind].pk


CASES: list[Case] = [
    _ui("members/", "person_email"),
    _ui("teams/", "team"),
    _ui("labels/", "label"),
    _ui("teams/<int:team_id>/", "person_email", lambda w: f"/teams/{_first('team')(w)}/"),
    _ui("profile/tokens/", "owner_token"),
    _ui("settings/tokens/", "token"),
    _ui("settings/developer/", "application"),
    _ui("settings/audit/"),
    _ui("settings/audit/export.csv", "team"),
    _ui("incidents/", "incident"),
    Case(
        "incidents/",
        lambda w: (
            f"/incidents/?status=triggered&status=acknowledged&service={w.first['service'].pk}"
        ),
        lambda w: w.newest["first_service_incident"],
        name="incidents/ filtered",
    ),
    Case(
        "incidents/",
        lambda w: "/incidents/?label=shared&urgency=high",
        lambda w: w.newest["incident"],
        name="incidents/ by label",
    ),
    _ui("incidents/rows/", "incident"),
    _ui("services/", "service"),
    _ui(
        "services/<int:service_id>/",
        "first_service_incident",
        lambda w: f"/services/{_first('service')(w)}/",
    ),
    _ui("profile/notifications/"),
    _ui("escalation-policies/", "policy"),
    _ui(
        "escalation-policies/<int:policy_id>/",
        "first_policy_service",
        lambda w: f"/escalation-policies/{_first('policy')(w)}/",
    ),
    _ui("schedules/", "schedule"),
    _ui(
        "schedules/<int:schedule_id>/",
        "person_name",
        lambda w: f"/schedules/{_first('schedule')(w)}/",
    ),
    _ui("profile/calendars/"),
    _ui("settings/diagnostics/", "unpaged_service"),
    _ui("routing-rules/", "routing_rule"),
    _ui(
        "routing-rules/<int:routing_rule_id>/",
        "first_rule_route",
        lambda w: f"/routing-rules/{_first('routing_rule')(w)}/",
    ),
    _ui("receive-channels/", "channel"),
    _ui("webhooks/", "webhook"),
    _ui("webhooks/<int:webhook_id>/", url=lambda w: f"/webhooks/{_first('webhook')(w)}/"),
    _ui("raw-events/", "raw_event"),
    Case("raw-events/", lambda w: "/raw-events/?status=failed", name="raw-events/ failed"),
    _ui("heartbeats/", "heartbeat"),
    _ui(
        "heartbeats/<int:heartbeat_id>/",
        "first_heartbeat_environment",
        lambda w: f"/heartbeats/{_first('heartbeat')(w)}/",
    ),
    _ui("status-pages/", "status_page"),
    _ui(
        "status-pages/<int:status_page_id>/",
        "first_page_notice",
        lambda w: f"/status-pages/{_first('status_page')(w)}/",
    ),
    _ui(
        "status-pages/notices/<int:notice_id>/",
        "first_notice_update",
        lambda w: f"/status-pages/notices/{_first('notice')(w)}/",
    ),
    _ui("settings/telephony/", "number"),
    _ui("settings/slack/", "service"),
    _ui("analytics/"),
    _ui("analytics/csv/"),
    _ui("analytics/over-time/csv/"),
    _ui("analytics/services/", "service"),
    _ui("analytics/services/csv/", "service"),
    _ui("analytics/policies/", "policy"),
    _ui("analytics/policies/csv/", "policy"),
    _ui("analytics/teams/", "team"),
    _ui("analytics/teams/csv/", "team"),
    _ui("analytics/responders/"),
    _ui("analytics/responders/csv/"),
    _api("users/", "person_email"),
    _api("heartbeats/", "heartbeat"),
    _api("services/", "service"),
    _api(
        "services/<int:service_id>/oncall/",
        url=lambda w: f"/api/v1/services/{_first('service')(w)}/oncall/",
    ),
    _api("schedules/", "schedule"),
    _api(
        "schedules/<int:schedule_id>/shifts/",
        url=lambda w: (
            f"/api/v1/schedules/{_first('schedule')(w)}/shifts/"
            "?datetime_start=2020-01-01T00:00:00Z&datetime_end=2020-03-01T00:00:00Z"
        ),
    ),
    _api(
        "schedules/<int:schedule_id>/overrides/",
        url=lambda w: f"/api/v1/schedules/{_first('schedule')(w)}/overrides/",
    ),
    _api("incidents/", "incident"),
    Case(
        "api/v1/incidents/",
        lambda w: f"/api/v1/incidents/?service={w.first['service'].pk}&first=100",
        lambda w: w.newest["first_service_incident"],
        api=True,
        name="api/v1/incidents/ of a service",
    ),
    _api(
        "incidents/<int:incident_group_id>/responders/",
        "first_incident_responder",
        lambda w: f"/api/v1/incidents/{_first('incident')(w)}/responders/",
    ),
    _api("receive-channels/", "channel"),
    _api("statuspages/", "status_page"),
    _api(
        "statuspages/<int:status_page_id>/component-groups/",
        "component_group",
        lambda w: f"/api/v1/statuspages/{_first('status_page')(w)}/component-groups/?first=100",
    ),
    _api(
        "statuspages/<int:status_page_id>/components/",
        "component",
        lambda w: f"/api/v1/statuspages/{_first('status_page')(w)}/components/?first=100",
    ),
    _api(
        "statuspages/<int:status_page_id>/incidents/",
        "notice",
        lambda w: f"/api/v1/statuspages/{_first('status_page')(w)}/incidents/",
    ),
    _api(
        "statuspages/incidents/<int:incident_id>/updates/",
        "first_notice_update",
        lambda w: f"/api/v1/statuspages/incidents/{_first('notice')(w)}/updates/",
    ),
    _api(
        "statuspages/<int:status_page_id>/uptime/",
        "component",
        lambda w: f"/api/v1/statuspages/{_first('status_page')(w)}/uptime/",
    ),
    _api("analytics/overview/"),
    _api("analytics/services/", "service"),
    _api("analytics/policies/", "policy"),
    _api("analytics/teams/", "team"),
    _api("analytics/responders/"),
]


@dataclass
class Counted:
    status: int
    queries: list[str]
    content: str


def _count(client: Client, url: str) -> Counted:
    client.get(url)  # warm-up: per-process caches of Django and the libraries
    oncall_forget()  # a schedule's timeline is read as a fresh process reads it
    policy_steps_forget()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
        # A streamed answer (the audit log's CSV) reads its rows while it is sent.
        body = b"".join(response.streaming_content) if response.streaming else response.content  # type: ignore[attr-defined]
    return Counted(
        response.status_code,
        [query["sql"] for query in captured.captured_queries],
        body.decode(errors="replace"),
    )


def _clients(world: World) -> tuple[Client, Client]:
    session = Client()
    session.force_login(world.owner)
    token = core.api_token_create(user=world.owner, name="read paths")
    return session, Client(HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.fixture(scope="module")
def counted(
    django_db_setup: None, django_db_blocker: Any
) -> Iterator[dict[str, tuple[Counted, Counted, str | None]]]:
    """Each case's page counted with one generation of rows and with four; everything in
    one transaction, rolled back at the end of the module."""
    with (
        django_db_blocker.unblock(),
        FakeSlack(signing_secret="s", client_id="1.2", client_secret="c") as fake,
        override_settings(
            OPSDUTY_SLACK_CLIENT_ID="1.2",
            OPSDUTY_SLACK_CLIENT_SECRET="c",
            OPSDUTY_SLACK_SIGNING_SECRET="s",
            OPSDUTY_SLACK_API_URL=fake.api_url,
            OPSDUTY_TWILIO_API_URL="http://127.0.0.1:9",
        ),
        transaction.atomic(),
    ):
        assert connection.settings_dict["NAME"].startswith("test_"), "the test database only"
        world = world_create(fake)
        grow(world, 1)
        session, api = _clients(world)
        before = {case.id: _count(api if case.api else session, case.url(world)) for case in CASES}
        grow(world, 3)
        after = {case.id: _count(api if case.api else session, case.url(world)) for case in CASES}
        shown = {case.id: case.shows(world) if case.shows else None for case in CASES}
        transaction.set_rollback(True)
    yield {case_id: (before[case_id], after[case_id], shown[case_id]) for case_id in before}


def test_every_route_is_a_list_or_said_not_to_be_one() -> None:
    assert unclassified_routes() == [], (
        "classify these routes in tests/read_paths.py (LIST_ROUTES or NOT_LISTS)"
    )


def test_every_list_has_a_query_count_case() -> None:
    missing = set(LIST_ROUTES) - {case.route for case in CASES}
    assert not missing, f"add a case to tests/test_read_paths_queries.py for {sorted(missing)}"


def _diff(before: list[str], after: list[str]) -> str:
    lines = [f"{len(before)} queries with 1 generation, {len(after)} with 4. With 4:"]
    lines += [f"  {sql[:300]}" for sql in after]
    return "\n".join(lines)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_queries_do_not_grow_with_rows(case: Case, counted: dict[str, Any]) -> None:
    before, after, shown = counted[case.id]
    assert before.status == 200, before.content[:500]
    assert after.status == 200, after.content[:500]
    assert len(after.queries) == len(before.queries), _diff(before.queries, after.queries)
    if shown is not None:
        assert shown in after.content, f"{shown!r} is not on {case.id} after growing"
