"""The Content-Security-Policy in a real browser: it is enforced (an injected inline script
does not run, and the `csp_violations` check of tests/browser/conftest.py sees it), while the
pages that need scripts and dynamic styles work without a violation: the Swagger UI, a
schedule timeline, label chips (docs/security.md)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from opsduty.models import Label, User
from tests import factories
from tests.browser.helpers import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_injected_inline_script_is_refused_and_reported(
    page: Page, live_server: LiveServer, csp_violations: list[str]
) -> None:
    page.goto(f"{live_server.url}/login/")
    expect(page.locator("html")).to_have_class("js")  # the nonce'd inline script ran
    directive = page.evaluate(
        """() => new Promise((resolve) => {
        document.addEventListener("securitypolicyviolation", (event) => {
          resolve(event.violatedDirective);
        }, {once: true});
        const script = document.createElement("script");
        script.textContent = "window.injected = true";
        document.body.appendChild(script);
    })"""
    )
    assert directive.startswith("script-src")
    assert page.evaluate("() => window.injected") is None
    # The refusal was reported on the console, where the check at teardown looks.
    assert any("script-src" in text for text in csp_violations), csp_violations
    csp_violations.clear()  # seen on purpose: the check at teardown must not fail this test


def test_swagger_ui_renders_the_api_without_a_violation(
    page: Page, live_server: LiveServer
) -> None:
    page.goto(f"{live_server.url}/api/v1/docs")
    expect(page.get_by_role("heading", name="OpsDuty API v1")).to_be_visible()
    expect(page.locator(".opblock").first).to_be_visible()


def test_label_chips_get_their_colour_without_inline_styles(
    page: Page, live_server: LiveServer
) -> None:
    owner: User = factories.make_user(email="olivia@acme.example", role="owner")
    service = factories.make_service(organization=owner.organization, name="Checkout")
    label = Label.objects.create(organization=owner.organization, name="db", color="#ff8800")
    incident = factories.make_incident(service=service)
    incident.labels.add(label)
    sign_in(page, live_server, owner.organization.domain, owner.email, factories.PASSWORD)
    page.goto(f"{live_server.url}/incidents/{incident.pk}/")
    chip = page.locator(".label-chip", has_text="db").first
    expect(chip).to_have_css("border-top-color", "rgb(255, 136, 0)")
