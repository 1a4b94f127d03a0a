"""Post-processing of the OpenAPI document (drf-spectacular `POSTPROCESSING_HOOKS`).

* `empty_query_values`: every query parameter of API v1 treats an empty value (`?until=`) as
  not given; the document says so with `allowEmptyValue`.
* `operation_links`: OpenAPI links from the answers that carry an id to the operations that
  take it (`GET /incidents/` -> `POST /incidents/{id}/acknowledge/`, a created heartbeat ->
  its states ...), so a client generator or a stateful fuzzer can chain the calls.

Operations are named by operation id, as strings: the core imports no app.
"""

from __future__ import annotations

from typing import Any

PREFIX = "opsduty_api_v1_"
INCIDENT_OPERATIONS = [
    "incidents_retrieve_incident",
    "incidents_list_incident_responders",
    "incidents_acknowledge_incident_endpoint",
    "incidents_un_acknowledge_incident_endpoint",
    "incidents_resolve_incident_endpoint",
    "incidents_un_resolve_incident_endpoint",
    "incidents_add_incident_note_endpoint",
    "incidents_page_incident_endpoint",
    "incidents_escalate_incident_endpoint",
    "incidents_reassign_incident_endpoint",
]
HEARTBEAT_OPERATIONS = [
    "heartbeats_retrieve_heartbeat",
    "heartbeats_update_heartbeat",
    "heartbeats_delete_heartbeat",
]
STATE_OPERATIONS = ["heartbeats_update_heartbeat_state", "heartbeats_delete_heartbeat_state"]
SERVICE_OPERATIONS = [
    "services_start_service_maintenance",
    "services_stop_service_maintenance",
    "services_list_service_oncall",
]
SCHEDULE_OPERATIONS = [
    "schedules_list_schedule_shifts",
    "schedules_list_schedule_overrides",
    "schedules_create_schedule_override",
]
STATUS_PAGE_OPERATIONS = [
    "statuspages_list_status_page_component_groups",
    "statuspages_create_status_page_component_group",
    "statuspages_list_status_page_components",
    "statuspages_list_status_page_incidents",
    "statuspages_declare_status_page_incident",
    "statuspages_get_status_page_uptime",
]
COMPONENT_GROUP_OPERATIONS = [
    "statuspages_update_status_page_component_group",
    "statuspages_move_status_page_component_group",
    "statuspages_delete_status_page_component_group",
]
STATUS_PAGE_INCIDENT_OPERATIONS = [
    "statuspages_publish_status_page_incident",
    "statuspages_list_status_page_incident_updates",
    "statuspages_post_status_page_incident_update",
    "statuspages_read_status_page_incident_postmortem",
    "statuspages_write_status_page_incident_postmortem",
    "statuspages_read_status_page_incident_postmortem_draft",
]

# (source operation, status, target operation, parameters: name -> runtime expression)
Link = tuple[str, str, str, dict[str, str]]


def _links() -> list[Link]:
    first_item = "$response.body#/items/0/id"
    links: list[Link] = []
    for target in INCIDENT_OPERATIONS:
        links.append(("incidents_list_incidents", "200", target, {"incident_group_id": first_item}))
        # After any call on an incident, any other call on the same incident.
        for source in INCIDENT_OPERATIONS:
            if source not in (target, "incidents_list_incident_responders"):
                links.append(
                    (
                        source,
                        "200",
                        target,
                        {"incident_group_id": "$request.path.incident_group_id"},
                    )
                )
    for target in HEARTBEAT_OPERATIONS:
        links.append(("heartbeats_list_heartbeats", "200", target, {"heartbeat_id": first_item}))
        links.append(
            ("heartbeats_create_heartbeat", "201", target, {"heartbeat_id": "$response.body#/id"})
        )
    for target in STATE_OPERATIONS:
        state = {"heartbeat_state_id": "$response.body#/states/0/id"}
        links.append(("heartbeats_retrieve_heartbeat", "200", target, state))
        links.append(
            (
                "heartbeats_list_heartbeats",
                "200",
                target,
                {"heartbeat_state_id": "$response.body#/items/0/states/0/id"},
            )
        )
        links.append(
            (
                "heartbeats_create_heartbeat_state",
                "201",
                target,
                {"heartbeat_state_id": "$response.body#/id"},
            )
        )
    links.append(
        (
            "heartbeats_retrieve_heartbeat",
            "200",
            "heartbeats_healthcheck_environment_checkin",
            {
                "service_id": "$response.body#/service",
                "name": "$response.body#/name",
                "environment": "$response.body#/states/0/environment",
            },
        )
    )
    for target in SERVICE_OPERATIONS:
        links.append(("services_list_services", "200", target, {"service_id": first_item}))
    for target in SCHEDULE_OPERATIONS:
        links.append(("schedules_list_services", "200", target, {"schedule_id": first_item}))
    delete_override = "schedules_delete_schedule_override"
    links.append(
        (
            "schedules_create_schedule_override",
            "201",
            delete_override,
            {"schedule_id": "$request.path.schedule_id", "override_id": "$response.body#/id"},
        )
    )
    links.append(
        (
            "schedules_list_schedule_overrides",
            "200",
            delete_override,
            {"schedule_id": "$request.path.schedule_id", "override_id": first_item},
        )
    )
    return links + _status_page_links()


def _status_page_links() -> list[Link]:
    """Status pages (§D): a page's lists lead to its groups, components and incidents."""
    first_item, created = "$response.body#/items/0/id", "$response.body#/id"
    links: list[Link] = [
        ("statuspages_list_status_pages", "200", target, {"status_page_id": first_item})
        for target in STATUS_PAGE_OPERATIONS
    ]
    for target in COMPONENT_GROUP_OPERATIONS:
        group = "component_group_id"
        links.append(
            ("statuspages_list_status_page_component_groups", "200", target, {group: first_item})
        )
        links.append(
            ("statuspages_create_status_page_component_group", "200", target, {group: created})
        )
    links.append(
        (
            "statuspages_list_status_page_components",
            "200",
            "statuspages_set_status_page_component_status",
            {"component_id": first_item},
        )
    )
    for target in STATUS_PAGE_INCIDENT_OPERATIONS:
        links.append(
            ("statuspages_list_status_page_incidents", "200", target, {"incident_id": first_item})
        )
        links.append(
            ("statuspages_declare_status_page_incident", "200", target, {"incident_id": created})
        )
    return links


def empty_query_values(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """`allowEmptyValue: true` on every query parameter: `?name=` means "not given"."""
    for item in result.get("paths", {}).values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query":
                    parameter["allowEmptyValue"] = True
    return result


def operation_links(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Add the links of `_links()` to the answers they start from."""
    operations = {
        operation["operationId"]: operation
        for item in result.get("paths", {}).values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    for source, status, target, parameters in _links():
        if PREFIX + source not in operations or PREFIX + target not in operations:
            continue  # a document of some of the routes (tests generate those)
        response = operations[PREFIX + source]["responses"][status]
        response.setdefault("links", {})[_link_name(target)] = {
            "operationId": PREFIX + target,
            "parameters": parameters,
        }
    return result


def _link_name(target: str) -> str:
    """`incidents_acknowledge_incident_endpoint` -> `IncidentsAcknowledgeIncidentEndpoint`."""
    return "".join(part.capitalize() for part in target.split("_"))
