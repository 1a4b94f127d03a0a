"""What the SCIM endpoint publishes about itself (/Schemas, /ServiceProviderConfig): the
attributes of a User and a Group that OpsDuty keeps, no more. An identity provider may send
others (Okta's `locale`, Entra ID's enterprise extension): they are accepted and ignored.

`emails` and `active` are required here: OpsDuty always has a person's address and knows
whether they are active, so neither can be removed (a PATCH `remove` of them answers 400)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django_scim.constants import SchemaURI

from integrations.scim.locations import scim_base_url

USER = SchemaURI.USER
GROUP = SchemaURI.GROUP
MAX_RESULTS = 200  # a page of a list or filter answer at most


def _attribute(name: str, **extra: Any) -> dict[str, Any]:
    attribute = {
        "name": name,
        "type": "string",
        "multiValued": False,
        "description": name,
        "required": False,
        "caseExact": False,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
    }
    attribute.update(extra)
    return attribute


USER_SCHEMA: dict[str, Any] = {
    "id": USER,
    "name": "User",
    "description": "A person of the organization.",
    "attributes": [
        _attribute(
            "userName",
            required=True,
            uniqueness="server",
            description="The person's user name at the identity provider; their address "
            "unless `emails` gives one.",
        ),
        _attribute(
            "name",
            type="complex",
            description="The person's name.",
            subAttributes=[
                _attribute("givenName", description="First name."),
                _attribute("familyName", description="Last name."),
            ],
        ),
        _attribute("displayName", description="The name to show."),
        _attribute(
            "emails",
            type="complex",
            multiValued=True,
            required=True,
            description="Addresses; the primary one (or the first) is the sign-in address.",
            subAttributes=[
                _attribute("value", required=True, description="An address."),
                _attribute("type", canonicalValues=["work", "home", "other"]),
                _attribute("primary", type="boolean", description="The sign-in address."),
            ],
        ),
        _attribute(
            "active",
            type="boolean",
            required=True,
            description="False: the person cannot sign in, use a token or be paged.",
        ),
        _attribute(
            "groups",
            type="complex",
            multiValued=True,
            mutability="readOnly",
            description="The person's teams.",
            subAttributes=[
                _attribute("value", mutability="readOnly"),
                _attribute(
                    "$ref", type="reference", referenceTypes=["Group"], mutability="readOnly"
                ),
                _attribute("display", mutability="readOnly"),
            ],
        ),
    ],
    "meta": {"resourceType": "Schema"},
}

GROUP_SCHEMA: dict[str, Any] = {
    "id": GROUP,
    "name": "Group",
    "description": "A team of the organization.",
    "attributes": [
        _attribute("displayName", required=True, uniqueness="server", description="The name."),
        _attribute(
            "members",
            type="complex",
            multiValued=True,
            description="The people in the team.",
            subAttributes=[
                _attribute("value", mutability="immutable", description="A person's id."),
                _attribute(
                    "$ref", type="reference", referenceTypes=["User"], mutability="immutable"
                ),
            ],
        ),
    ],
    "meta": {"resourceType": "Schema"},
}


def schemas() -> list[dict[str, Any]]:
    """SCHEMAS_GETTER of django-scim2: the schemas /Schemas lists."""
    return [USER_SCHEMA, GROUP_SCHEMA]


class ServiceProviderConfig:
    """SERVICE_PROVIDER_CONFIG_MODEL of django-scim2: what this server supports."""

    def __init__(self, request: HttpRequest | None = None) -> None:
        self.request = request

    def to_dict(self) -> dict[str, Any]:
        location = scim_base_url(self.request) + reverse("scim:service-provider-config")
        return {
            "schemas": [SchemaURI.SERVICE_PROVIDER_CONFIG],
            "documentationUri": None,
            "patch": {"supported": True},
            "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": True, "maxResults": MAX_RESULTS},
            "changePassword": {"supported": False},
            "sort": {"supported": False},
            "etag": {"supported": False},
            "authenticationSchemes": [
                {
                    "type": "oauthbearertoken",
                    "name": "Bearer token",
                    "description": "A SCIM token of the organization, from Settings -> SCIM.",
                    "primary": True,
                }
            ],
            "meta": {"resourceType": "ServiceProviderConfig", "location": location},
        }
