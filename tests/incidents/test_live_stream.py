"""The live stream (incidents/live/) under the real ASGI server: who may open one, and who
hears about what. Every change here goes through the services and Redis, as in production.

"Never delivered" is checked without waiting for time to pass: notices reach a process's
streams in the order Redis delivers them, so when a stream's next event is about a later
change in its own organization (or team), nothing about the earlier one came before it.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from django.conf import settings
from django.utils import timezone

from incidents import services
from incidents.models import Incident, Status
from opsduty import services as core_services
from opsduty.models import Organization, Role, User
from tests import factories
from tests.conftest import session_client_for

pytestmark = pytest.mark.django_db(transaction=True)

# Only stops a broken test from hanging; nothing here measures time.
READ_TIMEOUT = 15.0


def session_key(user: User) -> str:
    return str(session_client_for(user).cookies[settings.SESSION_COOKIE_NAME].value)


class Stream:
    """A minimal EventSource: one GET /live/ and its events, read as they come."""

    def __init__(self, base_url: str, key: str | None, **headers: str) -> None:
        parts = urlsplit(base_url)
        self.connection = http.client.HTTPConnection(
            parts.hostname or "", parts.port, timeout=READ_TIMEOUT
        )
        if key is not None:
            headers["Cookie"] = f"{settings.SESSION_COOKIE_NAME}={key}"
        self.connection.request("GET", "/live/", headers=headers)
        self.response = self.connection.getresponse()

    @property
    def status(self) -> int:
        return self.response.status

    def event(self) -> dict[str, Any] | None:
        """The next event's data, or None when the server ended the stream."""
        data: list[bytes] = []
        while True:
            line = self.response.readline()
            if not line:
                return None
            line = line.rstrip(b"\r\n")
            if line.startswith(b"data: "):
                data.append(line[6:])
            elif not line and data:
                return orjson.loads(b"\n".join(data))  # type: ignore[no-any-return]

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def open_stream(asgi_server: str) -> Iterator[Any]:
    streams: list[Stream] = []

    def _open(user: User | None = None, key: str | None = None, **headers: str) -> Stream:
        stream = Stream(asgi_server, session_key(user) if user is not None else key, **headers)
        streams.append(stream)
        return stream

    yield _open
    for stream in streams:
        stream.close()


def _service_with_incident(organization: Organization, team_name: str = "Ops") -> Incident:
    team = factories.make_team(organization=organization, name=team_name)
    return factories.make_incident(service=factories.make_service(team=team))


# --- who may open a stream ----------------------------------------------------------------


def test_a_stream_without_a_session_is_refused(open_stream: Any) -> None:
    assert open_stream().status == 401
    assert open_stream(key="not-a-session").status == 401


def test_a_deactivated_users_session_is_refused(open_stream: Any, member: User) -> None:
    key = session_key(member)
    User.objects.filter(pk=member.pk).update(is_active=False)
    assert open_stream(key=key).status == 401


def test_a_session_signed_out_everywhere_is_refused(open_stream: Any, member: User) -> None:
    key = session_key(member)
    core_services.user_sign_out_everywhere(user=member)
    assert open_stream(key=key).status == 401


def test_a_foreign_host_is_refused(open_stream: Any, owner: User) -> None:
    assert open_stream(owner, Host="evil.example").status == 400


def test_the_stream_answers_server_sent_events_that_no_proxy_buffers(
    open_stream: Any, owner: User
) -> None:
    _service_with_incident(owner.organization)
    stream = open_stream(owner)
    assert stream.status == 200
    assert stream.response.getheader("Content-Type") == "text/event-stream; charset=utf-8"
    assert stream.response.getheader("Cache-Control") == "no-cache"
    assert stream.response.getheader("X-Accel-Buffering") == "no"
    # The first event: the open count and "refresh what you show".
    assert stream.event() == {"count": 1, "resync": 1}


def test_signing_out_everywhere_ends_an_open_stream(open_stream: Any, member: User) -> None:
    stream = open_stream(member)
    assert stream.event() == {"count": 0, "resync": 1}
    core_services.user_sign_out_everywhere(user=member)
    assert stream.event() is None  # the server ended it


# --- who hears about what -----------------------------------------------------------------


