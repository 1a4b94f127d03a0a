"""Schemathesis against the OpenAPI document the server serves (docs/api.md, "The OpenAPI
document and the fuzzer").

A live server on 127.0.0.1 holds the seeded demo organization (incidents in every state, raw
events, heartbeats, a schedule with an override); every request carries a real personal API
token of its owner, with the rate limit lifted. Every request is sent by two workers at the
same moment, so both act on the same objects (two acknowledgements of one incident, two
deletes of one override), and both answers are checked:

* no 5xx; every status code, content type, header and body is the one the document gives;
* input the document forbids is refused (negative cases), and input it allows is accepted,
  except for the rules OpenAPI cannot state (`UNSAYABLE`: an id that must exist in the
  organization, a state the object must be in, one field against another);
* `test_links_lead_to_objects_that_exist` follows every OpenAPI link of the document from a
  real answer, so each operation that needs an id (an incident, a heartbeat state, an
  override) is reached with one that exists; `test_stateful_workflows_follow_the_links` runs
  Schemathesis' own workflows along the same links.

The bounded run is part of `make test`; `OPSDUTY_FUZZ_LONG=1` runs the long one (many more
examples and longer workflows) for `make chaos`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest
import schemathesis
from django.core.management import call_command
from django.db import connection
from django.db.models import QuerySet
from django.test.utils import override_settings
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky, Unsatisfiable
from pytest_django.live_server_helper import LiveServer
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from escalations.models import Schedule, ScheduleOverride
from incidents.models import Incident
from opsduty import services
from opsduty.models import Service
from signals.models import Heartbeat, HeartbeatState, IncidentReference, RawEvent
from statuspages.models import Component, ComponentGroup, Notice, StatusPage
from tests.demo_data import OWNER, demo_organization, demo_user, seed_demo_with_incidents

# The marker makes pytest-django create the test database (it sets up only the databases that
# the collected tests are marked for); each test then runs in a transaction of its own that
# the live server never sees, while the module's data is committed once and flushed after.
pytestmark = pytest.mark.django_db

LONG = os.environ.get("OPSDUTY_FUZZ_LONG", "") not in ("", "0")
WORKERS = 2
# Bounded: a few examples per operation and short workflows (about a minute on 2 cores).
EXAMPLES = 400 if LONG else 6
WORKFLOWS = 300 if LONG else 6
STEPS = 25 if LONG else 6

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not LONG,  # the bounded run is the same every time; the long one explores
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure prints its curl
    suppress_health_check=list(HealthCheck),
)

# Refusals (422) of schema-valid input that OpenAPI cannot state, by operation and by the
# error's `loc`: ids that must exist in the caller's organization, the state an object must be
# in (`("body",)`: the action does not apply now), one field against another, opaque cursors.
# OpenAPI 3.0 has no minimum or maximum for a date: the bounds every date and time of the API
# keeps (1970-01-01 to 2100-01-01, opsduty/timebounds.py) are in the descriptions only.
CURSORS: set[tuple[str, ...]] = {("query", "after"), ("query", "before")}
SINCE_UNTIL: set[tuple[str, ...]] = {("query", "since"), ("query", "until")}
INCIDENT_STATE: set[tuple[str, ...]] = {("body",)}
HEARTBEAT: set[tuple[str, ...]] = {("body", "service"), ("body", "name"), ("body", "link")}
STATE: set[tuple[str, ...]] = {
    ("body", "cron_expression"),
    ("body", "cron_timezone"),
    ("body", "interval_seconds"),
}
UNSAYABLE: dict[str, set[tuple[str, ...]]] = {
    "GET /api/v1/users/": CURSORS,
    "GET /api/v1/services/": CURSORS,
    "GET /api/v1/schedules/": CURSORS,
    "GET /api/v1/receive-channels/": CURSORS,
    "GET /api/v1/heartbeats/": CURSORS,
    "GET /api/v1/incidents/": CURSORS | SINCE_UNTIL,
    "GET /api/v1/incidents/{incident_group_id}/responders/": CURSORS,
    "GET /api/v1/schedules/{schedule_id}/overrides/": CURSORS | SINCE_UNTIL,
    "GET /api/v1/schedules/{schedule_id}/shifts/": {
        ("query", "datetime_start"),
        ("query", "datetime_end"),  # after the start, at most 120 days later
    },
    "POST /api/v1/schedules/{schedule_id}/overrides/": {
        ("body", "user_id"),  # must be an owner or member of the schedule's team
        ("body", "end"),  # after the start
        ("body", "start"),  # not in the past
    },
    "DELETE /api/v1/schedules/{schedule_id}/overrides/{override_id}/": {("body",)},  # over
    # A service of the organization, a name not taken on that service, a URL Django accepts.
    "POST /api/v1/heartbeats/": HEARTBEAT,
    "PUT /api/v1/heartbeats/{heartbeat_id}/": HEARTBEAT,
    # A heartbeat of the organization, an environment not taken on it; a cron state needs a
    # valid expression and a known time zone, an interval state its interval.
    "POST /api/v1/heartbeats/states/": STATE | {("body", "heartbeat_id"), ("body", "environment")},
    "PUT /api/v1/heartbeats/states/{heartbeat_state_id}/": STATE,
    "POST /api/v1/incidents/{incident_group_id}/acknowledge/": INCIDENT_STATE,
    "POST /api/v1/incidents/{incident_group_id}/unacknowledge/": INCIDENT_STATE,
    "POST /api/v1/incidents/{incident_group_id}/resolve/": INCIDENT_STATE,
    "POST /api/v1/incidents/{incident_group_id}/unresolve/": INCIDENT_STATE,
    "POST /api/v1/incidents/{incident_group_id}/notes/": INCIDENT_STATE,
    "POST /api/v1/incidents/{incident_group_id}/escalate/": INCIDENT_STATE,
    "POST /api/v1/incidents/{incident_group_id}/page/": INCIDENT_STATE
    | {("body", "users"), ("body", "teams")},
    "POST /api/v1/incidents/{incident_group_id}/reassign/": INCIDENT_STATE
    | {("body", "escalation_policy")},
    "POST /api/v1/services/{service_id}/maintenance/": {("body",)},  # already in maintenance
    "DELETE /api/v1/services/{service_id}/maintenance/": {("body",)},
    # A channel of the organization; a channel and a template together (`("body",)`).
    "POST /api/v1/raw-events/{raw_event_id}/debug/": {("body", "channel"), ("body",)},
    "POST /api/v1/receive-channels/debug/": {("body", "channel")},
    # Status pages (§D): a page's lists; incidents of the page's components and of an
    # operational incident the caller sees; a draft takes no update; no postmortem yet.
    "GET /api/v1/statuspages/": CURSORS,
    "GET /api/v1/statuspages/{status_page_id}/component-groups/": CURSORS,
    "GET /api/v1/statuspages/{status_page_id}/components/": CURSORS,
    "GET /api/v1/statuspages/{status_page_id}/incidents/": CURSORS
    | {("query", "created_after"), ("query", "created_before")},
    "GET /api/v1/statuspages/incidents/{incident_id}/updates/": CURSORS,
    "POST /api/v1/statuspages/{status_page_id}/incidents/": {
        ("body", "component_ids"),
        ("body", "incident_group_id"),
        ("body", "derive_affected_components"),
    },
    "POST /api/v1/statuspages/incidents/{incident_id}/updates/": INCIDENT_STATE
    | {("body", "display_at")},
    "GET /api/v1/statuspages/incidents/{incident_id}/postmortem/": {("path", "incident_id")},
}
ANALYTICS = "GET /api/v1/analytics/"
for _tab in ("overview", "services", "policies", "teams", "responders"):
    # A team, service or label of the organization; a custom range no longer than 366 days.
    UNSAYABLE[f"GET /api/v1/analytics/{_tab}/"] = {
        ("query", "team"),
        ("query", "service"),
        ("query", "label"),
        ("query", "start"),
        ("query", "end"),
        ("query", "range"),
    }
    if _tab in ("services", "policies", "teams"):  # paged like every list
        UNSAYABLE[f"GET /api/v1/analytics/{_tab}/"] |= CURSORS


# Dates and times mostly inside the API's bounds, some just outside: Hypothesis' own range
# (years 1 to 9999) would spend nearly every example on the bounds' 422.
# Hypothesis takes naive bounds; the values are given an offset below.
_INSTANTS = st.datetimes(
    min_value=datetime(1965, 1, 1),  # noqa: DTZ001
    max_value=datetime(2105, 12, 31),  # noqa: DTZ001
)
schemathesis.openapi.format(
    "date-time",
    st.builds(
        lambda instant, offset: instant.isoformat(timespec="seconds") + offset,
        _INSTANTS,
        st.sampled_from(["Z", "+00:00", "+02:00", "-05:30"]),
    ),
)
schemathesis.openapi.format("date", _INSTANTS.map(lambda instant: instant.date().isoformat()))


@schemathesis.check
def refusals_are_rules_openapi_cannot_state(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case[Any]
) -> bool | None:
    """A schema-valid request is refused (422) only for a rule listed in `UNSAYABLE`."""
    meta = case.meta
    if response.status_code != 422 or meta is None or not meta.generation.mode.is_positive:
        return None
    allowed = UNSAYABLE.get(case.operation.label, set())
    errors = json.loads(response.content)["detail"]
    said = [e for e in errors if tuple(e["loc"]) not in allowed]
    if said:
        raise AssertionError(
            f"Schema-valid input refused for a rule the document could state: {said}"
        )
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    refusals_are_rules_openapi_cannot_state,
]


class FuzzTarget:
    """The live server, its OpenAPI document's URL and the owner's bearer header."""

    def __init__(self, url: str, token: str, path_values: list[dict[str, Any]]) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.path_values = path_values
        self.calls = 0

    def cases(self, operation: Any, mode: GenerationMode) -> st.SearchStrategy[Any]:
        """Cases with generated path ids, and as many with the ids of seeded objects."""
        if mode is GenerationMode.NEGATIVE and operation.label.startswith(ANALYTICS):
            # `start` and `end` are read only with `range=custom` (otherwise ignored, whatever
            # they hold): negative cases fix the range so that a bad date must be refused.
            custom: st.SearchStrategy[Any] = operation.as_strategy(
                generation_mode=mode, query={"range": "custom"}
            )
            return custom
        names = {p.name for p in operation.path_parameters}
        known = [v for v in self.path_values if set(v) == names]
        generated: st.SearchStrategy[Any] = operation.as_strategy(generation_mode=mode)
        if not known:
            return generated
        seeded = st.sampled_from(known).flatmap(
            lambda values: operation.as_strategy(generation_mode=mode, path_parameters=values)
        )
        return st.one_of(generated, seeded)

    def call_twice(self, case: schemathesis.Case[Any]) -> schemathesis.Response:
        """Send `case` from two workers at once; check both answers; return the one that
        succeeded (two deletes of one object: one 204 and one 404, in either order), else
        the first."""
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            responses: list[schemathesis.Response] = list(
                pool.map(lambda _: case.call(base_url=self.url, headers=self.headers), range(2))
            )
        self.calls += WORKERS
        print(
            "CALL", case.operation.label, case.path_parameters, [r.status_code for r in responses]
        )
        for response in responses:
            case.validate_response(response, checks=CHECKS, headers=self.headers)
        return next((r for r in responses if r.status_code < 400), responses[0])


@pytest.fixture(scope="module")
def fuzz_target(django_db_setup: None, django_db_blocker: Any) -> Iterator[FuzzTarget]:
    """The seeded demo organization behind a live server, committed; flushed afterwards."""
    unthrottled = override_settings(
        REST_FRAMEWORK={
            **_rest_framework_settings(),
            "DEFAULT_THROTTLE_RATES": {"token": None},
        }
    )
    with django_db_blocker.unblock(), unthrottled:
        # Flushed afterwards: never anything but a test database.
        assert connection.settings_dict["NAME"].startswith("test_")
        seed_demo_with_incidents()
        issued = services.api_token_issue(user=demo_user(OWNER), name="schemathesis")
        server = LiveServer("127.0.0.1:0")
        target = FuzzTarget(server.url, issued.raw, _seeded_path_values())
        try:
            yield target
        finally:
            print(f"\nschemathesis: {target.calls} requests")  # shown with -s
            server.stop()
            call_command("flush", interactive=False, verbosity=0)


def _seeded_path_values() -> list[dict[str, Any]]:
    """Every combination of path parameters that names a seeded object of the demo."""
    organization = demo_organization()
    ids: dict[str, QuerySet[Any]] = {
        "incident_group_id": Incident.objects.filter(organization=organization),
        "heartbeat_id": Heartbeat.objects.filter(organization=organization),
        "heartbeat_state_id": HeartbeatState.objects.filter(organization=organization),
        "schedule_id": Schedule.objects.filter(organization=organization),
        "service_id": Service.objects.filter(organization=organization),
        "raw_event_id": RawEvent.objects.filter(organization=organization),
        "status_page_id": StatusPage.objects.filter(organization=organization),
        "component_group_id": ComponentGroup.objects.filter(organization=organization),
        "component_id": Component.objects.filter(organization=organization),
        "incident_id": Notice.objects.filter(organization=organization),
    }
    values: list[dict[str, Any]] = [
        {name: pk} for name, rows in ids.items() for pk in rows.values_list("pk", flat=True)
    ]
    values += [
        {"incident_reference_id": str(public_id)}
        for public_id in IncidentReference.objects.filter(organization=organization).values_list(
            "public_id", flat=True
        )
    ]
    values += [
        {"schedule_id": o.schedule_id, "override_id": o.pk}
        for o in ScheduleOverride.objects.filter(organization=organization)
    ]
    values += [
        {
            "service_id": s.heartbeat.service_id,
            "name": s.heartbeat.name,
            "environment": s.environment,
        }
        for s in HeartbeatState.objects.filter(organization=organization).select_related(
            "heartbeat"
        )
    ]
    return values


def _rest_framework_settings() -> dict[str, Any]:
    from django.conf import settings as django_settings

    return dict(django_settings.REST_FRAMEWORK)


@pytest.fixture(scope="module")
def api_schema(fuzz_target: FuzzTarget) -> Any:
    """The document as the server serves it (public: loaded without the token)."""
    # Workflows send schema-valid requests (a refused step ends the chain of links); the
    # per-operation test asks for negative cases itself.
    config = schemathesis.Config.from_dict(
        {
            "headers": fuzz_target.headers,
            # Text with a NUL character is refused by every string field (DRF's
            # ProhibitNullCharactersValidator; PostgreSQL cannot store it): docs/api.md.
            "generation": {"mode": "positive", "allow-x00": False},
        }
    )
    return schemathesis.openapi.from_url(f"{fuzz_target.url}/api/v1/openapi.json", config=config)


def _operations(document: dict[str, Any]) -> set[str]:
    return {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "put", "post", "patch", "delete")
    }


# The operations as this checkout generates them (one test each); the tests then load the
# document from the live server, and `test_the_served_document_is_the_generated_one` checks
# that both are the same.
GENERATED = SchemaGenerator().get_schema(request=None, public=True)
OPERATIONS = sorted(_operations(GENERATED))


# Ids that no API operation answers with: raw events and incident references come from the
# webhooks. The fuzzer takes them from the seeded data (`_seeded_path_values`).
NO_PRODUCER = {
    "POST /api/v1/raw-events/{raw_event_id}/debug/",
    "GET /api/v1/incidents/incident-reference/{incident_reference_id}/",
}
METHODS = ("get", "put", "post", "patch", "delete")


def _labels_by_operation_id(document: dict[str, Any]) -> dict[str, str]:
    return {
        operation["operationId"]: f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def _document_links(document: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, str]]]:
    """For each operation a link leads to: one link to it, from a GET where there is one.

    `{target: (source, status, parameters)}`, operations as "METHOD /path" labels.
    """
    labels = _labels_by_operation_id(document)
    found: dict[str, tuple[str, str, dict[str, str]]] = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            for status, response in operation.get("responses", {}).items():
                for link in response.get("links", {}).values():
                    target = labels[link["operationId"]]
                    if target not in found or (method == "get" and found[target][0][:3] != "GET"):
                        found[target] = (f"{method.upper()} {path}", status, link["parameters"])
    return found


def test_the_served_document_is_the_generated_one(api_schema) -> None:
    assert _operations(api_schema.raw_schema) == set(OPERATIONS)


def test_every_operation_that_needs_an_id_is_the_target_of_a_link() -> None:
    """An id in the path comes from the answer of another operation, named by a link."""
    needing_ids = {label for label in OPERATIONS if "{" in label}
    assert needing_ids - set(_document_links(GENERATED)) == NO_PRODUCER


def _delete_last(label: str) -> tuple[bool, bool, str]:
    # Deletes after everything else, a heartbeat's states before the heartbeat.
    return label.startswith("DELETE"), "states" not in label, label


LINKED = sorted(_document_links(GENERATED), key=_delete_last)


@pytest.mark.parametrize("target", LINKED)
def test_links_lead_to_objects_that_exist(target, api_schema, fuzz_target) -> None:
    """Follow the link to `target` from a real answer: the target finds the object (no 404)."""
    source, status, parameters = _document_links(GENERATED)[target]
    method, path = source.split(" ", 1)
    names = {p.name for p in api_schema[path][method.lower()].path_parameters}
    source_path: dict[str, Any] = next((v for v in fuzz_target.path_values if set(v) == names), {})
    source_case = api_schema[path][method.lower()].Case(path_parameters=source_path, query={})
    answer = fuzz_target.call_twice(source_case)
    assert str(answer.status_code) == status, answer.text[:300]
    values = {
        name: _runtime_value(expression, answer.json(), source_path)
        for name, expression in parameters.items()
    }
    method, path = target.split(" ", 1)
    statuses: list[int] = []

    @settings(FUZZ_SETTINGS, max_examples=3)
    @given(case=api_schema[path][method.lower()].as_strategy(path_parameters=values))
    def follow(case: schemathesis.Case[Any]) -> None:
        statuses.append(fuzz_target.call_twice(case).status_code)

    follow()
    assert any(code != 404 for code in statuses), (values, statuses)


def _runtime_value(expression: str, body: Any, path_parameters: dict[str, Any]) -> Any:
    """`$response.body#/items/0/id` or `$request.path.name` (the two forms the document uses)."""
    if expression.startswith("$request.path."):
        return path_parameters[expression.removeprefix("$request.path.")]
    value = body
    for part in expression.removeprefix("$response.body#/").split("/"):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("label", OPERATIONS)
def test_every_operation_answers_as_documented(label, mode, api_schema, fuzz_target) -> None:
    method, path = label.split(" ", 1)
    operation = api_schema[path][method.lower()]

    @FUZZ_SETTINGS
    @given(case=fuzz_target.cases(operation, mode))
    def fuzz(case: schemathesis.Case[Any]) -> None:
        fuzz_target.call_twice(case)

    try:
        fuzz()
    except Unsatisfiable:
        # Every value of every parameter is valid (a free-form string in the path, no body).
        assert mode is GenerationMode.NEGATIVE, "no schema-valid request could be generated"
        pytest.skip("nothing about this operation can be invalid")


def test_stateful_workflows_follow_the_links(api_schema: Any, fuzz_target: FuzzTarget) -> None:
    """Schemathesis' own workflows: chains of calls along the document's links.

    A workflow's next step depends on the server's answers, and the server keeps what earlier
    workflows did (an incident they resolved stays resolved): a later workflow that makes the
    same first choices can meet another answer, and Hypothesis then stops the run with
    `FlakyStrategyDefinition`. That is not a defect of the server: as Schemathesis' own engine
    does, the failures are recorded where the checks run, and a run stopped that way is
    followed by a fresh one until the budget of workflows is spent.
    """
    failures: list[Exception] = []
    done = 0

    class Workflow(api_schema.as_state_machine()):  # type: ignore[misc]
        def call(self, case: schemathesis.Case[Any], **kwargs: Any) -> schemathesis.Response:
            # A made-up cursor is refused (422); a workflow goes on from a list's first page.
            for name in ("after", "before"):
                (case.query or {}).pop(name, None)
            try:
                return fuzz_target.call_twice(case)
            except Exception as error:
                failures.append(error)
                raise

        def validate_response(self, *args: Any, **kwargs: Any) -> None:
            pass  # call_twice checked both answers

        def teardown(self) -> None:
            nonlocal done
            done += 1
            super().teardown()

    before = fuzz_target.calls
    for _ in range(WORKFLOWS):  # each run does at least one workflow
        if done >= WORKFLOWS:
            break
        try:
            Workflow.run(
                # Random, not derandomized: a workflow's values come from the server's
                # answers, which differ from run to run.
                settings=settings(
                    FUZZ_SETTINGS,
                    max_examples=WORKFLOWS - done,
                    stateful_step_count=STEPS,
                    derandomize=False,
                    phases=[Phase.generate],
                )
            )
        except Flaky:
            if failures:  # a check failed: Hypothesis could not replay it, it still counts
                raise failures[0] from None
    assert not failures, failures
    assert fuzz_target.calls > before
