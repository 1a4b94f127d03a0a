"""Sign-in with organization domain + email + password, throttling, sign-out, redirects."""

from __future__ import annotations

import pytest
from django.test import Client

from opsduty.models import Organization, User
from opsduty.views.auth import INVALID_CREDENTIALS
from tests import factories
from tests.ui.helpers import login_data, signed_in

pytestmark = pytest.mark.django_db


def _session_user_id(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


def test_login_with_domain_email_and_password_signs_in(owner: User) -> None:
    client = Client()
    response = client.post("/login/", login_data("org-a", "owner@a.example"))
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert _session_user_id(client) == str(owner.pk)
    assert client.get("/", follow=True).redirect_chain[-1][0] == "/incidents/"


def test_login_page_renders_the_three_fields() -> None:
    response = Client().get("/login/")
    assert response.status_code == 200
    content = response.content.decode()
    for name in ("domain", "email", "password"):
        assert f'name="{name}"' in content
    assert 'name="csrfmiddlewaretoken"' in content


@pytest.mark.parametrize(
    ("domain", "email", "password"),
    [
        ("org-b", "owner@a.example", factories.PASSWORD),  # wrong organization
        ("nope", "owner@a.example", factories.PASSWORD),  # unknown organization
        ("org-a", "owner@a.example", "wrong password"),  # wrong password
        ("org-a", "nobody@a.example", factories.PASSWORD),  # unknown email
    ],
)
def test_bad_credentials_get_one_generic_error(
    owner: User, outsider: User, domain: str, email: str, password: str
) -> None:
    client = Client()
    response = client.post("/login/", login_data(domain, email, password))
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [INVALID_CREDENTIALS]
    assert INVALID_CREDENTIALS in response.content.decode()
    assert _session_user_id(client) is None


def test_outsider_cannot_sign_in_to_another_organization(
    outsider: User, org_a: Organization
) -> None:
    client = Client()
    client.post("/login/", login_data("org-a", "outsider@b.example"))
    assert _session_user_id(client) is None
    client.post("/login/", login_data("org-b", "outsider@b.example"))
    assert _session_user_id(client) == str(outsider.pk)


def test_login_email_and_domain_are_case_insensitive(owner: User) -> None:
    client = Client()
    response = client.post("/login/", login_data(" ORG-A ", "Owner@A.Example"))
    assert response.status_code == 302
    assert _session_user_id(client) == str(owner.pk)


def test_inactive_user_is_refused_with_the_generic_error(member: User) -> None:
    member.is_active = False
    member.save(update_fields=["is_active"])
    client = Client()
    response = client.post("/login/", login_data("org-a", "member@a.example"))
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [INVALID_CREDENTIALS]
    assert _session_user_id(client) is None


def test_five_failures_lock_out_even_the_right_password(owner: User, member: User) -> None:
    client = Client()
    for _ in range(5):
        client.post("/login/", login_data("org-a", "owner@a.example", "wrong"))
    response = client.post("/login/", login_data("org-a", "owner@a.example"))
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert int(response["Retry-After"]) > 0
    assert 'name="domain"' in response.content.decode()  # still the sign-in page
    assert _session_user_id(client) is None
    # The lock is per organization + email: another person signs in from the same address.
    assert client.post("/login/", login_data("org-a", "member@a.example")).status_code == 302


def test_four_failures_do_not_lock_out(owner: User) -> None:
    client = Client()
    for _ in range(4):
        assert (
            client.post("/login/", login_data("org-a", "owner@a.example", "x")).status_code == 200
        )
    assert client.post("/login/", login_data("org-a", "owner@a.example")).status_code == 302


def test_lockout_counts_the_email_case_insensitively(owner: User) -> None:
    client = Client()
    for email in ["OWNER@a.example", "owner@A.example", "Owner@a.example", "owner@a.example"]:
        client.post("/login/", login_data("org-a", email, "wrong"))
    client.post("/login/", login_data("ORG-A", "owner@a.example", "wrong"))
    assert client.post("/login/", login_data("org-a", "owner@a.example")).status_code == 429


def test_logout_only_by_post(owner_client: Client) -> None:
    response = owner_client.get("/logout/")
    assert response.status_code == 405
    assert signed_in(owner_client)
    response = owner_client.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert not signed_in(owner_client)


def test_login_follows_a_local_next(owner: User) -> None:
    client = Client()
    data = {**login_data("org-a", "owner@a.example"), "next": "/teams/?x=1"}
    response = client.post("/login/", data)
    assert response["Location"] == "/teams/?x=1"


@pytest.mark.parametrize(
    "next_url",
    ["https://evil.example/", "//evil.example/path", "http://evil.example", "/\\evil.example"],
)
def test_login_ignores_an_external_next(owner: User, next_url: str) -> None:
    client = Client()
    response = client.post("/login/", {**login_data("org-a", "owner@a.example"), "next": next_url})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_signed_out_visitor_is_sent_to_login_with_next(owner: User) -> None:
    response = Client().get("/teams/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/teams/"
    page = Client().get("/login/?next=/teams/")
    assert 'value="/teams/"' in page.content.decode()


def test_signed_in_visitor_of_login_goes_home(owner_client: Client) -> None:
    response = owner_client.get("/login/")
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_login_requires_csrf_token(owner: User) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login/", login_data("org-a", "owner@a.example"))
    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()
    assert _session_user_id(client) is None


def test_home_redirects_to_incidents(owner_client: Client, outsider_client: Client) -> None:
    assert owner_client.get("/")["Location"] == "/incidents/"
    assert outsider_client.get("/")["Location"] == "/incidents/"
