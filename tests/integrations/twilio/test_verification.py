"""The profile's Phone section against the fake Twilio: a 6-digit code texted from one of the
organization's numbers verifies the person's number; wrong codes use tries, codes expire,
and a person gets at most 5 codes an hour."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from integrations.twilio.fake import FakeTwilio
from integrations.twilio.models import PhoneVerification
from opsduty.models import Organization, User
from tests.integrations.twilio.conftest import ACCOUNT_SID, AUTH_TOKEN
from tests.integrations.twilio.telephony import OUR_NUMBER, PUBLIC_URL, telephony_set_up

pytestmark = pytest.mark.django_db

URL = "/profile/phone/"
ALICE = "+4722334455"


@pytest.fixture
def alice(member: User) -> User:
    member.phone_number = ALICE
    member.save(update_fields=["phone_number"])
    return member


@pytest.fixture
def phones(org_a: Organization, fake_twilio: FakeTwilio, settings: Any) -> FakeTwilio:
    settings.OPSDUTY_PUBLIC_URL = PUBLIC_URL
    telephony_set_up(organization=org_a, fake=fake_twilio, sid=ACCOUNT_SID, token=AUTH_TOKEN)
    return fake_twilio


def text(response: Any) -> str:
    return str(response.content.decode())


def send_code(client: Client, fake: FakeTwilio) -> str:
    """Ask for a code; the code as the person's phone received it."""
    page = text(client.post(f"{URL}code/", follow=True))
    assert "Code sent to +47 22 33 44 55" in page
    [last] = [m for m in fake.messages.values() if m.to == ALICE][-1:]
    assert last.from_ == OUR_NUMBER
    match = re.fullmatch(r"Your OpsDuty code is (\d{6})\. It expires in 10 minutes\.", last.body)
    assert match is not None
    return match[1]


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_the_right_code_verifies_the_number(
    member_client: Client, alice: User, phones: FakeTwilio
) -> None:
    assert "Not verified" in text(member_client.get(URL))
    code = send_code(member_client, phones)
    row = PhoneVerification.objects.get()
    assert code not in row.code_hash  # stored as an HMAC only
    page = text(member_client.post(f"{URL}verify/", {"code": code}, follow=True))
    assert "+47 22 33 44 55 is verified." in page and "Verified" in page
    alice.refresh_from_db()
    assert alice.phone_verified


def test_a_wrong_code_says_how_many_tries_are_left(
    member_client: Client, alice: User, phones: FakeTwilio
) -> None:
    code = send_code(member_client, phones)
    response = member_client.post(f"{URL}verify/", {"code": wrong(code)})
    assert response.status_code == 400 and "Wrong code: 4 tries left." in text(response)
    alice.refresh_from_db()
    assert not alice.phone_verified


def test_five_wrong_tries_use_the_code_up(
    member_client: Client, alice: User, phones: FakeTwilio
) -> None:
    code = send_code(member_client, phones)
    for _ in range(4):
        member_client.post(f"{URL}verify/", {"code": wrong(code)})
    last = member_client.post(f"{URL}verify/", {"code": wrong(code)})
    assert "Wrong code, and that was the last try: ask for a new one." in text(last)
    refused = member_client.post(f"{URL}verify/", {"code": code})
    assert "Too many wrong tries for this code: ask for a new one." in text(refused)
    alice.refresh_from_db()
    assert not alice.phone_verified


def test_an_expired_code_is_refused_clearly(
    member_client: Client, alice: User, phones: FakeTwilio
) -> None:
    now = timezone.now()  # the session signed in now stays valid
    with time_machine.travel(now, tick=False):
        code = send_code(member_client, phones)
    with time_machine.travel(now + timedelta(minutes=10, seconds=1), tick=False):
        response = member_client.post(f"{URL}verify/", {"code": code})
    assert "This code has expired: ask for a new one." in text(response)
    alice.refresh_from_db()
    assert not alice.phone_verified


def test_at_most_five_codes_an_hour(member_client: Client, alice: User, phones: FakeTwilio) -> None:
    now = timezone.now()  # the session signed in now stays valid
    with time_machine.travel(now, tick=False):
        for _ in range(5):
            send_code(member_client, phones)
        page = text(member_client.post(f"{URL}code/", follow=True))
    assert "At most 5 codes an hour: try again later." in page
    assert len([m for m in phones.messages.values() if m.to == ALICE]) == 5
    with time_machine.travel(now + timedelta(hours=1, seconds=1), tick=False):
        send_code(member_client, phones)


def test_only_the_newest_code_counts(
    member_client: Client, alice: User, phones: FakeTwilio
) -> None:
    first = send_code(member_client, phones)
    second = send_code(member_client, phones)
    if first != second:
        assert "Wrong code" in text(member_client.post(f"{URL}verify/", {"code": first}))
    member_client.post(f"{URL}verify/", {"code": second})
    alice.refresh_from_db()
    assert alice.phone_verified


def test_twilio_refusing_the_sms_is_shown_and_does_not_count(
    member_client: Client, alice: User, phones: FakeTwilio
) -> None:
    phones.fail_next("messages", status=400, code=21408, message="Permission denied")
    page = text(member_client.post(f"{URL}code/", follow=True))
    assert "The code could not be sent: Twilio error 21408" in page
    assert not PhoneVerification.objects.exists()


def test_without_an_account_or_number_the_page_says_what_an_owner_must_set_up(
    member_client: Client, owner_client: Client, alice: User, owner: User
) -> None:
    page = text(member_client.get(URL))
    assert "an owner must set up a Twilio account and a number with SMS notifications on" in page
    assert "Text me a code" not in page
    owner.phone_number = "+4799887766"
    owner.save(update_fields=["phone_number"])
    assert 'href="/settings/telephony/"' in text(owner_client.get(URL))
    refused = text(member_client.post(f"{URL}code/", follow=True))
    assert "SMS is not set up yet: ask an owner (Settings, Telephony)." in refused


def test_stop_received_is_shown_and_no_code_is_offered(
    member_client: Client, alice: User, phones: FakeTwilio
) -> None:
    alice.sms_stopped_at = timezone.now()
    alice.save(update_fields=["sms_stopped_at"])
    page = text(member_client.get(URL))
    assert "STOP received" in page and "Text me a code" not in page


def test_no_number_points_to_contact_methods(member_client: Client, member: User) -> None:
    page = text(member_client.get(URL))
    assert "You have no phone number yet." in page and 'aria-current="page">Phone' in page
