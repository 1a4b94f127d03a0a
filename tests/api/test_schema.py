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
