"""Fixtures for service maintenance: org A's "API" service, its team (owner, member,
stakeholder) and a fixed start time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from opsduty.models import Organization, Service, User
from tests import factories

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def service(org_a: Organization, owner: User, member: User, stakeholder: User) -> Service:
    team = factories.make_team(organization=org_a, name="Platform")
    for user in (owner, member, stakeholder):
        factories.add_member(team, user)
    return factories.make_service(team=team, name="API")
