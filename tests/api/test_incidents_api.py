"""Incident routes of API v1: #10 list, #11 retrieve, #12 responders, #13 reference, and the
actions #22-#26 (spec §2.4, §3.6, §B)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from incidents import services as incident_services
from incidents.models import NOTE_MAX_LENGTH, Incident, IncidentNote, Status
from opsduty.models import Organization, Service, User
from opsduty.text import NOT_BLANK_PATTERN
from signals.models import ReferenceStatus
from tests import factories
from tests.api.conftest import get_json
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/incidents/"
GROUP_KEYS = {
    "id",
    "incident_number",
    "summary",
    "status",
    "service",
    "created_at",
    "acknowledged_at",
    "resolved_at",
    "silenced_at",
    "last_status_change_at",
}
RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
ACTIONS = ("acknowledge", "unacknowledge", "resolve", "unresolve", "notes")


@pytest.fixture
def api_service(org_a: Organization, owner: User, member: User) -> Service:
    """Org A's "API", owned by a team with the member."""
    team = factories.make_team(organization=org_a, name="Platform")
    factories.add_member(team, member)
    return factories.make_service(team=team, name="API")


@pytest.fixture
def db_service(org_a: Organization) -> Service:
    """Org A's "DB", owned by a team the member is not in."""
    return factories.make_service(team=factories.make_team(organization=org_a), name="DB")


@pytest.fixture
def incident(api_service: Service) -> Incident:
    return factories.make_incident(service=api_service, summary="Disk full")


@pytest.fixture
def member_api(member: User) -> Client:
    return api_client_for(member)


