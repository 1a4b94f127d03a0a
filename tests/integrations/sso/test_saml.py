"""SAML 2.0 sign-in with real signed responses from a throwaway IdP (tests/integrations/sso/
saml_idp.py): the signature check is python3-saml's with xmlsec, never mocked."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from allauth.socialaccount.models import SocialAccount
from django.core import mail
from django.test import Client

from integrations.sso.models import SsoSettings
from opsduty.models import Organization, Role, Team, User
from opsduty.services import invitation_create, user_deactivate
from tests import factories
from tests.conftest import session_client_for
from tests.integrations.sso.conftest import saml_setup, saml_start, signed_in_email
from tests.integrations.sso.saml_idp import SamlIdp, tampered

pytestmark = pytest.mark.django_db

REFUSED_TEXT = "could not be verified"


def _page(response: Any) -> str:
    return str(response.content.decode())


def _sign_in(idp: SamlIdp, who: str, domain: str, email: str, **kwargs: Any) -> tuple[Client, Any]:
    start = saml_start(who, domain)
    xml = idp.response(
        acs_url=start.acs,
        audience=start.audience,
        in_response_to=start.request_id,
        email=email,
        **kwargs,
    )
    return start.client, start.post(xml)


def test_a_signed_response_signs_in_the_member_of_the_right_organization(
    saml_a: SsoSettings, member: User, idp_a: SamlIdp, outsider: User
) -> None:
    client, response = _sign_in(idp_a, "member@a.example", "org-a", "member@a.example")
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == "/incidents/"
    assert 'class="org-name"' in _page(response) and "Org A" in _page(response)
    profile = client.get("/profile/")
    assert "member@a.example" in profile.content.decode()
    assert signed_in_email(client) == "member@a.example"
    # Linked from now on: the next sign-in finds the person by the IdP's identity.
    assert SocialAccount.objects.filter(user=member, provider="saml-org-a").count() == 1


def test_the_organization_domain_starts_sso_too_and_a_signed_response_works(
    saml_a: SsoSettings, member: User, idp_a: SamlIdp
) -> None:
    client, response = _sign_in(idp_a, "org-a", "org-a", "member@a.example", sign="response")
    assert signed_in_email(client) == "member@a.example"


def test_a_response_changed_after_signing_is_refused(
    saml_a: SsoSettings, member: User, owner: User, idp_a: SamlIdp
) -> None:
    start = saml_start("org-a", "org-a")
    xml = idp_a.response(
        acs_url=start.acs,
        audience=start.audience,
        in_response_to=start.request_id,
        email="member@a.example",
    )
    # The member's signed answer, rewritten to name the owner (NameID and attribute).
    response = start.post(tampered(xml, "member@a.example", "owner@a.example"))
    assert response.status_code == 403
    assert REFUSED_TEXT in _page(response)
    assert signed_in_email(start.client) is None


def test_a_changed_attribute_alone_is_refused(
    saml_a: SsoSettings, member: User, idp_a: SamlIdp
) -> None:
    start = saml_start("org-a", "org-a")
    xml = idp_a.response(
        acs_url=start.acs,
        audience=start.audience,
        in_response_to=start.request_id,
        email="member@a.example",
        given_name="Mallory",
    )
    response = start.post(tampered(xml, "Mallory", "Mallorx"))
    assert response.status_code == 403
    assert signed_in_email(start.client) is None


def test_a_response_signed_by_another_key_is_refused(
    saml_a: SsoSettings, member: User, idp_a: SamlIdp
) -> None:
    impostor = SamlIdp(entity_id=idp_a.entity_id, sso_url=idp_a.sso_url)
    client, response = _sign_in(idp_a, "org-a", "org-a", "member@a.example", signer=impostor)
    assert response.status_code == 403
    assert REFUSED_TEXT in _page(response)
    assert signed_in_email(client) is None


def test_an_unsigned_response_is_refused(saml_a: SsoSettings, member: User, idp_a: SamlIdp) -> None:
    client, response = _sign_in(idp_a, "org-a", "org-a", "member@a.example", sign="none")
    assert response.status_code == 403
    assert signed_in_email(client) is None


def test_org_a_response_posted_to_org_b_acs_is_refused(
    saml_a: SsoSettings,
    member: User,
    idp_a: SamlIdp,
    idp_b: SamlIdp,
    org_b: Organization,
    outsider: User,
) -> None:
    saml_setup(org_b, outsider, idp_b)
    factories.make_user(organization=org_b, email="member@a.example")
    start = saml_start("org-a", "org-a")
    xml = idp_a.response(
        acs_url=start.acs,
        audience=start.audience,
        in_response_to=start.request_id,
        email="member@a.example",
    )
    response = start.post(xml, domain="org-b")
    assert response.status_code == 403
    assert signed_in_email(start.client) is None


def test_org_a_response_posted_to_org_b_acs_is_refused_even_with_one_shared_idp(
    saml_a: SsoSettings, idp_a: SamlIdp, org_b: Organization, outsider: User
) -> None:
    # Both organizations trust the same IdP: the audience and destination still say org A.
    saml_setup(org_b, outsider, idp_a)
    factories.make_user(organization=org_b, email="member@a.example")
    start = saml_start("org-a", "org-a")
    xml = idp_a.response(
        acs_url=start.acs,
        audience=start.audience,
        in_response_to=start.request_id,
        email="member@a.example",
    )
    response = start.post(xml, domain="org-b")
    assert response.status_code == 403
    assert signed_in_email(start.client) is None


def test_an_unknown_person_without_jit_is_told_to_ask_for_an_invitation(
    saml_a: SsoSettings, idp_a: SamlIdp
) -> None:
    client, response = _sign_in(idp_a, "org-a", "org-a", "newcomer@a.example")
    assert response.status_code == 403
    assert "Ask an owner of Org A to invite you" in _page(response)
    assert not User.objects.filter(email="newcomer@a.example").exists()
    assert signed_in_email(client) is None


def test_jit_creates_the_person_with_the_default_role(
    org_a: Organization, owner: User, idp_a: SamlIdp
) -> None:
    saml_setup(org_a, owner, idp_a, jit_enabled=True, jit_role=Role.STAKEHOLDER)
    client, response = _sign_in(idp_a, "org-a", "org-a", "Newcomer@A.example", given_name="Nora")
    assert response.redirect_chain[-1][0] == "/incidents/"
    assert signed_in_email(client) == "newcomer@a.example"
    created = User.objects.get(organization=org_a, email="newcomer@a.example")
    assert created.role == Role.STAKEHOLDER
    assert created.first_name == "Nora"
    assert not created.has_usable_password()
    members = client.get("/members/").content.decode()
    assert "Stakeholder" in members and "Nora" in members
    # The audit log says SSO made them (and that the owner changed the SSO settings).
    export = session_client_for(owner).get("/settings/audit/export.csv")
    body = b"".join(export.streaming_content).decode()  # type: ignore[attr-defined]
    rows = list(csv.DictReader(io.StringIO(body)))
    made = [r for r in rows if r["action"] == "created" and "newcomer@a.example" in r["object"]]
    assert made and (made[0]["actor"], made[0]["channel"]) == ("SSO (SAML)", "sso")
    assert any(r["kind"] == "SSO settings" for r in rows)


def test_a_deactivated_person_is_refused(
    saml_a: SsoSettings, member: User, owner: User, idp_a: SamlIdp
) -> None:
    user_deactivate(user=member, by=owner)
    client, response = _sign_in(idp_a, "org-a", "org-a", "member@a.example")
    assert response.status_code == 403
    assert "deactivated" in _page(response)
    assert signed_in_email(client) is None


def test_a_linked_person_deactivated_later_is_refused(
    saml_a: SsoSettings, member: User, owner: User, idp_a: SamlIdp
) -> None:
    client, _ = _sign_in(idp_a, "org-a", "org-a", "member@a.example")
    assert signed_in_email(client) == "member@a.example"
    user_deactivate(user=member, by=owner)
    client, response = _sign_in(idp_a, "org-a", "org-a", "member@a.example")
    assert "deactivated" in _page(response)
    assert signed_in_email(client) is None


def test_an_identity_of_org_a_idp_never_signs_in_to_org_b(
    saml_a: SsoSettings, member: User, idp_a: SamlIdp, org_b: Organization, outsider: User
) -> None:
    # The same address exists in org B; org A's IdP can only ever sign in to org A.
    factories.make_user(organization=org_b, email="member@a.example")
    client, _ = _sign_in(idp_a, "member@a.example", "org-a", "member@a.example")
    page = client.get("/incidents/").content.decode()
    assert "Org A" in page and "Org B" not in page


def test_an_open_invitation_is_accepted_by_signing_in_with_sso(
    saml_a: SsoSettings, owner: User, idp_a: SamlIdp
) -> None:
    team = Team.objects.create(organization=owner.organization, name="Platform")
    invitation = invitation_create(
        organization=owner.organization,
        email="ines@a.example",
        role=Role.OWNER,
        teams=[team],
        by=owner,
    )
    client, response = _sign_in(idp_a, "ines@a.example", "org-a", "ines@a.example")
    assert response.redirect_chain[-1][0] == "/incidents/"
    assert signed_in_email(client) == "ines@a.example"
    ines = User.objects.get(organization=owner.organization, email="ines@a.example")
    assert ines.role == Role.OWNER
    assert list(ines.teams.all()) == [team]
    invitation.refresh_from_db()
    assert invitation.state() == "used"


def test_an_unknown_email_domain_or_organization_gets_a_clear_error(saml_a: SsoSettings) -> None:
    for who in ("someone@unknown.example", "no-such-org", "org-b"):
        response = Client().post("/login/sso/", {"who": who})
        assert response.status_code == 400
        assert "We found no single sign-on" in response.content.decode()


def _invitation_link(owner_client: Client, capture: Any, email: str, role: str) -> str:
    with capture(execute=True):
        owner_client.post("/members/invite/", {"email": email, "role": role})
    found = re.search(r"https?://[^\s/]+(/invitations/[^\s/]+/)", str(mail.outbox[-1].body))
    assert found, mail.outbox[-1].body
    return found.group(1)


def test_an_invitation_offers_sso_and_only_sso_where_it_is_required(
    org_a: Organization,
    owner: User,
    owner_client: Client,
    idp_a: SamlIdp,
    django_capture_on_commit_callbacks: Any,
) -> None:
    capture = django_capture_on_commit_callbacks
    # Without SSO: the password form alone.
    link = _invitation_link(owner_client, capture, "first@a.example", "member")
    page = _page(Client().get(link))
    assert 'name="password"' in page and "Continue with SSO" not in page
    # With SSO: both, the SSO form filled in with the invited address.
    saml_setup(org_a, owner, idp_a, email_domain="a.example")
    page = _page(Client().get(link))
    assert 'name="password"' in page and "Continue with SSO" in page
    assert 'value="first@a.example"' in page
    # Required: a member accepts only through SSO; a password is refused and nobody joins.
    saml_setup(org_a, owner, idp_a, email_domain="a.example", require_sso=True)
    link = _invitation_link(owner_client, capture, "second@a.example", "member")
    page = _page(Client().get(link))
    assert 'name="password"' not in page and "Continue with SSO" in page
    data = {"first_name": "S", "last_name": "M", "password": "x" * 20, "password_again": "x" * 20}
    response = Client().post(link, data)
    assert response.status_code == 400
    assert "single sign-on" in response.content.decode()
    assert not User.objects.filter(email="second@a.example").exists()
    # An invited owner keeps the password (break-glass).
    link = _invitation_link(owner_client, capture, "third@a.example", "owner")
    assert 'name="password"' in _page(Client().get(link))
