"""API v1 status pages (spec §D, S1-S17): routes, statuses, defaults, filters, errors and
tenancy through the Django test client; and every operation through the real
opsduty-client 0.1.0 against a live server, success and error paths."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from opsduty_client import AuthenticatedClient
from opsduty_client.api.statuspages import (
    opsduty_api_v1_statuspages_create_status_page_component_group as create_group,
)
from opsduty_client.api.statuspages import (
    opsduty_api_v1_statuspages_declare_status_page_incident as declare,
)
from opsduty_client.api.statuspages import (
    opsduty_api_v1_statuspages_delete_status_page_component_group as delete_group,
)
from opsduty_client.api.statuspages import (
    opsduty_api_v1_statuspages_get_status_page_uptime as get_uptime,
)
from opsduty_client.api.statuspages import (
    opsduty_api_v1_statuspages_list_status_page_component_groups as list_groups,
)
from opsduty_client.api.statuspages import (
    opsduty_api_v1_statuspages_list_status_page_components as list_components,
)
from opsduty_client.api.statuspages import (
    opsduty_api_v1_statuspages_list_status_page_incident_updates as list_updates,
)
from opsduty_client.api.statuspages import (
    opsduty_api_v1_statuspages_list_status_page_incidents as list_incidents,
)
from opsduty_client.api.statuspages import (
    opsduty_api_v1_statuspages_list_status_pages as list_pages,
)
from opsduty_client.api.statuspages import (
    opsduty_api_v1_statuspages_move_status_page_component_group as move_group,
)
from opsduty_client.api.statuspages import (
    opsduty_api_v1_statuspages_post_status_page_incident_update as post_update,
)
from opsduty_client.api.statuspages import (
    opsduty_api_v1_statuspages_publish_status_page_incident as publish,
)
from opsduty_client.api.statuspages import (
    opsduty_api_v1_statuspages_read_status_page_incident_postmortem as read_postmortem,
)
from opsduty_client.api.statuspages import (
    opsduty_api_v1_statuspages_read_status_page_incident_postmortem_draft as read_draft,
)
from opsduty_client.api.statuspages import (
    opsduty_api_v1_statuspages_set_status_page_component_status as set_status,
)
from opsduty_client.api.statuspages import (
    opsduty_api_v1_statuspages_update_status_page_component_group as update_group,
)
from opsduty_client.api.statuspages import (
    opsduty_api_v1_statuspages_write_status_page_incident_postmortem as write_postmortem,
)
from opsduty_client.models.component_group_input_schema import ComponentGroupInputSchema
from opsduty_client.models.component_group_schema import ComponentGroupSchema
from opsduty_client.models.component_schema import ComponentSchema
from opsduty_client.models.component_status import ComponentStatus
from opsduty_client.models.declare_incident_schema import DeclareIncidentSchema
from opsduty_client.models.incident_impact import IncidentImpact
from opsduty_client.models.incident_postmortem_draft_schema import IncidentPostmortemDraftSchema
from opsduty_client.models.incident_postmortem_schema import IncidentPostmortemSchema
from opsduty_client.models.incident_schema import IncidentSchema
from opsduty_client.models.incident_status import IncidentStatus
from opsduty_client.models.incident_update_schema import IncidentUpdateSchema
from opsduty_client.models.move_component_group_schema import MoveComponentGroupSchema
from opsduty_client.models.opsduty_api_v1_statuspages_list_status_page_incidents_type_type_0 import (  # noqa: E501
    OpsdutyApiV1StatuspagesListStatusPageIncidentsTypeType0 as IncidentType,
)
from opsduty_client.models.ordered_model_movement import OrderedModelMovement
from opsduty_client.models.paged_component_group_schema import PagedComponentGroupSchema
from opsduty_client.models.paged_component_schema import PagedComponentSchema
from opsduty_client.models.paged_incident_schema import PagedIncidentSchema
from opsduty_client.models.paged_incident_update_schema import PagedIncidentUpdateSchema
from opsduty_client.models.paged_status_page_schema import PagedStatusPageSchema
from opsduty_client.models.post_incident_update_schema import PostIncidentUpdateSchema
from opsduty_client.models.set_component_status_schema import SetComponentStatusSchema
from opsduty_client.models.set_incident_postmortem_schema import SetIncidentPostmortemSchema
from opsduty_client.models.status_page_access_mode import StatusPageAccessMode
from opsduty_client.models.status_page_uptime_schema import StatusPageUptimeSchema

from incidents.models import IncidentNote
from opsduty import services as core_services
from opsduty.models import Organization, Role, User
from statuspages import services
from statuspages.models import ComponentGroup, Notice
from tests import factories
from tests.api.conftest import get_json
from tests.statuspages.conftest import PageWorld, page_world

BASE = "/api/v1/statuspages"


def _id(value: Any) -> int:
    """An id the client parsed (typed `int | Unset | None` by the client)."""
    assert isinstance(value, int)
    return value


def _detail(response: Any) -> Any:
    """The `detail` of an error body the client parsed."""
    return response.parsed.detail


@pytest.fixture
def world(org_a: Organization) -> PageWorld:
    return page_world(org_a)


def _send(client: Client, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    kwargs: dict[str, Any] = {}
    if body is not None:
        kwargs = {"data": json.dumps(body), "content_type": "application/json"}
    response = getattr(client, method)(path, **kwargs)
    content = json.loads(response.content) if response.content else None
    return response.status_code, content


def _object_paths(world: PageWorld, notice: Notice) -> list[tuple[str, str, Any]]:
    """Every route that names an object of org A, with a valid body."""
    page, group, component = world.page.pk, world.platform.pk, world.api_component.pk
    return [
        ("get", f"{BASE}/{page}/component-groups/", None),
        ("post", f"{BASE}/{page}/component-groups/", {"name": "X"}),
        ("put", f"{BASE}/component-groups/{group}/", {"name": "X"}),
        ("post", f"{BASE}/component-groups/{group}/move/", {"movement": "top"}),
        ("get", f"{BASE}/{page}/components/", None),
        ("post", f"{BASE}/components/{component}/status/", {"status": "major_outage"}),
        ("get", f"{BASE}/{page}/incidents/", None),
        ("post", f"{BASE}/{page}/incidents/", {"title": "X"}),
        ("post", f"{BASE}/incidents/{notice.pk}/publish/", None),
        ("get", f"{BASE}/incidents/{notice.pk}/updates/", None),
        ("post", f"{BASE}/incidents/{notice.pk}/updates/", {"body": "X"}),
        ("get", f"{BASE}/incidents/{notice.pk}/postmortem/", None),
        ("put", f"{BASE}/incidents/{notice.pk}/postmortem/", {"body": "X"}),
        ("get", f"{BASE}/incidents/{notice.pk}/postmortem/draft/", None),
        ("get", f"{BASE}/{page}/uptime/", None),
        ("delete", f"{BASE}/component-groups/{group}/", None),
    ]


@pytest.mark.django_db
def test_another_organization_sees_none_of_the_pages_objects(
    world: PageWorld, outsider_api: Client, owner_api: Client
) -> None:
    notice = services.notice_declare(page=world.page, by=None, title="Ours")
    status, body = get_json(outsider_api, f"{BASE}/")
    assert (status, body["items"]) == (200, [])
    for method, path, payload in _object_paths(world, notice):
        assert _send(outsider_api, method, path, payload) == (404, {"detail": "Not found."}), path
    status, body = get_json(owner_api, f"{BASE}/")
    assert [item["id"] for item in body["items"]] == [world.page.pk]
    # Nothing changed for org A.
    assert ComponentGroup.objects.filter(status_page=world.page).count() == 2


@pytest.mark.django_db
def test_without_a_token_every_route_answers_401_json(world: PageWorld) -> None:
    notice = services.notice_declare(page=world.page, by=None, title="Ours")
    anonymous = Client(HTTP_AUTHORIZATION="Bearer not-a-token")
    for method, path, payload in [("get", f"{BASE}/", None), *_object_paths(world, notice)]:
        status, body = _send(anonymous, method, path, payload)
        assert status == 401 and isinstance(body["detail"], str), path


@pytest.mark.django_db
def test_stakeholders_read_but_do_not_change(world: PageWorld, stakeholder: User) -> None:
    token = factories.access_token_for(stakeholder)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert get_json(client, f"{BASE}/{world.page.pk}/components/")[0] == 200
    status, body = _send(client, "post", f"{BASE}/{world.page.pk}/component-groups/", {"name": "X"})
    assert status == 403 and "detail" in body


@pytest.mark.django_db
def test_routes_take_integer_ids_and_literals_never_read_as_a_page(
    world: PageWorld, owner_api: Client
) -> None:
    assert _send(owner_api, "get", f"{BASE}/component-groups/")[0] == 404
    assert _send(owner_api, "get", f"{BASE}/abc/components/")[0] == 404
    assert _send(owner_api, "get", f"{BASE}/{world.page.pk}/components")[0] == 404  # no redirect
    notice = services.notice_declare(page=world.page, by=None, title="T")
    status, body = _send(owner_api, "get", f"{BASE}/incidents/{notice.pk}/postmortem/draft/")
    assert status == 200 and body["body"].startswith("# Postmortem: T")
    status, body = _send(owner_api, "get", f"{BASE}/incidents/{notice.pk}/postmortem/")
    assert status == 422 and isinstance(body["detail"], list)


@pytest.mark.django_db
def test_declare_applies_the_defaults_of_absent_keys(world: PageWorld, owner_api: Client) -> None:
    status, body = _send(owner_api, "post", f"{BASE}/{world.page.pk}/incidents/", {"title": "E"})
    assert status == 200
    assert {k: body[k] for k in ("status", "impact", "body", "draft", "sync_component_status")} == {
        "status": "investigating",
        "impact": "minor",
        "body": "",
        "draft": False,
        "sync_component_status": False,
    }
    assert body["duration_seconds"] is None and body["incident_group"] is None
    assert body["status_page"] == world.page.pk and body["component_ids"] == []
    status, updates = get_json(owner_api, f"{BASE}/incidents/{body['id']}/updates/")
    assert [u["status"] for u in updates["items"]] == ["investigating"]


@pytest.mark.django_db
def test_declare_refusals(
    world: PageWorld, owner_api: Client, org_a: Organization, org_b: Organization
) -> None:
    path = f"{BASE}/{world.page.pk}/incidents/"
    other = page_world(factories.make_organization(domain="third", name="Third"))
    foreign_incident = factories.make_incident(service=factories.make_service(organization=org_b))
    cases = [
        ({"title": ""}, "title"),
        ({"title": "x", "status": "exploded"}, "status"),
        ({"title": "x", "impact": "huge"}, "impact"),
        ({"title": "x", "component_ids": [other.api_component.pk]}, "component_ids"),
        ({"title": "x", "incident_group_id": foreign_incident.pk}, "incident_group_id"),
        ({"title": "x", "derive_affected_components": True}, "derive_affected_components"),
    ]
    for payload, field in cases:
        status, body = _send(owner_api, "post", path, payload)
        assert status == 422, payload
        assert body["detail"][0]["loc"] == ["body", field], body


@pytest.mark.django_db
def test_declare_from_an_incident_links_it_and_notes_its_timeline(
    world: PageWorld, owner_api: Client
) -> None:
    incident = factories.make_incident(service=world.checkout)
    status, body = _send(
        owner_api,
        "post",
        f"{BASE}/{world.page.pk}/incidents/",
        {
            "title": "Checkout errors",
            "impact": "critical",
            "incident_group_id": incident.pk,
            "derive_affected_components": True,
            "sync_component_status": True,
        },
    )
    assert status == 200
    assert body["incident_group"] == incident.pk
    assert body["component_ids"] == [world.checkout_component.pk]
    assert IncidentNote.objects.filter(incident=incident).count() == 1
    _, components = get_json(owner_api, f"{BASE}/{world.page.pk}/components/")
    shown = {c["id"]: c["status"] for c in components["items"]}
    assert shown[world.checkout_component.pk] == "major_outage"


@pytest.mark.django_db
def test_incident_filters(world: PageWorld, owner_api: Client) -> None:
    base = datetime(2027, 5, 1, 10, tzinfo=UTC)
    made = {}
    for n, (status, component) in enumerate(
        [("investigating", world.api_component), ("identified", world.web_component),
         ("scheduled", world.api_component), ("resolved", None)]
    ):  # fmt: skip
        notice = services.notice_declare(
            page=world.page, by=None, title=status, status=status,
            component_ids=[component.pk] if component else [],
        )  # fmt: skip
        Notice.objects.filter(pk=notice.pk).update(created_at=base + timedelta(hours=n))
        made[status] = notice.pk
    path = f"{BASE}/{world.page.pk}/incidents/"

    def titles(query: str) -> list[str]:
        response = owner_api.get(path + query)
        assert response.status_code == 200, response.content
        return [item["title"] for item in json.loads(response.content)["items"]]

    assert titles("") == ["resolved", "scheduled", "identified", "investigating"]
    assert titles("?") == titles("")
    assert titles("?status=investigating&status=identified") == ["identified", "investigating"]
    assert titles("?type=planned") == ["scheduled"]
    assert titles("?type=unplanned") == ["resolved", "identified", "investigating"]
    # Naive means UTC; after inclusive, before exclusive.
    assert titles("?created_after=2027-05-01T11:00:00&created_before=2027-05-01T13:00:00") == [
        "scheduled",
        "identified",
    ]
    # 13:00+02:00 is 11:00 UTC.
    assert titles("?created_after=2027-05-01T13%3A00%3A00%2B02%3A00") == [
        "resolved",
        "scheduled",
        "identified",
    ]
    assert titles(f"?component_id={world.api_component.pk}") == ["scheduled", "investigating"]
    assert titles("?first=1&status=resolved&status=scheduled") == ["resolved"]
    for bad in ("status=exploded", "type=both", "created_after=yesterday", "component_id=x"):
        response = owner_api.get(f"{path}?{bad}")
        assert response.status_code == 422, bad
        assert json.loads(response.content)["detail"][0]["loc"][0] == "query"


@pytest.mark.django_db
def test_lists_are_paged_with_cursors(world: PageWorld, owner_api: Client) -> None:
    path = f"{BASE}/{world.page.pk}/components/"
    _, first = get_json(owner_api, path, first=2)
    assert [c["name"] for c in first["items"]] == ["API", "Web"]
    assert first["page_info"]["has_next_page"] is True
    _, rest = get_json(owner_api, path, first=2, after=first["page_info"]["end_cursor"])
    assert [c["name"] for c in rest["items"]] == ["Checkout"]
    assert rest["page_info"]["has_next_page"] is False
    _, last = get_json(owner_api, path, last=1)
    assert [c["name"] for c in last["items"]] == ["Checkout"]
    _, groups = get_json(owner_api, f"{BASE}/{world.page.pk}/component-groups/", last=1)
    assert [g["name"] for g in groups["items"]] == ["Payments"]
    assert get_json(owner_api, path, after="!!")[0] == 422


@pytest.mark.django_db
def test_group_delete_answers_204_and_cleans_incidents(world: PageWorld, owner_api: Client) -> None:
    notice = services.notice_declare(
        page=world.page, by=None, title="x",
        component_ids=[world.api_component.pk, world.checkout_component.pk],
    )  # fmt: skip
    response = owner_api.delete(f"{BASE}/component-groups/{world.platform.pk}/")
    assert response.status_code == 204 and response.content == b""
    _, body = get_json(owner_api, f"{BASE}/{world.page.pk}/incidents/")
    assert body["items"][0]["id"] == notice.pk
    assert body["items"][0]["component_ids"] == [world.checkout_component.pk]
    assert _send(owner_api, "delete", f"{BASE}/component-groups/{world.platform.pk}/")[0] == 404


@pytest.mark.django_db(transaction=True)
def test_the_public_client_runs_every_status_page_operation(live_server: Any) -> None:
    organization = factories.make_organization(domain="live", name="Live")
    owner = factories.make_user(organization=organization, role=Role.OWNER)
    world = page_world(organization)
    incident = factories.make_incident(service=world.api, summary="5xx")
    token = core_services.api_token_create(user=owner)
    with AuthenticatedClient(
        base_url=live_server.url, token=token, raise_on_unexpected_status=True
    ) as client:
        pages = list_pages.sync(client=client)
        assert isinstance(pages, PagedStatusPageSchema)
        [page] = pages.items
        assert (page.id, page.name, page.access_mode) == (
            world.page.pk,
            "Acme status",
            StatusPageAccessMode.PUBLIC,
        )
        assert page.enabled is True and page.calculate_uptime is True
        assert page.domain == "status.live.test" and isinstance(page.created_at, datetime)

        groups = list_groups.sync(world.page.pk, client=client)
        assert isinstance(groups, PagedComponentGroupSchema)
        assert [(g.name, g.order, g.component_ids) for g in groups.items] == [
            ("Platform", 0, [world.api_component.pk, world.web_component.pk]),
            ("Payments", 1, [world.checkout_component.pk]),
        ]
        created = create_group.sync(
            world.page.pk, client=client, body=ComponentGroupInputSchema(name="Ops")
        )
        assert isinstance(created, ComponentGroupSchema)
        assert (created.order, created.component_ids, created.description) == (2, [], "")
        updated = update_group.sync(
            _id(created.id),
            client=client,
            body=ComponentGroupInputSchema(name="Operations", description="Ours"),
        )
        assert isinstance(updated, ComponentGroupSchema)
        assert (updated.name, updated.description, updated.order) == ("Operations", "Ours", 2)
        moved = move_group.sync(
            _id(created.id), client=client, body=MoveComponentGroupSchema(OrderedModelMovement.TOP)
        )
        assert isinstance(moved, ComponentGroupSchema) and moved.order == 0
        assert delete_group.sync(_id(created.id), client=client) is None
        missing = delete_group.sync_detailed(_id(created.id), client=client)
        assert missing.status_code == 404 and _detail(missing) == "Not found."

        components = list_components.sync(world.page.pk, client=client, first=2)
        assert isinstance(components, PagedComponentSchema)
        assert [c.name for c in components.items] == ["API", "Web"]
        assert components.items[0].service_ids == [world.api.pk]
        assert components.items[0].status == ComponentStatus.OPERATIONAL
        assert components.page_info.has_next_page is True
        component = set_status.sync(
            world.web_component.pk,
            client=client,
            body=SetComponentStatusSchema(ComponentStatus.PARTIAL_OUTAGE),
        )
        assert isinstance(component, ComponentSchema)
        assert (component.status, component.component_group_id) == (
            ComponentStatus.PARTIAL_OUTAGE,
            world.platform.pk,
        )

        draft = declare.sync(
            world.page.pk,
            client=client,
            body=DeclareIncidentSchema(
                title="API errors",
                status=IncidentStatus.IDENTIFIED,
                impact=IncidentImpact.MAJOR,
                body="We know",
                incident_group_id=incident.pk,
                derive_affected_components=True,
                sync_component_status=True,
                published=False,
            ),
        )
        assert isinstance(draft, IncidentSchema)
        assert draft.draft is True and draft.component_ids == [world.api_component.pk]
        assert draft.incident_group == incident.pk and draft.duration_seconds is None
        refused = post_update.sync_detailed(
            _id(draft.id), client=client, body=PostIncidentUpdateSchema(body="too early")
        )
        assert refused.status_code == 422 and isinstance(_detail(refused), list)
        published = publish.sync(_id(draft.id), client=client)
        assert isinstance(published, IncidentSchema)
        assert published.draft is False and published.created_at >= draft.created_at
        synced = set_status.sync(
            world.api_component.pk,
            client=client,
            body=SetComponentStatusSchema(ComponentStatus.OPERATIONAL),
        )
        assert isinstance(synced, ComponentSchema)
        assert synced.status == ComponentStatus.PARTIAL_OUTAGE  # the synced incident wins

        later = timezone.now() + timedelta(hours=1)
        waiting = post_update.sync(
            _id(draft.id),
            client=client,
            body=PostIncidentUpdateSchema(
                body="Maintenance window", status=IncidentStatus.MONITORING, display_at=later
            ),
        )
        assert isinstance(waiting, IncidentUpdateSchema)
        assert waiting.visible is False and waiting.published_at is None
        resolved = post_update.sync(
            _id(draft.id),
            client=client,
            body=PostIncidentUpdateSchema(body="Fix deployed", status=IncidentStatus.RESOLVED),
        )
        assert isinstance(resolved, IncidentUpdateSchema)
        assert resolved.status == IncidentStatus.RESOLVED and resolved.visible is True
        assert isinstance(resolved.published_at, datetime)
        updates = list_updates.sync(_id(draft.id), client=client)
        assert isinstance(updates, PagedIncidentUpdateSchema)
        assert [u.body for u in updates.items] == ["Fix deployed", "Maintenance window", "We know"]

        incidents = list_incidents.sync(
            world.page.pk,
            client=client,
            status=[IncidentStatus.RESOLVED, IncidentStatus.INVESTIGATING],
            type_=IncidentType.UNPLANNED,
            created_after=datetime(2020, 1, 1),  # noqa: DTZ001 - naive on purpose: UTC
            component_id=world.api_component.pk,
        )
        assert isinstance(incidents, PagedIncidentSchema)
        [listed] = incidents.items
        assert listed.status == IncidentStatus.RESOLVED and isinstance(listed.duration_seconds, int)
        assert isinstance(
            list_incidents.sync(world.page.pk, client=client, status=[]), PagedIncidentSchema
        )

        none_yet = read_postmortem.sync_detailed(_id(draft.id), client=client)
        assert none_yet.status_code == 422 and isinstance(_detail(none_yet), list)
        generated = read_draft.sync(_id(draft.id), client=client)
        assert isinstance(generated, IncidentPostmortemDraftSchema)
        assert generated.body.startswith("# Postmortem: API errors")
        written = write_postmortem.sync(
            _id(draft.id),
            client=client,
            body=SetIncidentPostmortemSchema(body="# PM", published=True),
        )
        assert isinstance(written, IncidentPostmortemSchema)
        assert written.published is True and isinstance(written.published_at, datetime)
        read = read_postmortem.sync(_id(draft.id), client=client)
        assert isinstance(read, IncidentPostmortemSchema) and read.body == "# PM"

        uptime = get_uptime.sync(world.page.pk, client=client)
        assert isinstance(uptime, StatusPageUptimeSchema)
        assert uptime.published is True
        assert [u.name for u in uptime.components] == ["API", "Web", "Checkout"]
        assert all(0 <= u.uptime <= 100 for u in uptime.components)

        # Error paths the client parses: 404 for an unknown id, 422 for a bad value.
        unknown = list_groups.sync_detailed(999_999_999, client=client)
        assert unknown.status_code == 404 and _detail(unknown) == "Not found."
        bad = list_incidents.sync_detailed(
            world.page.pk, client=client, created_before=None, first=-1
        )
        assert bad.status_code == 422 and isinstance(_detail(bad), list)
    with AuthenticatedClient(base_url=live_server.url, token="wrong") as stranger:
        denied = list_pages.sync_detailed(client=stranger)
        assert denied.status_code == 401 and isinstance(_detail(denied), str)
        assert get_uptime.sync_detailed(world.page.pk, client=stranger).status_code == 401
