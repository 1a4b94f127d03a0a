"""The SCIM lists (/Users, /Groups, a filter, /.search) answer in the same number of queries
for a few people and teams as for many (tests/read_paths.py leaves scim/v2/ to this file)."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from opsduty.models import Organization, User
from tests import factories
from tests.integrations.scim.conftest import ScimClient

pytestmark = pytest.mark.django_db

SEARCH = {
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
    "filter": 'userName sw "p"',
}


def _grow(organization: Organization, people: int, teams: int) -> None:
    start = User.objects.filter(organization=organization).count()
    made = [
        factories.make_user(organization=organization, email=f"p{start + i}@a.example")
        for i in range(people)
    ]
    for t in range(teams):
        team = factories.make_team(organization=organization, name=f"Team {start}-{t}")
        for person in made[:3]:
            factories.add_member(team, person)


def _counts(scim: ScimClient) -> list[int]:
    found = []
    for request in (
        lambda: scim.get("/Users"),
        lambda: scim.get("/Groups"),
        lambda: scim.get("/Users", filter='userName sw "p"'),
        lambda: scim.client.post(
            "/scim/v2/.search", data=json.dumps(SEARCH), content_type="application/scim+json"
        ),
    ):
        with CaptureQueriesContext(connection) as captured:
            response = request()
        assert response.status_code == 200, response.content
        found.append(len(captured))
    return found


def test_scim_lists_do_not_grow_with_rows(scim: ScimClient, org_a: Organization) -> None:
    _grow(org_a, people=3, teams=2)
    scim.get("/Users")  # the token's first use is written (then at most once a minute)
    few = _counts(scim)
    _grow(org_a, people=30, teams=12)
    assert _counts(scim) == few
