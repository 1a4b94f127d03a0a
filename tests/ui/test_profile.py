"""Profile: one page per section (contact methods, notification rules, calendar feeds);
name and phone, password change, signing out of every device."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from opsduty.models import User
from tests import factories
from tests.ui.helpers import login_data, signed_in

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a much better passphrase 42"


def _client_signed_in_as(user: User) -> Client:
    """A client that signed in through the login form (a real, separate session)."""
    client = Client()
    response = client.post("/login/", login_data(user.organization.domain, user.email))
    assert response.status_code == 302
    return client


def test_profile_page_shows_the_users_own_details(owner: User, outsider_client: Client) -> None:
    response = outsider_client.get("/profile/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "outsider@b.example" in content
    assert "owner@a.example" not in content
    assert "Org B" in content


def test_profile_edit_saves_names_and_phone(owner: User, owner_client: Client) -> None:
    response = owner_client.post(
        "/profile/details/",
        {"first_name": " Ada ", "last_name": "Lovelace", "phone_number": "+4712345678"},
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert (owner.first_name, owner.last_name, owner.phone_number) == (
        "Ada",
        "Lovelace",
        "+4712345678",
    )
    assert "Your profile has been saved." in owner_client.get("/profile/").content.decode()


@pytest.mark.parametrize(
    ("phone", "error"),
    [
        ("12345678", "Start with + and the country code, e.g. +47 22 33 44 55."),
        ("+0123456", "Not a phone number"),
        ("+47 12", "That number has the wrong length for its country."),
        ("call me", "Start with + and the country code"),
    ],
)
def test_invalid_phone_number_shows_error_and_saves_nothing(
    owner: User, owner_client: Client, phone: str, error: str
) -> None:
    before = (owner.first_name, owner.phone_number)
    response = owner_client.post(
        "/profile/details/", {"first_name": "Changed", "last_name": "", "phone_number": phone}
    )
    assert response.status_code == 200
    (shown,) = response.context["profile_form"].errors["phone_number"]
    assert shown.startswith(error)
    assert 'aria-invalid="true"' in response.content.decode()
    owner.refresh_from_db()
    assert (owner.first_name, owner.phone_number) == before
    # The page header still shows the saved name, not the rejected edit.
    assert response.context["user"].first_name == before[0]


def test_phone_number_is_stored_as_e164_and_a_new_one_needs_verifying_again(
    owner: User, owner_client: Client
) -> None:
    owner.phone_number = "+4722334455"
    owner.phone_verified_at = timezone.now()
    owner.save()
    owner_client.post(
        "/profile/details/", {"first_name": "O", "last_name": "", "phone_number": "+47 22 33 44 55"}
    )
    owner.refresh_from_db()
    assert (owner.phone_number, owner.phone_verified) == ("+4722334455", True)  # same number
    owner_client.post(
        "/profile/details/", {"first_name": "O", "last_name": "", "phone_number": "+47 41 23 45 67"}
    )
    owner.refresh_from_db()
    assert (owner.phone_number, owner.phone_verified) == ("+4741234567", False)


def test_password_change_keeps_this_session_and_signs_out_the_others(owner: User) -> None:
    here = _client_signed_in_as(owner)
    elsewhere = _client_signed_in_as(owner)
    response = here.post(
        "/profile/password/",
        {
            "old_password": factories.PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    assert signed_in(here)
    assert not signed_in(elsewhere)
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD)
    assert (
        Client().post("/login/", login_data("org-a", owner.email, NEW_PASSWORD)).status_code == 302
    )


@pytest.mark.parametrize("weak", ["12345678", "password", "short", "owner@a.example"])
def test_weak_new_password_is_rejected_by_the_validators(
    owner: User, owner_client: Client, weak: str
) -> None:
    response = owner_client.post(
        "/profile/password/",
        {"old_password": factories.PASSWORD, "new_password1": weak, "new_password2": weak},
    )
    assert response.status_code == 200
    assert response.context["password_form"].errors["new_password2"]
    owner.refresh_from_db()
    assert owner.check_password(factories.PASSWORD)


def test_wrong_old_password_is_rejected(owner: User, owner_client: Client) -> None:
    response = owner_client.post(
        "/profile/password/",
        {"old_password": "not it", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 200
    assert response.context["password_form"].errors["old_password"]
    owner.refresh_from_db()
    assert owner.check_password(factories.PASSWORD)


def test_sign_out_of_all_devices_ends_every_session(owner: User, member: User) -> None:
    here = _client_signed_in_as(owner)
    elsewhere = _client_signed_in_as(owner)
    colleague = _client_signed_in_as(member)
    response = here.post("/profile/sign-out-everywhere/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert "signed out of all devices" in here.get("/login/").content.decode()
    assert not signed_in(here)
    assert not signed_in(elsewhere)
    assert signed_in(colleague)
    # The password still works: only the sessions ended.
    assert signed_in(_client_signed_in_as(owner))


def test_sign_out_of_all_devices_needs_post(owner_client: Client) -> None:
    assert owner_client.get("/profile/sign-out-everywhere/").status_code == 405
    assert signed_in(owner_client)


@pytest.mark.parametrize(
    "path",
    ["/profile/", "/profile/details/", "/profile/password/", "/profile/sign-out-everywhere/"],
)
def test_profile_pages_need_sign_in(path: str) -> None:
    response = Client().post(path) if path != "/profile/" else Client().get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


# --- one page per section ---------------------------------------------------------------------

SECTIONS = [
    ("/profile/", "Contact methods"),
    ("/profile/notifications/", "Notification rules"),
    ("/profile/calendars/", "Calendar feeds"),
    ("/profile/tokens/", "API tokens"),
]


def _subnav(html: str) -> str:
    return html.split('<nav aria-label="Profile sections"', 1)[1].split("</nav>", 1)[0]


@pytest.mark.parametrize(("path", "label"), SECTIONS)
def test_each_profile_section_is_a_page_with_the_sections_listed(
    member_client: Client, path: str, label: str
) -> None:
    response = member_client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    nav = _subnav(html)
    for other_path, other_label in SECTIONS:
        assert f'<a href="{other_path}"' in nav and other_label in nav
    assert nav.count('aria-current="page"') == 1
    assert f'<a href="{path}" aria-current="page">{label}</a>' in nav
    assert f"<title>{label} · Profile" in html
    # The main navigation marks Profile on every section.
    assert '<a href="/profile/" aria-current="page">Profile</a>' in html


def test_sections_hold_their_own_forms_only(member_client: Client) -> None:
    contact = member_client.get("/profile/").content.decode()
    assert 'action="/profile/details/"' in contact and 'action="/profile/password/"' in contact
    assert 'action="/profile/sign-out-everywhere/"' in contact
    assert "Notification rules</h2>" not in contact and "my-shift-list" not in contact
    rules = member_client.get("/profile/notifications/").content.decode()
    assert 'action="/profile/notification-rules/"' in rules
    assert 'action="/profile/details/"' not in rules
    calendars = member_client.get("/profile/calendars/").content.decode()
    assert 'action="/profile/calendar-feed/rotate/"' in calendars
    assert "Notification rules</h2>" not in calendars


def test_a_refused_rule_without_htmx_shows_the_notifications_section(
    member_client: Client,
) -> None:
    response = member_client.post(
        "/profile/notification-rules/",
        {"urgency": "low", "delay_minutes": ["soon"], "channel": ["email"]},
    )
    assert response.status_code == 422
    nav = _subnav(response.content.decode())
    assert '<a href="/profile/notifications/" aria-current="page">' in nav


def test_api_tokens_are_the_last_section(member_client: Client) -> None:
    nav = _subnav(member_client.get("/profile/tokens/").content.decode())
    assert nav.index("Calendar feeds") < nav.index("API tokens")
    assert '<a href="/profile/tokens/" aria-current="page">API tokens</a>' in nav


@pytest.mark.parametrize("path", ["/profile/notifications/", "/profile/calendars/"])
def test_profile_sections_need_sign_in(path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
