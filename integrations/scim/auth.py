"""Bearer-token authentication of /scim/v2/ (django-scim2's AUTH_CHECK_MIDDLEWARE, which
wraps every SCIM view's dispatch). A request without a valid token of an open organization
answers 401 in SCIM's error format; the token's organization is the request's
`scim_organization`, and every read and write of the request is scoped to it. The token is
never logged: only its digest is looked up."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django_scim.constants import SCIM_CONTENT_TYPE, SchemaURI

from integrations.scim.services import scim_token_authenticate
from opsduty.audit import acting_update
from opsduty.models import AuditChannel

REALM = 'Bearer realm="OpsDuty SCIM"'


def scim_error(status: int, detail: str, scim_type: str | None = None) -> HttpResponse:
    """A SCIM error response (RFC 7644 section 3.12)."""
    body: dict[str, Any] = {"schemas": [SchemaURI.ERROR], "status": status, "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return HttpResponse(json.dumps(body), status=status, content_type=SCIM_CONTENT_TYPE)


class ScimTokenAuth:
    """Checks `Authorization: Bearer <SCIM token>` before the view runs."""

    def __init__(self, get_response: Callable[..., HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        token = None
        if scheme.lower() == "bearer" and value.strip():
            token = scim_token_authenticate(raw=value.strip())
        if token is None:
            response = scim_error(
                401, "A valid SCIM token is needed: Authorization: Bearer <token>."
            )
            response["WWW-Authenticate"] = REALM
            return response
        request.scim_token = token  # type: ignore[attr-defined]
        request.scim_organization = token.organization  # type: ignore[attr-defined]
        # The audit log names what the identity provider changes "SCIM", through SCIM.
        acting_update(actor_label="SCIM", channel=AuditChannel.SCIM)
        return self.get_response(request, *args, **kwargs)
