"""scim2-tester (python-scim) runs every check it has against /scim/v2/ on a live server
(uvicorn on loopback, as `make run` serves), with a SCIM token of org A: discovery
(ServiceProviderConfig, ResourceTypes, Schemas), a random URL's SCIM 404, and for Users and
Groups create, read, list, search, `attributes` / `excludedAttributes`, PUT, DELETE and PATCH
add / remove / replace of every attribute the published schemas say is writable."""

from __future__ import annotations

import pytest
from httpx2 import Client as HttpClient
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from opsduty.models import User
from tests.integrations.scim.conftest import token_for


@pytest.mark.django_db(transaction=True)
def test_scim2_tester_checks_all_pass(asgi_server: str, owner: User) -> None:
    # A second active owner: the tester deactivates people it creates, never the last one.
    token = token_for(owner.organization, owner)
    http = HttpClient(
        base_url=f"{asgi_server}/scim/v2", headers={"Authorization": f"Bearer {token}"}
    )
    client = SyncSCIMClient(http)
    results = check_server(client)
    failed = [
        f"{r.title} [{r.resource_type}]: {r.reason}"
        for r in results
        if r.status not in (Status.SUCCESS, Status.SKIPPED)
    ]
    skipped = [
        f"{r.title} [{r.resource_type}]: {r.reason}" for r in results if r.status == Status.SKIPPED
    ]
    print("\n".join(f"{r.status.name} {r.title} [{r.resource_type}]" for r in results))
    assert not failed, "\n".join(failed)
    assert len(results) > 40
    assert not skipped, "\n".join(skipped)
