"""Fixtures for the UI tests: a stakeholder, teams in both organizations, the outsider's client."""

from __future__ import annotations

import pytest
from django.test import Client

from opsduty.models import Organization, Role, Team, User
from tests import factories


@pytest.fixture
def stakeholder(org_a: Organization) -> User:
    """A stakeholder of org A."""
    return factories.make_user(
        organization=org_a, email="stakeholder@a.example", role=Role.STAKEHOLDER
    )


@pytest.fixture
def stakeholder_client(stakeholder: User) -> Client:
    client = Client()
    client.force_login(stakeholder)
    return client


@pytest.fixture
def outsider_client(outsider: User) -> Client:
    client = Client()
    client.force_login(outsider)
    return client


@pytest.fixture
def team_a(org_a: Organization) -> Team:
    return factories.make_team(organization=org_a, name="Platform")


@pytest.fixture
def team_b(org_b: Organization) -> Team:
    return factories.make_team(organization=org_b, name="Bravo secret team")