def post_json(client: Client, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
    """POST `body` as JSON (no body at all when None); return (status, parsed JSON)."""
    data = "" if body is None else json.dumps(body)
    response = client.post(path, data, content_type="application/json", **kwargs)
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    return response.status_code, json.loads(response.content)


def action_url(incident: Incident, action: str) -> str:
    return f"{URL}{incident.pk}/{action}/"


def set_created(incident: Incident, when: datetime) -> None:
    Incident.objects.filter(pk=incident.pk).update(created_at=when)


def assert_422(body: Any) -> None:
    assert isinstance(body["detail"], list) and body["detail"]
    assert {"loc", "msg", "type"} <= set(body["detail"][0])


# --- #10 list ------------------------------------------------------------------------------


def test_list_items_carry_every_key_with_exact_types(owner_api, incident, api_service):
    status, body = get_json(owner_api, URL)
    assert status == 200
    [item] = body["items"]
    assert set(item) == GROUP_KEYS
    assert item["id"] == incident.pk
    assert item["incident_number"] == incident.number and isinstance(item["incident_number"], int)
    assert item["summary"] == "Disk full"
    assert item["status"] == "triggered"
    assert item["service"] == {"id": api_service.pk, "name": "API"}
    assert RFC3339_Z.match(item["created_at"])
    assert RFC3339_Z.match(item["last_status_change_at"])
    assert item["acknowledged_at"] is None
    assert item["resolved_at"] is None
    assert item["silenced_at"] is None
    assert "notes" not in item


def test_list_walks_pages_newest_first(owner_api, api_service):
    created = [factories.make_incident(service=api_service) for _ in range(5)]
    seen: list[int] = []
    after = None
    while True:
        params: dict[str, Any] = {"first": 2}
        if after:
            params["after"] = after
        status, body = get_json(owner_api, URL, **params)
        assert status == 200
        seen += [item["id"] for item in body["items"]]
        if not body["page_info"]["has_next_page"]:
            break
        after = body["page_info"]["end_cursor"]
    assert seen == [i.pk for i in reversed(created)]
    _, legacy = get_json(owner_api, URL, page_size=3)
    assert [item["id"] for item in legacy["items"]] == seen[:3]


def test_list_leaves_archived_incidents_out_but_retrieve_still_finds_them(
    owner_api, owner, incident
):
    incident_services.incidents_archive(
        organization=owner.organization, before=timezone.now(), by=owner
    )
    _, body = get_json(owner_api, URL)
    assert body["items"] == []
    status, detail = get_json(owner_api, f"{URL}{incident.pk}/")
    assert status == 200
    assert detail["status"] == "resolved"


@pytest.fixture
def three_days(api_service: Service) -> list[Incident]:
    """Incidents created at midnight UTC on 2024-01-01, -02 and -03."""
    incidents = []
    for day in (1, 2, 3):
        incident = factories.make_incident(service=api_service, summary=f"day {day}")
        set_created(incident, datetime(2024, 1, day, tzinfo=UTC))
        incidents.append(incident)
    return incidents


@pytest.mark.parametrize(
    ("params", "days"),
    [
        ({"since": "2024-01-02T00:00:00"}, [3, 2]),  # naive = UTC, inclusive
        ({"until": "2024-01-02T00:00:00+00:00"}, [1]),  # exclusive
        ({"since": "2024-01-02T00:00:00", "until": "2024-01-03T00:00:00Z"}, [2]),
        ({"since": "2024-01-02T01:00:00+02:00"}, [3, 2]),  # = 2024-01-01T23:00Z
        ({"since": "2024-01-02T00:00:00.000001"}, [3]),
        ({"until": "2024-01-01T23:00:01-01:00"}, [2, 1]),  # = 2024-01-02T00:00:01Z
    ],
)
def test_since_and_until_filter_on_created_at(owner_api, three_days, params, days):
    status, body = get_json(owner_api, URL, **params)
    assert status == 200
    assert [item["summary"] for item in body["items"]] == [f"day {d}" for d in days]


def test_an_unencoded_plus_offset_is_still_understood(owner_api, three_days):
    # `?since=2024-01-02T01:00:00+02:00` typed by hand: the `+` arrives as a space.
    response = owner_api.get(URL + "?since=2024-01-02T01:00:00+02:00")
    assert response.status_code == 200
    assert [item["summary"] for item in response.json()["items"]] == ["day 3", "day 2"]


@pytest.mark.parametrize(
    ("param", "value"),
    [("since", "yesterday"), ("until", "2024-13-01T00:00:00"), ("service", "api")],
)
def test_bad_filter_values_answer_422_naming_the_parameter(owner_api, incident, param, value):
    status, body = get_json(owner_api, URL, **{param: value})
    assert status == 422
    assert_422(body)
    assert body["detail"][0]["loc"] == ["query", param]


def test_service_filter_keeps_that_services_incidents(owner_api, incident, db_service):
    other = factories.make_incident(service=db_service)
    _, body = get_json(owner_api, URL, service=db_service.pk)
    assert [item["id"] for item in body["items"]] == [other.pk]
    _, body = get_json(owner_api, URL, service=incident.service_id)
    assert [item["id"] for item in body["items"]] == [incident.pk]


@pytest.mark.parametrize("service", ["999999", "-1", "99999999999999999999"])
def test_unknown_service_filter_gives_an_empty_page(owner_api, incident, service):
    status, body = get_json(owner_api, URL, service=service)
    assert status == 200
    assert body["items"] == []
    assert body["page_info"]["has_next_page"] is False


def test_member_sees_neither_incidents_nor_filter_of_services_outside_their_teams(
    member_api, incident, db_service
):
    hidden = factories.make_incident(service=db_service)
    _, body = get_json(member_api, URL)
    assert [item["id"] for item in body["items"]] == [incident.pk]
    _, body = get_json(member_api, URL, service=db_service.pk)
    assert body["items"] == []
    for path in (f"{URL}{hidden.pk}/", f"{URL}{hidden.pk}/responders/"):
        status, body = get_json(member_api, path)
        assert (status, body) == (404, {"detail": "Not found."})
    status, body = post_json(member_api, action_url(hidden, "acknowledge"))
    assert status == 404


def test_outsider_sees_no_org_a_incident_on_any_route(outsider_api, outsider, incident):
    own = factories.make_incident(
        service=factories.make_service(organization=outsider.organization)
    )
    _, body = get_json(outsider_api, URL)
    assert [item["id"] for item in body["items"]] == [own.pk]
    _, body = get_json(outsider_api, URL, service=incident.service_id)
    assert body["items"] == []
    for path in (f"{URL}{incident.pk}/", f"{URL}{incident.pk}/responders/"):
        status, body = get_json(outsider_api, path)
        assert (status, body) == (404, {"detail": "Not found."})
    for action in ACTIONS:
        status, body = post_json(outsider_api, action_url(incident, action), {"note": "x"})
        assert (status, body) == (404, {"detail": "Not found."}), action
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED
    assert not IncidentNote.objects.filter(incident=incident).exists()


def test_list_runs_a_constant_number_of_queries(
    owner_api, api_service, django_assert_max_num_queries
):
    for _ in range(10):
        factories.make_incident(service=api_service)
    with django_assert_max_num_queries(6):
        status, body = get_json(owner_api, URL)
    assert status == 200 and len(body["items"]) == 10


# --- #11 retrieve --------------------------------------------------------------------------


def test_retrieve_has_the_list_keys_plus_notes_oldest_first(owner_api, owner, incident):
    first = incident_services.incident_add_note(incident=incident, by=owner, text="first")
    second = incident_services.incident_add_note(incident=incident, by=None, text="second")
    status, body = get_json(owner_api, f"{URL}{incident.pk}/")
    assert status == 200
    assert set(body) == GROUP_KEYS | {"notes"}
    assert body["service"] == {"id": incident.service_id, "name": "API"}
    assert [n["id"] for n in body["notes"]] == [first.pk, second.pk]
    assert body["notes"][0]["note"] == "first"
    assert set(body["notes"][0]) == {"id", "note", "created_at"}
    assert RFC3339_Z.match(body["notes"][0]["created_at"])


def test_retrieve_without_notes_has_an_empty_list(owner_api, incident):
    _, body = get_json(owner_api, f"{URL}{incident.pk}/")
    assert body["notes"] == []


def test_retrieve_unknown_id_is_404_json(owner_api, incident):
    for path in (f"{URL}999999/", f"{URL}99999999999999999999/"):
        status, body = get_json(owner_api, path)
        assert (status, body) == (404, {"detail": "Not found."})


# --- #12 responders ------------------------------------------------------------------------


def test_responders_list_in_id_order_with_all_five_keys(owner_api, owner, member, incident):
    paged = factories.make_responder(incident=incident, user=member)
    incident_services.incident_acknowledge(incident=incident, by=owner)  # owner becomes active
    status, body = get_json(owner_api, f"{URL}{incident.pk}/responders/")
    assert status == 200
    pending, active = body["items"]
    assert all(
        set(r) == {"id", "last_notified", "status", "status_updated_at", "user"}
        for r in body["items"]
    )
    assert pending["id"] == paged.pk
    assert pending["status"] == "pending"
    assert RFC3339_Z.match(pending["last_notified"])
    assert pending["status_updated_at"] is None
    assert pending["user"] == {
        "id": member.pk,
        "email": member.email,
        "first_name": member.first_name,
        "last_name": member.last_name,
    }
    assert active["status"] == "active"
    assert active["last_notified"] is None
    assert RFC3339_Z.match(active["status_updated_at"])
    assert active["user"]["id"] == owner.pk


def test_responders_page(owner_api, org_a, incident):
    users = [factories.make_user(organization=org_a) for _ in range(3)]
    for user in users:
        factories.make_responder(incident=incident, user=user)
    _, page = get_json(owner_api, f"{URL}{incident.pk}/responders/", first=2)
    assert [r["user"]["id"] for r in page["items"]] == [u.pk for u in users[:2]]
    assert page["page_info"]["has_next_page"] is True
    after = page["page_info"]["end_cursor"]
    _, rest = get_json(owner_api, f"{URL}{incident.pk}/responders/", first=2, after=after)
    assert [r["user"]["id"] for r in rest["items"]] == [users[2].pk]


# --- #13 incident reference ----------------------------------------------------------------


def reference_url(public_id: object) -> str:
    return f"{URL}incident-reference/{public_id}/"


def test_pending_reference(owner_api, org_a):
    reference = factories.make_reference(organization=org_a)
    status, body = get_json(owner_api, reference_url(reference.public_id))
    assert status == 200
    assert body["id"] == str(reference.public_id)
    assert body["status"] == "pending"
    assert body["reason"] is None
    assert body["incident_group"] is None
    assert RFC3339_Z.match(body["created_at"]) and RFC3339_Z.match(body["updated_at"])
    assert set(body) == {"id", "status", "reason", "incident_group", "created_at", "updated_at"}


def test_completed_reference_points_to_its_incident(owner_api, org_a, api_service):
    reference = factories.make_reference(organization=org_a)
    incident = factories.make_incident(service=api_service, reference=reference)
    status, body = get_json(owner_api, reference_url(str(reference.public_id).upper()))
    assert status == 200
    assert body["status"] == ReferenceStatus.COMPLETED
    assert body["incident_group"] == incident.pk


def test_failed_reference_reports_its_reason(owner_api, org_a):
    reference = factories.make_reference(organization=org_a)
    type(reference).objects.filter(pk=reference.pk).update(status="failed", reason="Bad payload")
    _, body = get_json(owner_api, reference_url(reference.public_id))
    assert (body["status"], body["reason"]) == ("failed", "Bad payload")


@pytest.mark.parametrize("value", ["not-a-uuid", "123", "ref%2Fwith%3Fodd%23chars"])
def test_malformed_reference_ids_are_404_not_500(owner_api, value):
    status, body = get_json(owner_api, reference_url(value))
    assert (status, body) == (404, {"detail": "Not found."})


def test_unknown_and_foreign_references_are_404(owner_api, outsider_api, org_a, org_b):
    foreign = factories.make_reference(organization=org_b)
    own = factories.make_reference(organization=org_a)
    for client, public_id in [(owner_api, uuid.uuid4()), (owner_api, foreign.public_id)]:
        status, body = get_json(client, reference_url(public_id))
        assert (status, body) == (404, {"detail": "Not found."})
    status, _ = get_json(outsider_api, reference_url(own.public_id))
    assert status == 404


def test_reference_to_an_invisible_incident_is_404_for_a_member(member_api, org_a, db_service):
    reference = factories.make_reference(organization=org_a)
    factories.make_incident(service=db_service, reference=reference)
    status, _ = get_json(member_api, reference_url(reference.public_id))
    assert status == 404


# --- #22-#26 actions -----------------------------------------------------------------------


def test_acknowledge_answers_the_incident_after_the_change(owner_api, owner, incident):
    status, body = post_json(owner_api, action_url(incident, "acknowledge"))
    assert status == 200
    assert set(body) == GROUP_KEYS | {"notes"}
    assert body["status"] == "acknowledged"
    assert RFC3339_Z.match(body["acknowledged_at"])
    incident.refresh_from_db()
    assert incident.status == Status.ACKNOWLEDGED
    assert incident.log.filter(action="acknowledged", actor=owner).exists()
    _, listed = get_json(owner_api, URL)
    assert listed["items"][0]["status"] == "acknowledged"
    assert get_json(owner_api, f"{URL}{incident.pk}/")[1] == body


def test_acknowledging_twice_is_a_no_op_200(owner_api, incident):
    _, first = post_json(owner_api, action_url(incident, "acknowledge"))
    status, second = post_json(owner_api, action_url(incident, "acknowledge"))
    assert status == 200
    assert second["acknowledged_at"] == first["acknowledged_at"]


def test_acknowledge_a_resolved_incident_is_422(owner_api, owner, incident):
    incident_services.incident_resolve(incident=incident, by=owner)
    status, body = post_json(owner_api, action_url(incident, "acknowledge"))
    assert status == 422
    assert_422(body)
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_acknowledge_an_attached_incident_is_422(owner_api, owner, api_service, incident):
    root = factories.make_incident(service=api_service, summary="root")
    incident_services.incident_attach(incident=incident, parent=root, by=owner)
    status, body = post_json(owner_api, action_url(incident, "acknowledge"))
    assert status == 422
    assert_422(body)
    # Still refused once it follows an acknowledged root (not a no-op repeat).
    incident_services.incident_acknowledge(incident=root, by=owner)
    incident.refresh_from_db()
    assert incident.status == Status.ACKNOWLEDGED
    status, body = post_json(owner_api, action_url(incident, "acknowledge"))
    assert status == 422
    assert_422(body)


def test_unacknowledge(owner_api, owner, incident):
    status, body = post_json(owner_api, action_url(incident, "unacknowledge"))
    assert status == 422
    assert_422(body)
    incident_services.incident_acknowledge(incident=incident, by=owner)
    status, body = post_json(owner_api, action_url(incident, "unacknowledge"))
    assert status == 200
    assert body["status"] == "triggered"
    assert body["acknowledged_at"] is None


def test_resolve_with_a_note_records_it(owner_api, owner, incident):
    status, body = post_json(owner_api, action_url(incident, "resolve"), {"note": "rolled back"})
    assert status == 200
    assert body["status"] == "resolved"
    assert RFC3339_Z.match(body["resolved_at"])
    assert [n["note"] for n in body["notes"]] == ["rolled back"]
    assert IncidentNote.objects.get(incident=incident).author == owner


@pytest.mark.parametrize("payload", [None, {}, {"note": None}, {"note": ""}, {"note": "  "}])
def test_resolve_without_a_note(owner_api, incident, payload):
    # None: `Content-Type: application/json` with an empty body, as client 0.1.0 sends it.
    status, body = post_json(owner_api, action_url(incident, "resolve"), payload)
    assert status == 200
    assert body["status"] == "resolved"
    assert body["notes"] == []


def test_resolve_twice_is_a_no_op_200(owner_api, incident):
    _, first = post_json(owner_api, action_url(incident, "resolve"))
    status, second = post_json(owner_api, action_url(incident, "resolve"), {"note": "again"})
    assert status == 200
    assert second["resolved_at"] == first["resolved_at"]
    assert second["notes"] == []


@pytest.mark.parametrize(
    "payload",
    [
        {"note": "x" * (NOTE_MAX_LENGTH + 1)},
        # Too long as sent, though blank once trimmed (found by schemathesis: it resolved).
        {"note": "\f" * (NOTE_MAX_LENGTH + 1)},
        {"note": ["list"]},
        ["not", "an object"],
        "null",
    ],
)
def test_resolve_with_an_invalid_body_is_422_and_writes_nothing(owner_api, incident, payload):
    # "null": the JSON literal (found by schemathesis: it was taken for an empty body).
    if payload == "null":
        response = owner_api.post(action_url(incident, "resolve"), "null", "application/json")
        status, body = response.status_code, response.json()
    else:
        status, body = post_json(owner_api, action_url(incident, "resolve"), payload)
    assert status == 422
    assert_422(body)
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED
    assert not IncidentNote.objects.exists()


def test_resolve_with_malformed_json_is_422(owner_api, incident):
    response = owner_api.post(
        action_url(incident, "resolve"), "{oops", content_type="application/json"
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]


def test_unresolve(owner_api, owner, incident):
    status, body = post_json(owner_api, action_url(incident, "unresolve"))
    assert status == 422
    assert_422(body)
    incident_services.incident_acknowledge(incident=incident, by=owner)
    incident_services.incident_resolve(incident=incident, by=owner)
    status, body = post_json(owner_api, action_url(incident, "unresolve"))
    assert status == 200
    assert body["status"] == "triggered"
    assert body["resolved_at"] is None
    assert body["acknowledged_at"] is None


def test_add_note_answers_200_with_the_note(owner_api, owner, incident):
    status, body = post_json(owner_api, action_url(incident, "notes"), {"note": "restarted pods"})
    assert status == 200
    assert set(body) == {"id", "note", "created_at"}
    assert body["note"] == "restarted pods"
    assert RFC3339_Z.match(body["created_at"])
    note = IncidentNote.objects.get(pk=body["id"])
    assert (note.incident_id, note.author) == (incident.pk, owner)
    _, detail = get_json(owner_api, f"{URL}{incident.pk}/")
    assert detail["notes"] == [body]
    assert detail["status"] == "triggered"


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {},
        {"note": None},
        {"note": ""},
        {"note": "   "},
        {"note": "x" * (NOTE_MAX_LENGTH + 1)},
    ],
)
def test_add_note_needs_a_non_empty_note_within_the_limit(owner_api, incident, payload):
    status, body = post_json(owner_api, action_url(incident, "notes"), payload)
    assert status == 422
    assert_422(body)
    assert body["detail"][0]["loc"][0] == "body"
    assert not IncidentNote.objects.exists()


