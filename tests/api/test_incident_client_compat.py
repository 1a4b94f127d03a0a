"""The real opsduty-client 0.1.0 against a live server: incidents (#10-#13, #22-#26) and
services (#19). Parsing succeeds only when every REQUIRED key is there and every date-time
is in a format the client reads (spec §3.6-§3.8)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone
from opsduty_client import AuthenticatedClient
from opsduty_client.api.incidents import (
    opsduty_api_v1_incidents_acknowledge_incident_endpoint as acknowledge_incident,
)
from opsduty_client.api.incidents import (
    opsduty_api_v1_incidents_add_incident_note_endpoint as add_incident_note,
)
from opsduty_client.api.incidents import (
    opsduty_api_v1_incidents_list_incident_responders as list_incident_responders,
)
from opsduty_client.api.incidents import opsduty_api_v1_incidents_list_incidents as list_incidents
from opsduty_client.api.incidents import (
    opsduty_api_v1_incidents_resolve_incident_endpoint as resolve_incident,
)
from opsduty_client.api.incidents import (
    opsduty_api_v1_incidents_retrieve_incident as retrieve_incident,
)
from opsduty_client.api.incidents import (
    opsduty_api_v1_incidents_retrieve_incident_reference as retrieve_incident_reference,
)
from opsduty_client.api.incidents import (
    opsduty_api_v1_incidents_un_acknowledge_incident_endpoint as unacknowledge_incident,
)
from opsduty_client.api.incidents import (
    opsduty_api_v1_incidents_un_resolve_incident_endpoint as unresolve_incident,
)
from opsduty_client.api.services import opsduty_api_v1_services_list_services as list_services
from opsduty_client.models.add_incident_note_input_schema import AddIncidentNoteInputSchema
from opsduty_client.models.incident_group_detail_note_schema import IncidentGroupDetailNoteSchema
from opsduty_client.models.incident_group_detail_schema import IncidentGroupDetailSchema
from opsduty_client.models.incident_group_status import IncidentGroupStatus
from opsduty_client.models.incident_reference_schema import IncidentReferenceSchema
from opsduty_client.models.incident_reference_status import IncidentReferenceStatus
from opsduty_client.models.paged_incident_group_responder_schema import (
    PagedIncidentGroupResponderSchema,
)
from opsduty_client.models.paged_incident_group_schema import PagedIncidentGroupSchema
from opsduty_client.models.paged_service_schema import PagedServiceSchema
from opsduty_client.models.resolve_incident_input_schema import ResolveIncidentInputSchema
from opsduty_client.models.responder_status import ResponderStatus

from incidents import services as incident_services
from incidents.models import Incident
from opsduty import services
from opsduty.models import Role, Service, User
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def setup(transactional_db: None) -> dict[str, Any]:
    """Org "live": an owner, a member paged on incident "Disk full", and a second service."""
    organization = factories.make_organization(domain="live", name="Live")
    owner = factories.make_user(organization=organization, role=Role.OWNER)
    member = factories.make_user(organization=organization)
    team = factories.make_team(organization=organization, name="Platform")
    factories.add_member(team, member)
    api = factories.make_service(team=team, name="API")
    billing = factories.make_service(organization=organization, name="Billing")
    older = factories.make_incident(service=api, summary="Older")
    incident = factories.make_incident(service=api, summary="Disk full")
    factories.make_responder(incident=incident, user=member)
    reference = factories.make_reference(organization=organization)
    invoice = factories.make_incident(service=billing, summary="Invoice run", reference=reference)
    pending = factories.make_reference(organization=organization)
    return {
        "owner": owner,
        "member": member,
        "services": [api, billing],
        "incidents": [older, incident],
        "invoice": invoice,
        "reference": reference,
        "pending": pending,
    }


@pytest.fixture
def live_client(live_server: Any, setup: dict[str, Any]) -> Any:
    token = services.api_token_create(user=setup["owner"])
    with AuthenticatedClient(
        base_url=live_server.url, token=token, raise_on_unexpected_status=True
    ) as authenticated:
        yield authenticated


def test_client_lists_incidents_newest_first_page_by_page(live_client, setup):
    ids: list[Any] = []
    after: str | None = None
    while True:
        page = list_incidents.sync(client=live_client, first=2, after=after)
        assert isinstance(page, PagedIncidentGroupSchema)
        ids += [item.id for item in page.items]
        if not page.page_info.has_next_page:
            break
        assert isinstance(page.page_info.end_cursor, str)
        after = page.page_info.end_cursor
    assert ids == sorted(ids, reverse=True)
    assert len(ids) == 3
    first = list_incidents.sync(
        client=live_client,
        service=setup["services"][0].pk,
        since=datetime.datetime(2000, 1, 1),  # noqa: DTZ001 - naive on purpose (= UTC)
        until=timezone.now() + datetime.timedelta(hours=1),
    )
    assert isinstance(first, PagedIncidentGroupSchema)
    [newest, older] = first.items
    assert newest.summary == "Disk full"
    assert newest.status == IncidentGroupStatus.TRIGGERED
    assert newest.service is not None and newest.service.name == "API"
    assert isinstance(newest.created_at, datetime.datetime)
    assert isinstance(newest.last_status_change_at, datetime.datetime)
    assert newest.acknowledged_at is None
    assert newest.incident_number == setup["incidents"][1].number


def test_client_retrieves_an_incident_with_notes_and_its_responders(live_client, setup):
    incident: Incident = setup["incidents"][1]
    incident_services.incident_add_note(incident=incident, by=setup["owner"], text="looking")
    detail = retrieve_incident.sync(incident.pk, client=live_client)
    assert isinstance(detail, IncidentGroupDetailSchema)
    [note] = detail.notes
    assert note.note == "looking"
    assert isinstance(note.created_at, datetime.datetime)
    responders = list_incident_responders.sync(incident.pk, client=live_client)
    assert isinstance(responders, PagedIncidentGroupResponderSchema)
    [responder] = responders.items
    assert responder.status == ResponderStatus.PENDING
    assert responder.user.email == setup["member"].email
    assert isinstance(responder.last_notified, datetime.datetime)
    assert responder.status_updated_at is None


def test_client_retrieves_references(live_client, setup):
    done = retrieve_incident_reference.sync(str(setup["reference"].public_id), client=live_client)
    assert isinstance(done, IncidentReferenceSchema)
    assert done.status == IncidentReferenceStatus.COMPLETED
    assert done.incident_group == setup["invoice"].pk
    assert isinstance(done.updated_at, datetime.datetime)
    pending = retrieve_incident_reference.sync(str(setup["pending"].public_id), client=live_client)
    assert isinstance(pending, IncidentReferenceSchema)
    assert pending.status == IncidentReferenceStatus.PENDING
    assert pending.incident_group is None
    missing = retrieve_incident_reference.sync("ref/with?odd#chars", client=live_client)
    assert missing.__class__.__name__.endswith("Response404")


def test_client_runs_the_incident_actions(live_client, setup):
    incident: Incident = setup["incidents"][1]
    acked = acknowledge_incident.sync(incident.pk, client=live_client)
    assert isinstance(acked, IncidentGroupDetailSchema)
    assert acked.status == IncidentGroupStatus.ACKNOWLEDGED
    assert isinstance(acked.acknowledged_at, datetime.datetime)

    back = unacknowledge_incident.sync(incident.pk, client=live_client)
    assert isinstance(back, IncidentGroupDetailSchema)
    assert back.status == IncidentGroupStatus.TRIGGERED

    note = add_incident_note.sync(
        incident.pk, client=live_client, body=AddIncidentNoteInputSchema(note="restarted pods")
    )
    assert isinstance(note, IncidentGroupDetailNoteSchema)
    assert note.note == "restarted pods"
    assert isinstance(note.id, int)

    resolved = resolve_incident.sync(
        incident.pk, client=live_client, body=ResolveIncidentInputSchema(note="fixed")
    )
    assert isinstance(resolved, IncidentGroupDetailSchema)
    assert resolved.status == IncidentGroupStatus.RESOLVED
    assert isinstance(resolved.resolved_at, datetime.datetime)
    assert [n.note for n in resolved.notes] == ["restarted pods", "fixed"]

    refused = acknowledge_incident.sync(incident.pk, client=live_client)
    assert refused.__class__.__name__.endswith("Response422")
    assert isinstance(refused.detail, list)  # type: ignore[union-attr]

    reopened = unresolve_incident.sync(incident.pk, client=live_client)
    assert isinstance(reopened, IncidentGroupDetailSchema)
    assert reopened.status == IncidentGroupStatus.TRIGGERED


def test_client_resolves_with_an_empty_json_body(live_client, setup):
    # body=None sends `Content-Type: application/json` and no body at all (spec §B.2).
    resolved = resolve_incident.sync(setup["incidents"][0].pk, client=live_client, body=None)
    assert isinstance(resolved, IncidentGroupDetailSchema)
    assert resolved.status == IncidentGroupStatus.RESOLVED
    assert resolved.notes == []


def test_client_gets_404_for_unknown_incidents(live_client, setup):
    missing = retrieve_incident.sync(999_999, client=live_client)
    assert missing.__class__.__name__.endswith("Response404")
    assert isinstance(missing.detail, str)  # type: ignore[union-attr]


def test_client_lists_services_with_every_required_key(live_client, setup):
    page = list_services.sync(client=live_client)
    assert isinstance(page, PagedServiceSchema)
    api, billing = page.items
    expected: Service = setup["services"][0]
    assert (api.id, api.name, api.routing_key) == (expected.pk, "API", expected.routing_key)
    assert api.maintenance_mode is None
    assert api.maintenance_window_start is None
    assert api.maintenance_window_end is None
    assert api.service_type == "technical"
    assert billing.name == "Billing"


def test_client_member_sees_only_their_teams_services(live_server, setup):
    member: User = setup["member"]
    token = services.api_token_create(user=member)
    with AuthenticatedClient(base_url=live_server.url, token=token) as member_client:
        page = list_services.sync(client=member_client)
        assert isinstance(page, PagedServiceSchema)
        assert [s.name for s in page.items] == ["API"]
        incidents = list_incidents.sync(client=member_client)
        assert isinstance(incidents, PagedIncidentGroupSchema)
        assert {i.summary for i in incidents.items} == {"Disk full", "Older"}