def test_a_change_reaches_its_organization_and_never_another(
    open_stream: Any, owner: User, outsider: User
) -> None:
    ours = _service_with_incident(owner.organization)
    theirs = _service_with_incident(outsider.organization)
    mine, other = open_stream(owner), open_stream(outsider)
    assert mine.event() == {"count": 1, "resync": 1}
    assert other.event() == {"count": 1, "resync": 1}

    services.incident_acknowledge(incident=ours, by=owner)
    event = mine.event()
    assert event is not None
    assert event["incidents"] == [ours.pk] and event["count"] == 1

    # Organization B's next event is about its own change, not A's.
    services.incident_resolve(incident=theirs, by=outsider)
    event = other.event()
    assert event is not None
    assert event["incidents"] == [theirs.pk] and event["count"] == 0


def test_an_archive_refreshes_its_organizations_lists_only(
    open_stream: Any, owner: User, outsider: User
) -> None:
    _service_with_incident(owner.organization)
    theirs = _service_with_incident(outsider.organization)
    mine, other = open_stream(owner), open_stream(outsider)
    mine.event()
    other.event()
    services.incidents_archive(organization=owner.organization, before=timezone.now(), by=owner)
    event = mine.event()
    assert event is not None and event["every"] == 1 and event["count"] == 0

    services.incident_acknowledge(incident=theirs, by=outsider)
    event = other.event()
    assert event is not None
    assert event["every"] == 0 and event["incidents"] == [theirs.pk]


def test_a_member_hears_only_of_incidents_on_their_teams(
    open_stream: Any, owner: User, member: User
) -> None:
    hidden = _service_with_incident(owner.organization, "Payments")
    team = factories.make_team(organization=owner.organization, name="Platform")
    factories.add_member(team, member)
    service = factories.make_service(team=team)
    everyone, teammate = open_stream(owner), open_stream(member)
    assert everyone.event() == {"count": 1, "resync": 1}
    assert teammate.event() == {"count": 0, "resync": 1}

    services.incident_acknowledge(incident=hidden, by=owner)
    event = everyone.event()
    assert event is not None and event["incidents"] == [hidden.pk]

    seen = factories.make_incident(service=service, summary="Build broken")
    event = teammate.event()
    assert event is not None
    assert event["incidents"] == [seen.pk] and event["count"] == 1
    event = everyone.event()
    assert event is not None
    assert event["incidents"] == [seen.pk] and event["count"] == 2


def test_joining_a_team_shows_its_incidents_to_an_open_stream(
    open_stream: Any, owner: User, member: User
) -> None:
    incident = _service_with_incident(owner.organization, "Payments")
    stream = open_stream(member)
    assert stream.event() == {"count": 0, "resync": 1}
    core_services.team_add_member(team=incident.service.team, user=member, by=owner)
    event = stream.event()
    assert event is not None and event["count"] == 1 and event["oncall"] == 1

    services.incident_acknowledge(incident=incident, by=owner)
    event = stream.event()
    assert event is not None and event["incidents"] == [incident.pk]


def test_an_attached_incident_refreshes_its_parents_page(open_stream: Any, owner: User) -> None:
    parent = _service_with_incident(owner.organization)
    child = factories.make_incident(service=parent.service, summary="Also broken")
    services.incident_attach(incident=child, parent=parent, by=owner)
    stream = open_stream(owner)
    stream.event()
    services.incident_resolve(incident=child, by=owner)
    event = stream.event()
    assert event is not None and event["incidents"] == sorted([parent.pk, child.pk])


def test_a_schedule_edit_refreshes_on_call_widgets(open_stream: Any, owner: User) -> None:
    from escalations.schedules.services import schedule_create, schedule_update

    team = factories.make_team(organization=owner.organization, name="Ops")
    schedule = schedule_create(team=team, by=owner, name="Primary", timezone_name="UTC")
    stream = open_stream(owner)
    stream.event()
    schedule_update(
        schedule=schedule, by=owner, name="Primary", description="", timezone_name="UTC"
    )
    event = stream.event()
    assert event is not None and event["oncall"] == 1 and event["incidents"] == []


def test_a_role_change_is_seen_by_the_open_stream(
    open_stream: Any, owner: User, member: User
) -> None:
    incident = _service_with_incident(owner.organization, "Payments")
    stream = open_stream(member)
    assert stream.event() == {"count": 0, "resync": 1}
    core_services.user_set_role(user=member, role=Role.OWNER, by=owner)
    event = stream.event()
    assert event is not None and event["count"] == 1
    assert incident.status == Status.TRIGGERED
