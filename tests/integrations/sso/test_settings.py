"""Settings -> SSO (owners): Google Workspace and SAML set-up, what our side shows the IdP,
bad input as form errors, the client secret encrypted and never shown; require-SSO with the
owners' break-glass password."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client

from integrations.sso.models import Method, SsoSettings
from opsduty.models import Organization, User
from opsduty.views.auth import INVALID_CREDENTIALS
from tests import factories
from tests.integrations.sso.conftest import saml_setup
from tests.integrations.sso.idp_server import LocalIdp
from tests.integrations.sso.saml_idp import SamlIdp
from tests.ui.helpers import login_data

pytestmark = pytest.mark.django_db

URL = "/settings/sso/"
BAD_PEM = "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----"


def _page(response: Any) -> str:
    return str(response.content.decode())


def _saml_form(**values: str) -> dict[str, str]:
    return {"method": "saml", "jit_role": "member", "email_domain": "a.example", **values}


def test_the_page_shows_what_the_idp_needs(owner_client: Client, org_a: Organization) -> None:
    response = owner_client.get(URL)
    assert response.status_code == 200
    page = _page(response)
    assert "http://testserver/accounts/saml/org-a/metadata/" in page  # entity id, metadata
    assert "http://testserver/accounts/saml/org-a/acs/" in page
    assert "http://testserver/accounts/oidc/google-org-a/login/callback/" in page


def test_only_owners_see_the_page(member_client: Client, stakeholder_client: Client) -> None:
    assert member_client.get(URL).status_code in (403, 404)
    assert stakeholder_client.get(URL).status_code in (403, 404)
    assert member_client.post(URL, _saml_form()).status_code in (403, 404)
    assert not SsoSettings.objects.exists()


def test_an_owner_of_org_b_sees_and_changes_only_org_b(
    owner_client: Client, outsider_client: Client, idp_a: SamlIdp, org_a: Organization
) -> None:
    owner_client.post(URL, _saml_form(saml_metadata_xml=idp_a.metadata()))
    page = _page(outsider_client.get(URL))
    assert idp_a.entity_id not in page and "org-b" in page
    outsider_client.post(URL, {"method": "off", "jit_role": "member"})
    assert SsoSettings.objects.get(organization=org_a).method == Method.SAML


def test_saml_from_pasted_metadata(owner_client: Client, idp_a: SamlIdp, owner: User) -> None:
    response = owner_client.post(URL, _saml_form(saml_metadata_xml=idp_a.metadata()), follow=True)
    assert "Single sign-on settings saved." in _page(response)
    assert idp_a.entity_id in _page(response) and idp_a.sso_url in _page(response)
    row = SsoSettings.objects.get(organization=owner.organization)
    assert (row.saml_entity_id, row.saml_sso_url, row.saml_x509cert) == (
        idp_a.entity_id,
        idp_a.sso_url,
        idp_a.cert_b64,
    )
    # Our SP metadata now answers, for the IdP to read.
    metadata = Client().get("/accounts/saml/org-a/metadata/")
    assert metadata.status_code == 200
    assert b"http://testserver/accounts/saml/org-a/acs/" in metadata.content


def test_saml_from_a_metadata_url(owner_client: Client, local_idp: LocalIdp, owner: User) -> None:
    url = f"{local_idp.url}/saml/metadata"
    response = owner_client.post(URL, _saml_form(saml_metadata_url=url))
    assert response.status_code == 302
    row = SsoSettings.objects.get(organization=owner.organization)
    assert local_idp.saml is not None
    assert row.saml_entity_id == local_idp.saml.entity_id
    assert row.saml_metadata_url == url


def test_saml_typed_by_hand_with_a_pem_certificate(
    owner_client: Client, idp_a: SamlIdp, owner: User
) -> None:
    form = _saml_form(
        saml_entity_id="https://sts.windows.example/tenant/",
        saml_sso_url="https://login.microsoftonline.example/tenant/saml2",
        saml_x509cert=idp_a.cert_pem,
    )
    assert owner_client.post(URL, form).status_code == 302
    row = SsoSettings.objects.get(organization=owner.organization)
    assert row.saml_x509cert == idp_a.cert_b64 and row.active


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"saml_metadata_xml": "<not xml"}, "This is not SAML metadata XML"),
        (
            {"saml_metadata_xml": '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'},
            "This is not SAML metadata XML",
        ),
        (
            {
                "saml_metadata_xml": '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0'
                ':metadata" entityID="x"/>'
            },
            "of an IdP",
        ),
        (
            {
                "saml_entity_id": "https://idp.example/",
                "saml_sso_url": "https://idp.example/sso",
                "saml_x509cert": BAD_PEM,
            },
            "This is not an X.509 certificate",
        ),
        (
            {
                "saml_entity_id": "https://idp.example/",
                "saml_sso_url": "https://idp.example/sso",
                "saml_x509cert": "aGVsbG8gd29ybGQ=",
            },
            "This is not an X.509 certificate",
        ),
        ({"saml_metadata_url": "http://127.0.0.1:9/metadata"}, "could not be read"),
        ({"saml_entity_id": "https://idp.example/"}, "SAML needs the IdP"),
    ],
)
def test_bad_saml_input_is_a_form_error(
    owner_client: Client, values: dict[str, str], message: str
) -> None:
    response = owner_client.post(URL, _saml_form(**values))
    assert response.status_code == 400
    assert message in _page(response)
    assert not SsoSettings.objects.filter(method=Method.SAML).exists()


def test_google_client_secret_is_encrypted_and_never_shown(
    owner_client: Client, owner: User
) -> None:
    secret = "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-show"  # noqa: S105
    form = {
        "method": "google",
        "email_domain": "a.example",
        "google_client_id": "123.apps.googleusercontent.example",
        "google_client_secret": secret,
        "jit_role": "member",
    }
    response = owner_client.post(URL, form, follow=True)
    page = _page(response)
    assert "Single sign-on settings saved." in page
    assert secret not in page and "Client secret: <strong>set</strong>" in page
    with connection.cursor() as cursor:
        cursor.execute("SELECT google_client_secret FROM sso_ssosettings")
        (stored,) = cursor.fetchone()
    assert secret not in stored
    # Saving again without typing it keeps it.
    owner_client.post(URL, {**form, "google_client_secret": ""})
    assert SsoSettings.objects.get(organization=owner.organization).google_client_secret == secret


def test_google_needs_its_domain_id_and_secret(owner_client: Client) -> None:
    response = owner_client.post(URL, {"method": "google", "jit_role": "member"})
    assert response.status_code == 400
    page = _page(response)
    assert "Google Workspace needs the client ID." in page
    assert "Google Workspace needs your Workspace domain" in page


def test_an_email_domain_of_another_organization_is_refused(
    owner_client: Client, outsider: User, org_b: Organization, idp_b: SamlIdp
) -> None:
    saml_setup(org_b, outsider, idp_b, email_domain="a.example")
    response = owner_client.post(URL, _saml_form(saml_metadata_xml=idp_b.metadata()))
    assert response.status_code == 400
    assert "Another organization signs in people of a.example already." in _page(response)


def test_require_sso_needs_a_method(owner_client: Client) -> None:
    response = owner_client.post(URL, {"method": "off", "require_sso": "on", "jit_role": "member"})
    assert response.status_code == 400
    assert "before requiring SSO" in _page(response)


# --- Require SSO ---------------------------------------------------------------------------


@pytest.fixture
def required(org_a: Organization, owner: User, idp_a: SamlIdp) -> SsoSettings:
    return saml_setup(org_a, owner, idp_a, email_domain="a.example", require_sso=True)


def test_require_sso_refuses_a_members_password_and_points_to_sso(
    required: SsoSettings, member: User
) -> None:
    client = Client()
    response = client.post("/login/", login_data("org-a", "member@a.example"))
    assert response.status_code == 200
    page = _page(response)
    assert "Org A signs in with single sign-on" in page and "Sign in with SSO" in page
    assert client.get("/profile/").status_code != 200


def test_require_sso_keeps_the_owners_password_as_break_glass(
    required: SsoSettings, owner: User
) -> None:
    client = Client()
    response = client.post("/login/", login_data("org-a", "owner@a.example"), follow=True)
    assert response.redirect_chain[-1][0] == "/incidents/"
    assert client.get("/profile/").status_code == 200


def test_require_sso_says_nothing_to_a_wrong_password(required: SsoSettings, member: User) -> None:
    response = Client().post("/login/", login_data("org-a", "member@a.example", "wrong"))
    page = _page(response)
    assert "signs in with single sign-on" not in page
    assert response.context["form"].non_field_errors() == [INVALID_CREDENTIALS]


def test_without_require_sso_members_keep_their_password(
    org_a: Organization, owner: User, member: User, idp_a: SamlIdp
) -> None:
    saml_setup(org_a, owner, idp_a, email_domain="a.example")
    client = Client()
    client.post("/login/", login_data("org-a", "member@a.example"))
    assert client.get("/profile/").status_code == 200


def test_require_sso_of_org_a_leaves_org_b_alone(required: SsoSettings, outsider: User) -> None:
    factories.make_user(organization=outsider.organization, email="m@b.example")
    client = Client()
    client.post("/login/", login_data("org-b", "m@b.example"))
    assert client.get("/profile/").status_code == 200
