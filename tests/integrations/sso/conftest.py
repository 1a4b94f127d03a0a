"""SSO fixtures: a throwaway SAML IdP per organization (org A's and org B's) and the local
Google-like OpenID Connect provider on loopback, set up through the settings service as an
owner would, and clients that sign in through them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import pytest
from django.test import Client
from django.test.client import Client as DjangoClient

from integrations.sso.models import SsoSettings
from integrations.sso.services import sso_settings_save
from opsduty.models import Organization, User
from tests.integrations.sso.idp_server import LocalIdp
from tests.integrations.sso.saml_idp import SamlIdp, encoded, request_id


@pytest.fixture(scope="session")
def idp_a() -> SamlIdp:
    return SamlIdp(
        entity_id="https://idp-a.example.test/saml", sso_url="https://idp-a.example.test/sso"
    )


@pytest.fixture(scope="session")
def idp_b() -> SamlIdp:
    return SamlIdp(
        entity_id="https://idp-b.example.test/saml", sso_url="https://idp-b.example.test/sso"
    )


def saml_setup(org: Organization, owner: User, idp: SamlIdp, **values: object) -> SsoSettings:
    """Org's SSO: SAML with `idp`'s pasted metadata (and `values`)."""
    return sso_settings_save(
        organization=org,
        by=owner,
        values={"method": "saml", "saml_metadata_xml": idp.metadata(), **values},
    )


@pytest.fixture
def saml_a(org_a: Organization, owner: User, idp_a: SamlIdp) -> SsoSettings:
    return saml_setup(org_a, owner, idp_a, email_domain="a.example")


@dataclass
class SamlStart:
    client: DjangoClient
    domain: str
    request_id: str

    @property
    def acs(self) -> str:
        return f"http://testserver/accounts/saml/{self.domain}/acs/"

    @property
    def audience(self) -> str:
        return f"http://testserver/accounts/saml/{self.domain}/metadata/"

    def post(self, xml: str, domain: str | None = None) -> Any:
        """Post `xml` to the ACS (of `domain`, by default the one we started with), and follow
        the redirects to the page the person ends on."""
        acs = f"/accounts/saml/{domain or self.domain}/acs/"
        return self.client.post(acs, {"SAMLResponse": encoded(xml)}, follow=True)


def saml_start(who: str, domain: str, client: DjangoClient | None = None) -> SamlStart:
    """Press "Continue with SSO" with `who`; the browser is sent to the IdP."""
    client = client or Client(HTTP_HOST="testserver")  # browsers always send Host
    response = client.post("/login/sso/", {"who": who})
    assert response.status_code == 302, response.content.decode()[:2000]
    return SamlStart(client, domain, request_id(response["Location"]))


def signed_in_email(client: DjangoClient) -> str | None:
    """Whom the client's session is signed in as, as the profile page says (None: signed out)."""
    response = client.get("/profile/")
    if response.status_code != 200:
        return None
    return str(response.context["user"].email)


@pytest.fixture
def local_idp(settings: Any) -> Iterator[LocalIdp]:
    """The local Google (OpenID Connect) and SAML IdP on loopback; Google's issuer points at
    it for the test."""
    with LocalIdp() as idp:
        settings.OPSDUTY_SSO_GOOGLE_SERVER_URL = idp.url
        yield idp


def google_setup(org: Organization, owner: User, idp: LocalIdp, **values: object) -> SsoSettings:
    """Org's SSO: Google Workspace through `idp`, for the Workspace domain in `values`."""
    return sso_settings_save(
        organization=org,
        by=owner,
        values={
            "method": "google",
            "google_client_id": idp.client_id,
            "google_client_secret": idp.client_secret,
            **values,
        },
    )


@pytest.fixture
def google_a(org_a: Organization, owner: User, local_idp: LocalIdp) -> SsoSettings:
    return google_setup(org_a, owner, local_idp, email_domain="a.example")


def google_sign_in(idp: LocalIdp, who: str, client: DjangoClient | None = None) -> Any:
    """Press "Continue with SSO" with `who`, pass the IdP (who signs in there is
    `idp.person`), come back to our callback and follow to the page the person ends on."""
    client = client or Client()
    start = client.post("/login/sso/", {"who": who})
    assert start.status_code == 302, start.content.decode()[:2000]
    back = urlparse(idp.visit(start["Location"]))
    assert back.netloc == "testserver", back
    return client.get(f"{back.path}?{back.query}", follow=True)
