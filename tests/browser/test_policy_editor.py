"""Playwright on Debian's Chromium: the escalation policy editor's drag-to-reorder (SortableJS
from npm) saves the new order and the page shows it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from escalations.models import EscalationStep
from escalations.policies import services as ps
from opsduty.models import Role
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_dragging_a_step_saves_the_new_order(page: Page, live_server: LiveServer) -> None:
    acme = factories.make_organization(domain="acme", name="Acme Corp")
    olivia = factories.make_user(
        organization=acme, email="olivia@acme.example", first_name="Olivia", role=Role.MEMBER
    )
    team = factories.make_team(organization=acme, name="Platform")
    factories.add_member(team, olivia)
    policy = ps.policy_create(team=team, by=None, name="Platform default")
    ps.step_add(policy=policy, by=None, kind="notify", teams=[team])
    ps.step_add(policy=policy, by=None, kind="wait", wait_minutes=5)
    ps.step_add(policy=policy, by=None, kind="resolve")

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Organization domain").fill("acme")
    page.get_by_label("Email").fill("olivia@acme.example")
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server.url}/escalation-policies/{policy.pk}/")
    rows = page.locator("#policy-steps > li")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("Notify team Platform")

    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    handle = rows.nth(2).locator(".drag-handle")
    handle.hover()  # scrolls the list into view: measure the target after it
    box = rows.nth(0).bounding_box()
    assert box is not None
    page.mouse.down()
    # SortableJS needs real pointer moves across the rows, not a jump.
    page.mouse.move(box["x"] + 20, box["y"] + box["height"] / 2, steps=20)
    page.mouse.move(box["x"] + 20, box["y"] + 4, steps=10)
    with page.expect_response(lambda r: "/steps/reorder/" in r.url) as saved:
        page.mouse.up()
    assert saved.value.status == 200
    # The page reloads with the saved order.
    page.wait_for_load_state("load")
    expect(page.locator("#policy-steps > li").nth(0)).to_contain_text("Resolve the incident")
    kinds = list(
        EscalationStep.objects.filter(policy=policy)
        .order_by("position")
        .values_list("kind", flat=True)
    )
    assert kinds == ["resolve", "notify", "wait"]
    assert errors == []
