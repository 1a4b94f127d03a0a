"""Fixtures for the UI tests: teams in both organizations."""

from __future__ import annotations

import pytest

from opsduty.models import Organization, Team
from tests import factories


@pytest.fixture
def team_a(org_a: Organization) -> Team:
    return factories.make_team(organization=org_a, name="Platform")


@pytest.fixture
def team_b(org_b: Organization) -> Team:
    return factories.make_team(organization=org_b, name="Bravo secret team")
