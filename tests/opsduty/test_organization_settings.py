"""The organization's settings (docs/accounts.md): owners rename it; closing it waits for its
open incidents, needs its domain typed out and the owner's password, then signs everyone out,
ends the API tokens and deletes every row of it, and nothing of another organization."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from incidents import services as incident_services
from incidents.models import Incident
from opsduty import services, tasks
from opsduty.models import Organization, User
from tests import factories
from tests.conftest import api_client_for, session_client_for

pytestmark = pytest.mark.django_db
Capture = Callable[..., Any]


def test_owners_rename_the_organization(owner_client: Client, member_client: Client) -> None:
    page = owner_client.post("/settings/organization/rename/", {"name": "Acme"}, follow=True)
    assert "The organization is now called Acme" in page.content.decode()
    assert Organization.objects.get(domain="org-a").name == "Acme"
    blank = owner_client.post("/settings/organization/rename/", {"name": "   "})
    assert blank.status_code == 400
    assert member_client.get("/settings/organization/").status_code == 403
    assert member_client.post("/settings/organization/rename/", {"name": "X"}).status_code == 403


def test_closing_waits_for_open_incidents_then_deletes_everything_of_it_only(
    org_a: Organization,
    owner: User,
    member: User,
    owner_client: Client,
    outsider: User,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    team = factories.make_team(organization=org_a, name="Platform")
    incident = factories.make_incident(service=factories.make_service(team=team), summary="Down")
    theirs = factories.make_incident(
        service=factories.make_service(team=factories.make_team(organization=outsider.organization))
    )
    member_session, member_api = session_client_for(member), api_client_for(member)
    page = owner_client.get("/settings/organization/").content.decode()
    assert "1 incident is open: resolve them first." in page
    refused = owner_client.post(
        "/settings/organization/close/",
        {"typed_domain": "org-a", "password": factories.PASSWORD},
    )
    assert refused.status_code == 400 and "resolve them first" in refused.content.decode()

    incident_services.incident_resolve(incident=incident, by=owner)
    mistyped = owner_client.post(
        "/settings/organization/close/", {"typed_domain": "org-b", "password": factories.PASSWORD}
    )
    assert mistyped.status_code == 400 and "Type org-a to confirm" in mistyped.content.decode()
    wrong = owner_client.post(
        "/settings/organization/close/", {"typed_domain": "org-a", "password": "nope"}
    )
    assert wrong.status_code == 400 and "not your current password" in wrong.content.decode()
    assert Organization.objects.get(pk=org_a.pk).closed_at is None

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        closed = owner_client.post(
            "/settings/organization/close/",
            {"typed_domain": "ORG-A", "password": factories.PASSWORD},
        )
    assert closed.status_code == 200 and "Org A is closed" in closed.content.decode()
    assert owner_client.get("/incidents/").status_code == 302  # signed out
    assert member_session.get("/incidents/").status_code == 302
    assert member_api.get("/api/v1/users/").status_code == 401
    signed = Client().post(
        "/login/", {"domain": "org-a", "email": member.email, "password": factories.PASSWORD}
    )
    assert signed.status_code == 200  # the form again

    assert len(callbacks) == 1  # the purge, queued after the commit; here run by hand
    assert tasks.organization_purge(org_a.pk) is True
    assert not Organization.objects.filter(pk=org_a.pk).exists()
    assert not User.objects.filter(organization_id=org_a.pk).exists()
    assert not Incident.objects.filter(organization_id=org_a.pk).exists()
    assert Incident.objects.filter(pk=theirs.pk).exists()
    assert User.objects.filter(pk=outsider.pk, is_active=True).exists()


def test_a_lost_purge_is_done_by_the_sweep(org_a: Organization, owner: User) -> None:
    services.organization_close(
        organization=org_a, by=owner, typed_domain="org-a", password=factories.PASSWORD
    )
    assert tasks.organizations_purge() == 1
    assert not Organization.objects.filter(pk=org_a.pk).exists()