def test_actions_accept_and_ignore_a_body(owner_api, incident):
    status, body = post_json(owner_api, action_url(incident, "acknowledge"), {"ignored": True})
    assert status == 200
    assert body["status"] == "acknowledged"


def test_actions_answer_405_to_get(owner_api, incident):
    for action in ACTIONS:
        response = owner_api.get(action_url(incident, action))
        assert response.status_code == 405, action
        assert "detail" in response.json()


def test_member_of_the_team_may_act(member_api, incident):
    status, body = post_json(member_api, action_url(incident, "acknowledge"))
    assert (status, body["status"]) == (200, "acknowledged")


def test_stakeholder_reads_but_may_not_act(stakeholder, incident):
    factories.add_member(incident.service.team, stakeholder)
    client = api_client_for(stakeholder)
    assert get_json(client, f"{URL}{incident.pk}/")[0] == 200
    for action in ACTIONS:
        status, body = post_json(client, action_url(incident, action), {"note": "x"})
        assert status == 403, action
        assert isinstance(body["detail"], str)
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED
    assert not IncidentNote.objects.exists()


def test_actions_need_a_token(client, incident):
    status, body = post_json(client, action_url(incident, "acknowledge"))
    assert status == 401
    assert isinstance(body["detail"], str)


# --- found by the fuzzer (tests/api/test_schemathesis.py) -------------------------------------


