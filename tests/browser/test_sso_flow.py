"""Single sign-on in a browser, through the local identity provider on loopback
(tests/integrations/sso/idp_server.py): "Sign in with SSO" on the sign-in page, on to the
IdP, back signed in on the incident list as that person; Google Workspace (OpenID Connect)
and SAML 2.0 (a response signed by the IdP's throwaway key, posted by its page to our ACS);
an account of another Workspace sees why it was refused."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from integrations.sso.services import sso_settings_save
from opsduty.models import Organization, Role, User
from tests import factories
from tests.integrations.sso.idp_server import LocalIdp, Person

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WHO = "Work address or your organization's domain"


@pytest.fixture
def local_idp(settings: Any) -> Iterator[LocalIdp]:
    with LocalIdp() as idp:
        settings.OPSDUTY_SSO_GOOGLE_SERVER_URL = idp.url
        yield idp


@pytest.fixture
def acme() -> Organization:
    return factories.make_organization(domain="acme", name="Acme Corp")


@pytest.fixture
def olivia(acme: Organization) -> User:
    return factories.make_user(organization=acme, email="olivia@acme.example", role=Role.OWNER)


@pytest.fixture
def ines(acme: Organization) -> User:
    return factories.make_user(organization=acme, email="ines@acme.example", first_name="Ines")


def _continue_with_sso(page: Page, live_server: LiveServer, who: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label(WHO).fill(who)
    page.get_by_role("button", name="Continue with SSO").click()


def _expect_signed_in_as(page: Page, live_server: LiveServer, email: str) -> None:
    page.wait_for_url(f"{live_server.url}/incidents/")
    expect(page.locator(".org-name")).to_have_text("Acme Corp")
    page.goto(f"{live_server.url}/profile/")
    expect(page.locator("main")).to_contain_text(email)


def test_google_workspace_sign_in_lands_on_the_incidents_page(
    page: Page, live_server: LiveServer, local_idp: LocalIdp, olivia: User, ines: User
) -> None:
    sso_settings_save(
        organization=olivia.organization,
        by=olivia,
        values={
            "method": "google",
            "email_domain": "acme.example",
            "google_client_id": local_idp.client_id,
            "google_client_secret": local_idp.client_secret,
        },
    )
    local_idp.person = Person("ines@acme.example", hd="acme.example")
    _continue_with_sso(page, live_server, "ines@acme.example")
    _expect_signed_in_as(page, live_server, "ines@acme.example")
    assert "GET /authorize" in local_idp.seen


def test_an_account_of_another_workspace_sees_why_it_is_refused(
    page: Page, live_server: LiveServer, local_idp: LocalIdp, olivia: User, ines: User
) -> None:
    sso_settings_save(
        organization=olivia.organization,
        by=olivia,
        values={
            "method": "google",
            "email_domain": "acme.example",
            "google_client_id": local_idp.client_id,
            "google_client_secret": local_idp.client_secret,
        },
    )
    local_idp.person = Person("ines@acme.example", hd="gmail.example")
    _continue_with_sso(page, live_server, "acme")
    expect(page.get_by_role("heading", name="You are not signed in")).to_be_visible()
    expect(page.locator("#sso-refused")).to_contain_text(
        "You signed in with a Google account outside acme.example"
    )
    page.goto(f"{live_server.url}/incidents/")
    page.wait_for_url(f"{live_server.url}/login/?next=/incidents/")


def test_saml_sign_in_through_the_idp_page_lands_on_the_incidents_page(
    page: Page, live_server: LiveServer, local_idp: LocalIdp, olivia: User, ines: User
) -> None:
    assert local_idp.saml is not None
    sso_settings_save(
        organization=olivia.organization,
        by=olivia,
        values={"method": "saml", "saml_metadata_url": f"{local_idp.url}/saml/metadata"},
    )
    local_idp.person = Person("ines@acme.example")
    _continue_with_sso(page, live_server, "acme")
    expect(page.get_by_role("heading", name="Local IdP")).to_be_visible()
    page.get_by_role("button", name="Continue to OpsDuty").click()
    _expect_signed_in_as(page, live_server, "ines@acme.example")


def test_the_owner_sets_up_saml_on_the_settings_page(
    page: Page,
    live_server: LiveServer,
    local_idp: LocalIdp,
    olivia: User,
    axe_check: Callable[[Page], None],
) -> None:
    assert local_idp.saml is not None
    page.goto(f"{live_server.url}/login/")
    axe_check(page)  # the sign-in page with its SSO form
    page.get_by_label("Organization domain").fill("acme")
    page.get_by_label("Email").fill("olivia@acme.example")
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/incidents/")
    page.goto(f"{live_server.url}/settings/organization/")
    page.get_by_role("link", name="SSO").last.click()
    expect(page.locator("#sp-facts")).to_contain_text(f"{live_server.url}/accounts/saml/acme/acs/")
    axe_check(page)
    page.get_by_label("Single sign-on").select_option("saml")
    page.get_by_label("IdP metadata XML").fill("<EntityDescriptor>broken")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("main")).to_contain_text("This is not SAML metadata XML")
    page.get_by_label("IdP metadata XML").fill(local_idp.saml.metadata())
    page.get_by_role("button", name="Save").click()
    expect(page.locator("main")).to_contain_text("Single sign-on settings saved.")
    expect(page.locator("#saml-state")).to_contain_text(local_idp.saml.entity_id)
