"""Fixtures for routing rules and orchestrations: a team with a member and two services."""

from __future__ import annotations

import pytest

from opsduty.models import Organization, Service, Team, User
from tests import factories


@pytest.fixture
def team(org_a: Organization, member: User) -> Team:
    team = factories.make_team(organization=org_a, name="Platform")
    factories.add_member(team, member)
    return team


@pytest.fixture
def api(team: Team) -> Service:
    return factories.make_service(team=team, name="API")


@pytest.fixture
def db_service(team: Team) -> Service:
    return factories.make_service(team=team, name="Database")


@pytest.fixture
def other_team_service(org_a: Organization) -> Service:
    return factories.make_service(team=factories.make_team(organization=org_a, name="Web"))


@pytest.fixture
def foreign_service(org_b: Organization) -> Service:
    return factories.make_service(team=factories.make_team(organization=org_b, name="Bravo"))