@pytest.mark.parametrize("action", ["notes", "resolve"])
def test_a_number_for_the_note_is_422_and_writes_nothing(owner_api, incident, action):
    """DRF turned `{"note": 42}` into the note "42"; the document says string."""
    status, body = post_json(owner_api, action_url(incident, action), {"note": 42})
    assert status == 422
    assert body["detail"] == [
        {"loc": ["body", "note"], "msg": "Not a valid string.", "type": "value_error"}
    ]
    incident.refresh_from_db()
    assert incident.status == "triggered" and not incident.notes.exists()


def test_a_blank_filter_value_is_422_and_an_empty_one_means_not_given(owner_api, incident):
    status, body = get_json(owner_api, URL, until="  ")
    assert status == 422
    assert body["detail"][0]["loc"] == ["query", "until"]
    status, body = get_json(owner_api, URL, until="")
    assert (status, len(body["items"])) == (200, 1)


def test_a_note_of_spaces_is_refused_and_the_document_says_so(owner_api, incident):
    document = json.loads(Client().get("/api/v1/openapi.json").content)
    note = document["components"]["schemas"]["AddIncidentNoteInputSchemaRequest"]["properties"]
    assert note["note"]["pattern"] == NOT_BLANK_PATTERN
    status, body = post_json(owner_api, action_url(incident, "notes"), {"note": "\n"})
    assert (status, body["detail"][0]["loc"]) == (422, ["body", "note"])
    assert not incident.notes.exists()


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        # Not whitespace for the document's pattern (ECMA), though Python's strip() takes it:
        # schemathesis sent it, the server called it blank.
        ("\x1c", True),
        ("\x85", True),
        # Whitespace for the pattern, though not for Python's strip(): refused.
        ("\ufeff", False),
        ("\u3000 \t", False),
    ],
)
def test_what_counts_as_blank_is_what_the_document_says(owner_api, incident, text, accepted):
    assert bool(re.search(NOT_BLANK_PATTERN, text)) is accepted
    status, body = post_json(owner_api, action_url(incident, "notes"), {"note": text})
    assert status == (200 if accepted else 422), body
    assert incident.notes.exists() is accepted
