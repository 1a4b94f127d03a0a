"""Google Workspace sign-in through OpenID Connect, against the local provider on loopback
(tests/integrations/sso/idp_server.py): discovery, the authorization code with PKCE, the
client secret (stored encrypted) at the token endpoint, an RS256 ID token with the `hd` claim."""

from __future__ import annotations

from typing import Any

import pytest
from allauth.socialaccount.models import SocialAccount
from django.test import Client

from integrations.sso.models import SsoSettings
from opsduty.models import Organization, Role, User
from opsduty.services import user_deactivate
from tests import factories
from tests.integrations.sso.conftest import google_setup, google_sign_in, signed_in_email
from tests.integrations.sso.idp_server import LocalIdp, Person

pytestmark = pytest.mark.django_db


def _page(response: Any) -> str:
    return str(response.content.decode())


def test_a_workspace_member_signs_in_and_lands_on_the_incidents_page(
    google_a: SsoSettings, member: User, local_idp: LocalIdp
) -> None:
    local_idp.person = Person("member@a.example", hd="a.example", given_name="Mia")
    client = Client()
    response = google_sign_in(local_idp, "member@a.example", client)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == "/incidents/"
    assert "Org A" in _page(response)
    assert signed_in_email(client) == "member@a.example"
    # allauth asked the provider itself: discovery, token (secret and PKCE checked), userinfo.
    assert "POST /token" in local_idp.seen and not local_idp.token_errors
    assert SocialAccount.objects.filter(user=member, provider="google-org-a").exists()


def test_the_organization_domain_also_starts_google_sign_in(
    google_a: SsoSettings, member: User, local_idp: LocalIdp
) -> None:
    client = Client()
    google_sign_in(local_idp, "org-a", client)
    assert signed_in_email(client) == "member@a.example"


def test_an_account_of_another_workspace_is_refused(
    google_a: SsoSettings, member: User, local_idp: LocalIdp
) -> None:
    # The address is a member's, but Google says the account belongs to another Workspace.
    local_idp.person = Person("member@a.example", hd="evil.example")
    client = Client()
    response = google_sign_in(local_idp, "org-a", client)
    assert response.status_code == 403
    assert "You signed in with a Google account outside a.example" in _page(response)
    assert signed_in_email(client) is None


def test_a_consumer_google_account_without_hd_is_refused(
    google_a: SsoSettings, member: User, local_idp: LocalIdp
) -> None:
    local_idp.person = Person("member@a.example", hd=None)
    client = Client()
    response = google_sign_in(local_idp, "org-a", client)
    assert response.status_code == 403
    assert "outside a.example, the Google Workspace of Org A" in _page(response)
    assert signed_in_email(client) is None


def test_an_unverified_address_is_refused(
    google_a: SsoSettings, member: User, local_idp: LocalIdp
) -> None:
    local_idp.person = Person("member@a.example", hd="a.example", email_verified=False)
    client = Client()
    response = google_sign_in(local_idp, "org-a", client)
    assert response.status_code == 403
    assert "not verified" in _page(response)
    assert signed_in_email(client) is None


def test_jit_creates_a_workspace_person_with_the_default_role(
    org_a: Organization, owner: User, local_idp: LocalIdp
) -> None:
    google_setup(
        org_a, owner, local_idp, email_domain="a.example", jit_enabled=True, jit_role=Role.MEMBER
    )
    local_idp.person = Person("nora@a.example", hd="a.example", given_name="Nora")
    client = Client()
    response = google_sign_in(local_idp, "nora@a.example", client)
    assert response.redirect_chain[-1][0] == "/incidents/"
    assert signed_in_email(client) == "nora@a.example"
    nora = User.objects.get(organization=org_a, email="nora@a.example")
    assert nora.role == Role.MEMBER and nora.first_name == "Nora"


def test_without_jit_an_unknown_workspace_person_is_refused(
    google_a: SsoSettings, local_idp: LocalIdp
) -> None:
    local_idp.person = Person("nora@a.example", hd="a.example")
    client = Client()
    response = google_sign_in(local_idp, "org-a", client)
    assert response.status_code == 403
    assert "You are not a member of Org A yet" in _page(response)
    assert not User.objects.filter(email="nora@a.example").exists()


def test_a_deactivated_person_is_refused(
    google_a: SsoSettings, member: User, owner: User, local_idp: LocalIdp
) -> None:
    user_deactivate(user=member, by=owner)
    client = Client()
    response = google_sign_in(local_idp, "org-a", client)
    assert response.status_code == 403
    assert "deactivated" in _page(response)
    assert signed_in_email(client) is None


def test_a_wrong_stored_client_secret_fails_cleanly(
    org_a: Organization, owner: User, member: User, local_idp: LocalIdp
) -> None:
    google_setup(org_a, owner, local_idp, email_domain="a.example")
    local_idp.client_secret = "the secret was rotated at Google"  # noqa: S105
    client = Client()
    response = google_sign_in(local_idp, "org-a", client)
    assert response.status_code == 403
    assert "Single sign-on did not complete" in _page(response)
    assert local_idp.token_errors == ["invalid_client"]
    assert signed_in_email(client) is None


def test_a_callback_replayed_in_another_browser_is_refused(
    google_a: SsoSettings, member: User, local_idp: LocalIdp
) -> None:
    start = Client().post("/login/sso/", {"who": "org-a"})
    callback = local_idp.visit(start["Location"]).removeprefix("http://testserver")
    attacker = Client()
    response = attacker.get(callback, follow=True)
    assert "Single sign-on did not complete" in _page(response)
    assert signed_in_email(attacker) is None


def test_an_unreachable_provider_is_a_clear_page_not_an_error(
    google_a: SsoSettings, settings: Any
) -> None:
    settings.OPSDUTY_SSO_GOOGLE_SERVER_URL = "http://127.0.0.1:9"  # discard: nothing answers
    response = Client().post("/login/sso/", {"who": "org-a"})
    assert response.status_code == 502
    assert "We could not reach your organization&#x27;s identity provider" in _page(response)


def test_google_sign_in_of_org_a_never_signs_in_to_org_b(
    google_a: SsoSettings,
    member: User,
    local_idp: LocalIdp,
    org_b: Organization,
    outsider: User,
) -> None:
    factories.make_user(organization=org_b, email="member@a.example")
    client = Client()
    google_sign_in(local_idp, "member@a.example", client)
    page = client.get("/incidents/").content.decode()
    assert "Org A" in page and "Org B" not in page
