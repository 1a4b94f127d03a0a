"""Fixtures of the status-page tests: a page of org A's Platform team with two groups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import time_machine

from opsduty.models import Organization, Service, Team, User
from statuspages import services
from statuspages.models import Component, ComponentGroup, StatusPage
from tests import factories

START = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class PageWorld:
    page: StatusPage
    team: Team
    api: Service
    checkout: Service
    platform: ComponentGroup
    payments: ComponentGroup
    api_component: Component
    web_component: Component
    checkout_component: Component


def page_world(organization: Organization, by: User | None = None) -> PageWorld:
    """A page with groups Platform (API -> service API, Web) and Payments (Checkout)."""
    team = factories.make_team(organization=organization, name="Platform")
    api = factories.make_service(team=team, name="API")
    checkout = factories.make_service(team=team, name="Checkout")
    page = services.status_page_create(
        organization=organization,
        team=team,
        by=by,
        name="Acme status",
        slug=f"acme-{organization.domain}",
        domain=f"status.{organization.domain}.test",
    )
    platform = services.component_group_create(page=page, by=by, name="Platform")
    payments = services.component_group_create(page=page, by=by, name="Payments")
    api_component = services.component_create(group=platform, by=by, name="API", services=[api])
    web_component = services.component_create(group=platform, by=by, name="Web")
    checkout_component = services.component_create(
        group=payments, by=by, name="Checkout", services=[checkout]
    )
    return PageWorld(
        page, team, api, checkout, platform, payments, api_component, web_component,
        checkout_component,
    )  # fmt: skip


@pytest.fixture
def world(org_a: Organization) -> PageWorld:
    with time_machine.travel(START, tick=False):
        return page_world(org_a)
