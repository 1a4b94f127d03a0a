"""OpenAPI document and Swagger UI: public, JSON/HTML, and describing the paged envelope."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import path
from drf_spectacular.generators import SchemaGenerator

from opsduty.api.base import OrgScopedRetrieveAPIView
from opsduty.api.users import UserSchema
from opsduty.models import User
from processing.models import BaseTemplate

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema() -> dict[str, Any]:
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    document: dict[str, Any] = json.loads(response.content)
    return document


def test_openapi_json_is_public_and_lists_users(schema):
    assert schema["openapi"].startswith("3.")
    operation = schema["paths"]["/api/v1/users/"]["get"]
    assert operation["operationId"] == "opsduty_api_v1_users_list_users"
    params = {p["name"] for p in operation["parameters"]}
    assert params == {"first", "last", "page_size", "before", "after"}
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/PagedUserSchema"}
    assert {"401", "422"} <= set(operation["responses"])


def test_openapi_describes_the_envelope_and_user_schema(schema):
    paged = schema["components"]["schemas"]["PagedUserSchema"]
    assert paged["required"] == ["items", "page_info"]
    assert paged["properties"]["items"]["items"] == {"$ref": "#/components/schemas/UserSchema"}
    page_info = paged["properties"]["page_info"]
    assert page_info["required"] == ["has_next_page", "has_previous_page"]
    assert set(page_info["properties"]) == {
        "has_next_page", "has_previous_page", "start_cursor", "end_cursor"
    }  # fmt: skip
    user = schema["components"]["schemas"]["UserSchema"]
    assert set(user["properties"]) == {"id", "email", "first_name", "last_name"}


def test_openapi_lists_every_builtin_template_in_one_enum(schema):
    enum = schema["components"]["schemas"]["BuiltinTemplateEnum"]
    assert enum["enum"] == BaseTemplate.values
    assert "grafana" in enum["enum"]
    assert "* `grafana` - Grafana Alerting" in enum["description"]


def test_openapi_security_offers_bearer_and_oauth2_code_flow(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An OAuth2 access token.",
    }
    flow = schemes["oauth2"]["flows"]["authorizationCode"]
    assert flow["authorizationUrl"] == "/oauth2/authorize/"
    assert flow["tokenUrl"] == "/oauth2/token/"
    assert set(flow["scopes"]) == {"api", "api:v1"}
    security = schema["paths"]["/api/v1/users/"]["get"]["security"]
    assert {"bearerAuth": []} in security
    assert {} not in security  # not anonymous


def test_schema_generation_is_valid_and_warning_free(tmp_path: Path):
    out = tmp_path / "openapi.yaml"
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(out), stdout=StringIO()
    )
    assert "/api/v1/users/" in out.read_text()


def test_swagger_ui_is_public_html_at_the_exact_path():
    response = Client().get("/api/v1/docs")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert "swagger-ui" in body
    assert "drf_spectacular_sidecar/swagger-ui-dist/" in body
    # The init script (with the schema's URL) is a file of its own: the CSP allows no inline
    # script (docs/security.md).
    assert '<script src="/api/v1/docs?script="></script>' in body
    script = Client().get("/api/v1/docs?script=")
    assert script.status_code == 200
    assert "/api/v1/openapi.json" in script.content.decode()


class UserDetailView(OrgScopedRetrieveAPIView[User]):
    model = User
    serializer_class = UserSchema


def test_detail_views_document_404_and_model_typed_ids_without_warnings(capsys):
    # An untyped <pk> makes drf-spectacular ask the view for its model via get_queryset().
    generator = SchemaGenerator(patterns=[path("api/v1/users/<pk>/", UserDetailView.as_view())])
    document = generator.get_schema(request=None, public=True)
    assert "Warning" not in capsys.readouterr().err
    operation = document["paths"]["/api/v1/users/{id}/"]["get"]
    assert operation["parameters"][0]["schema"] == {"type": "integer"}
    assert operation["responses"]["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorSchema"
    }


# --- found by the fuzzer (tests/api/test_schemathesis.py) -------------------------------------


def test_a_422_loc_may_hold_list_indexes(schema):
    """`["body", "items", 2]`: the document said strings only, the answers hold integers."""
    loc = schema["components"]["schemas"]["ValidationErrorItemSchema"]["properties"]["loc"]
    assert loc["items"] == {"oneOf": [{"type": "string"}, {"type": "integer"}]}


def test_every_query_parameter_allows_an_empty_value(schema):
    """`?until=` means "not given" everywhere; the document says so."""
    parameters = [
        parameter
        for item in schema["paths"].values()
        for operation in item.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query"
    ]
    assert parameters and all(p["allowEmptyValue"] is True for p in parameters)


def test_links_lead_from_a_list_to_the_operations_on_its_items(schema):
    links = schema["paths"]["/api/v1/incidents/"]["get"]["responses"]["200"]["links"]
    assert links["IncidentsAcknowledgeIncidentEndpoint"] == {
        "operationId": "opsduty_api_v1_incidents_acknowledge_incident_endpoint",
        "parameters": {"incident_group_id": "$response.body#/items/0/id"},
    }
    created = schema["paths"]["/api/v1/schedules/{schedule_id}/overrides/"]["post"]
    assert created["responses"]["201"]["links"]["SchedulesDeleteScheduleOverride"][
        "parameters"
    ] == {"schedule_id": "$request.path.schedule_id", "override_id": "$response.body#/id"}
