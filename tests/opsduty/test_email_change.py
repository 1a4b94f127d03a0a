"""Changing one's email address (docs/accounts.md): with the current password, a link goes to
the new address and a notice to the old one; the address changes only when the link is
followed (a button, so a link preview changes nothing), once, within 24 hours; the person
then signs in with the new address. Wrong password, a taken or unchanged address, and used,
expired or replaced links are refused with a message."""

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

from opsduty.models import User
from tests import factories

pytestmark = pytest.mark.django_db
Capture = Callable[..., Any]


def _ask(
    client: Client, capture: Capture, new_email: str, password: str = factories.PASSWORD
) -> Any:
    with capture(execute=True):
        return client.post(
            "/profile/email/", {"new_email": new_email, "password": password}, follow=True
        )


def _link(message: mail.EmailMessage) -> str:
    found = re.search(r"https?://[^\s/]+(/email-change/[^\s/]+/)", str(message.body))
    assert found, message.body
    return found.group(1)


def test_the_address_changes_when_the_link_mailed_to_it_is_followed(
    member: User, member_client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    page = _ask(member_client, django_capture_on_commit_callbacks, "New.Address@Example.com")
    assert "We sent a link to new.address@example.com" in page.content.decode()
    assert "Waiting for confirmation" in page.content.decode()
    confirm, notice = sorted(mail.outbox, key=lambda m: m.to != ["new.address@example.com"])
    assert confirm.to == ["new.address@example.com"]
    assert notice.to == ["member@a.example"]
    assert "new.address@example.com" in notice.body
    link = _link(confirm)
    assert link not in notice.body

    preview = Client().get(link)  # a mail client's preview: nothing changes
    assert preview.status_code == 200
    member.refresh_from_db()
    assert member.email == "member@a.example"

    done = Client().post(link)
    assert done.status_code == 302
    member.refresh_from_db()
    assert member.email == "new.address@example.com"
    old = Client().post(
        "/login/", {"domain": "org-a", "email": "member@a.example", "password": factories.PASSWORD}
    )
    assert old.status_code == 200  # the form again: the old address no longer signs in
    new = Client().post(
        "/login/",
        {"domain": "org-a", "email": "new.address@example.com", "password": factories.PASSWORD},
    )
    assert new.status_code == 302
    again = Client().post(link)
    assert again.status_code == 410 and "used already" in again.content.decode()


def test_a_wrong_password_a_taken_address_and_the_same_address_are_refused(
    owner: User, member: User, member_client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    wrong = _ask(member_client, django_capture_on_commit_callbacks, "x@example.com", "nope")
    assert wrong.status_code == 400 and "not your current password" in wrong.content.decode()
    taken = _ask(member_client, django_capture_on_commit_callbacks, "OWNER@a.example")
    assert taken.status_code == 400 and "Another person here uses" in taken.content.decode()
    same = _ask(member_client, django_capture_on_commit_callbacks, "member@a.example")
    assert same.status_code == 400 and "your address already" in same.content.decode()
    assert mail.outbox == []


def test_an_expired_or_replaced_link_changes_nothing(
    member: User, member_client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    _ask(member_client, django_capture_on_commit_callbacks, "first@example.com")
    first = _link(next(m for m in mail.outbox if m.to == ["first@example.com"]))
    _ask(member_client, django_capture_on_commit_callbacks, "second@example.com")
    second = _link(next(m for m in mail.outbox if m.to == ["second@example.com"]))
    replaced = Client().post(first)
    assert replaced.status_code == 404 and "not valid" in replaced.content.decode()
    with time_machine.travel(timezone.now() + timedelta(hours=24, minutes=1)):
        expired = Client().post(second)
    assert expired.status_code == 410 and "expired" in expired.content.decode()
    member.refresh_from_db()
    assert member.email == "member@a.example"


def test_an_address_taken_meanwhile_is_refused_at_confirmation(
    org_a: Any, member: User, member_client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    _ask(member_client, django_capture_on_commit_callbacks, "wanted@example.com")
    link = _link(next(m for m in mail.outbox if m.to == ["wanted@example.com"]))
    factories.make_user(organization=org_a, email="wanted@example.com")
    response = Client().post(link)
    assert response.status_code == 410 and "used by another person" in response.content.decode()
    member.refresh_from_db()
    assert member.email == "member@a.example"
