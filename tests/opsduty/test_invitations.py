"""Invitations (docs/accounts.md): an owner invites an address with a role and teams; the
mail's link lets the person set their name and password once, within 7 days, and lands
them signed in, in their teams. Expired, revoked, replaced and used links get a page that
says so; an address that is a member already, or invited already, is refused with a
message; only owners invite; another organization's invitation is a 404."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone

from opsduty.models import Invitation, Organization, Role, Team, User
from tests import factories

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-unusual-passphrase"
Capture = Callable[..., Any]


def _invite(
    client: Client, capture: Capture, email: str, role: str = "member", teams: tuple[int, ...] = ()
) -> Any:
    with capture(execute=True):
        return client.post(
            "/members/invite/", {"email": email, "role": role, "teams": list(teams)}, follow=True
        )


def _link(message: mail.EmailMessage) -> str:
    found = re.search(r"https?://[^\s/]+(/invitations/[^\s/]+/)", str(message.body))
    assert found, message.body
    return found.group(1)


def _accept(link: str, **fields: str) -> Any:
    data = {
        "first_name": "Ines",
        "last_name": "Invited",
        "password": PASSWORD,
        "password_again": PASSWORD,
    }
    client = Client()
    response = client.post(link, {**data, **fields})
    return client, response


def test_an_invited_person_joins_with_the_role_and_teams_and_is_signed_in(
    org_a: Organization,
    owner: User,
    owner_client: Client,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    payments = factories.make_team(organization=org_a, name="Payments")
    factories.make_team(organization=org_a, name="Platform")
    page = _invite(
        owner_client,
        django_capture_on_commit_callbacks,
        "Ines@Example.com",
        "stakeholder",
        (payments.pk,),
    )
    assert "Invitation sent to ines@example.com" in page.content.decode()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ines@example.com"]
    assert "Org A" in message.subject
    assert "org-a" in message.body  # the organization's domain, for signing in later
    link = _link(message)

    shown = Client().get(link)
    assert shown.status_code == 200
    assert "ines@example.com" in shown.content.decode()
    client, response = _accept(link)
    assert response.status_code == 302
    user = User.objects.get(organization=org_a, email="ines@example.com")
    assert (user.role, user.first_name) == (Role.STAKEHOLDER, "Ines")
    assert list(user.teams.values_list("name", flat=True)) == ["Payments"]
    home = client.get("/members/")
    assert home.status_code == 200 and "Ines Invited" in home.content.decode()
    # and later with the password, like everyone
    signed = Client().post(
        "/login/", {"domain": "org-a", "email": "ines@example.com", "password": PASSWORD}
    )
    assert signed.status_code == 302

    again = Client().get(link)
    assert again.status_code == 410
    assert "used already" in again.content.decode()
    _, reuse = _accept(link, first_name="Mallory")
    assert reuse.status_code == 410
    assert User.objects.filter(organization=org_a, first_name="Mallory").count() == 0


def test_a_link_expires_after_7_days(
    org_a: Organization, owner_client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    _invite(owner_client, django_capture_on_commit_callbacks, "late@example.com")
    link = _link(mail.outbox[0])
    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        page = Client().get(link)
        _, response = _accept(link)
        members = owner_client.get("/members/").content.decode()
    assert page.status_code == 410 and "expired" in page.content.decode()
    assert response.status_code == 410
    assert not User.objects.filter(email="late@example.com").exists()
    assert "expired" in members  # the owner sees it, and can send it again


def test_a_resend_mails_a_new_link_and_the_old_one_stops_working(
    org_a: Organization, owner_client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    _invite(owner_client, django_capture_on_commit_callbacks, "twice@example.com")
    old = _link(mail.outbox[0])
    invitation = Invitation.objects.get(email="twice@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        page = owner_client.post(f"/members/invitations/{invitation.pk}/resend/", follow=True)
    assert "A new link was sent to twice@example.com" in page.content.decode()
    assert len(mail.outbox) == 2
    new = _link(mail.outbox[1])
    assert new != old
    refused = Client().get(old)
    assert refused.status_code == 404 and "not valid" in refused.content.decode()
    _, response = _accept(new)
    assert response.status_code == 302


def test_a_revoked_link_says_so_and_creates_nobody(
    org_a: Organization, owner_client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    _invite(owner_client, django_capture_on_commit_callbacks, "gone@example.com")
    link = _link(mail.outbox[0])
    invitation = Invitation.objects.get(email="gone@example.com")
    page = owner_client.post(f"/members/invitations/{invitation.pk}/revoke/", follow=True)
    assert "was withdrawn" in page.content.decode()
    assert "gone@example.com" not in page.content.decode().split("Invitations waiting")[1]
    _, response = _accept(link)
    assert response.status_code == 410 and "withdrawn" in response.content.decode()
    assert not User.objects.filter(email="gone@example.com").exists()


def test_members_and_waiting_invitations_are_refused_with_a_message(
    org_a: Organization,
    owner: User,
    member: User,
    owner_client: Client,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    page = _invite(owner_client, django_capture_on_commit_callbacks, "MEMBER@a.example")
    assert page.status_code == 400
    assert "member@a.example is already a member of Org A" in page.content.decode()
    _invite(owner_client, django_capture_on_commit_callbacks, "new@example.com")
    second = _invite(owner_client, django_capture_on_commit_callbacks, "new@example.com")
    assert second.status_code == 400
    assert "has an invitation waiting" in second.content.decode()
    bad = _invite(owner_client, django_capture_on_commit_callbacks, "not an address")
    assert bad.status_code == 400 and "valid email" in bad.content.decode()
    assert len(mail.outbox) == 1


def test_a_refused_password_keeps_the_invitation_waiting(
    org_a: Organization, owner_client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    _invite(owner_client, django_capture_on_commit_callbacks, "weak@example.com")
    link = _link(mail.outbox[0])
    _, short = _accept(link, password="abc", password_again="abc")
    assert short.status_code == 400 and "too short" in short.content.decode()
    _, differ = _accept(link, password_again=PASSWORD + "x")
    assert differ.status_code == 400 and "differ" in differ.content.decode()
    assert not User.objects.filter(email="weak@example.com").exists()
    _, response = _accept(link)
    assert response.status_code == 302


def test_only_owners_invite_and_manage_invitations(
    org_a: Organization,
    member_client: Client,
    owner_client: Client,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    assert "Invite people" not in member_client.get("/members/").content.decode()
    refused = _invite(member_client, django_capture_on_commit_callbacks, "x@example.com")
    assert refused.status_code == 403
    _invite(owner_client, django_capture_on_commit_callbacks, "y@example.com")
    invitation = Invitation.objects.get(email="y@example.com")
    for action in ("resend", "revoke"):
        response = member_client.post(f"/members/invitations/{invitation.pk}/{action}/")
        assert response.status_code == 403
    assert invitation.state() == "waiting" and len(mail.outbox) == 1


def test_another_organizations_invitation_is_not_found(
    org_a: Organization,
    outsider_client: Client,
    owner_client: Client,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    _invite(owner_client, django_capture_on_commit_callbacks, "z@example.com")
    invitation = Invitation.objects.get(email="z@example.com")
    for action in ("resend", "revoke"):
        response = outsider_client.post(f"/members/invitations/{invitation.pk}/{action}/")
        assert response.status_code == 404
    assert "z@example.com" not in outsider_client.get("/members/").content.decode()
    assert invitation.state() == "waiting"


def test_teams_of_another_organization_cannot_be_given(
    org_a: Organization,
    org_b: Organization,
    owner_client: Client,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    theirs = Team.objects.create(organization=org_b, name="Theirs")
    page = _invite(
        owner_client, django_capture_on_commit_callbacks, "t@example.com", teams=(theirs.pk,)
    )
    assert page.status_code == 400
    assert not Invitation.objects.filter(email="t@example.com").exists()
