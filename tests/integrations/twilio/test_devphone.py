"""The development phone (/dev/phone/): an owner sees and drives the fake Twilio's handsets of
their own organization's people only; members get 403, and it is off outside development."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from integrations.twilio.client import twilio_client
from integrations.twilio.fake import FakeTwilio
from integrations.twilio.models import TwilioAccount, TwilioNumber
from opsduty.models import Organization, User
from tests.integrations.twilio.conftest import ACCOUNT_SID, AUTH_TOKEN, TwimlApp

pytestmark = pytest.mark.django_db

OURS = "+14155550100"
ALICE = "+15005550006"
BOB = "+15005550007"
THEIRS = "+14155550101"


def _bought(organization: Organization, account_sid: str, token: str, number: str) -> None:
    account = TwilioAccount.objects.create(
        organization=organization,
        account_sid=account_sid,
        auth_token=token,
        auth_token_hint=token[-4:],
    )
    TwilioNumber.objects.create(
        organization=organization,
        account=account,
        sid="PN" + "1" * 30 + number[-2:],
        phone_number=number,
    )


@pytest.fixture
def phones(
    fake_twilio: FakeTwilio, twiml_app: TwimlApp, member: User, outsider: User, settings: Any
) -> FakeTwilio:
    """Org A's member has ALICE's phone, org B's outsider BOB's; both texted our number."""
    settings.OPSDUTY_DEV_PHONE = True
    member.phone_number, outsider.phone_number = ALICE, BOB
    member.save()
    outsider.save()
    fake_twilio.buy_number(
        ACCOUNT_SID, OURS, sms_url=f"{twiml_app.url}/sms", voice_url=f"{twiml_app.url}/voice"
    )
    _bought(member.organization, ACCOUNT_SID, AUTH_TOKEN, OURS)
    other_sid = "AC" + "e" * 32
    fake_twilio.add_account(other_sid, "other-token")
    fake_twilio.buy_number(other_sid, THEIRS, sms_url=f"{twiml_app.url}/sms")
    _bought(outsider.organization, other_sid, "other-token", THEIRS)
    twiml_app.routes["/sms"] = "<Response><Message>Noted</Message></Response>"
    twiml_app.routes["/voice"] = "<Response><Say>Hello from OpsDuty.</Say></Response>"
    fake_twilio.sms(ALICE, OURS, "ack from alice")
    fake_twilio.sms(BOB, THEIRS, "secret of org b")
    return fake_twilio


def test_owners_see_their_own_people_phones_only(phones: FakeTwilio, owner_client: Client):
    page = owner_client.get("/dev/phone/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "ack from alice" in text and "Noted" in text
    assert "secret of org b" not in text and BOB not in text
    assert OURS in text and THEIRS not in text


def test_members_may_not_use_it_and_it_is_off_by_default(
    phones: FakeTwilio, member_client: Client, owner_client: Client, settings: Any
):
    assert member_client.get("/dev/phone/").status_code == 403
    settings.OPSDUTY_DEV_PHONE = False
    assert owner_client.get("/dev/phone/").status_code == 404


def test_call_buttons_work_on_own_calls_only(
    phones: FakeTwilio, owner_client: Client, twiml_app: TwimlApp
):
    client = twilio_client(ACCOUNT_SID, AUTH_TOKEN)
    url = f"{twiml_app.url}/voice"
    to_alice = client.calls.create(to=ALICE, from_=OURS, url=url).sid
    to_bob = client.calls.create(to=BOB, from_=OURS, url=url).sid
    phones.settle()

    answered = owner_client.post(
        f"/dev/phone/calls/{to_alice}/", {"action": "answer", "by": "human"}
    )
    assert answered.status_code == 302
    phones.settle()
    assert phones.calls[to_alice].transcript == ["Hello from OpsDuty."]
    assert "Hello from OpsDuty." in owner_client.get("/dev/phone/").content.decode()

    refused = owner_client.post(f"/dev/phone/calls/{to_bob}/", {"action": "answer"})
    assert refused.status_code == 404
    assert phones.calls[to_bob].status == "ringing"


def test_texts_go_from_own_people_and_calls_from_any_number(
    phones: FakeTwilio, owner_client: Client, twiml_app: TwimlApp
):
    owner_client.post(
        "/dev/phone/sms/", {"from_number": ALICE, "to_number": OURS, "body": "resolve"}
    )
    owner_client.post(
        "/dev/phone/sms/", {"from_number": BOB, "to_number": OURS, "body": "not mine to send"}
    )
    phones.settle()
    bodies = [hit["Body"] for hit in twiml_app.hits("/sms")]
    assert "resolve" in bodies and "not mine to send" not in bodies

    stranger = "+15005550123"
    owner_client.post("/dev/phone/calls/", {"from_number": stranger, "to_number": OURS})
    owner_client.post("/dev/phone/calls/", {"from_number": stranger, "to_number": THEIRS})
    phones.settle()
    page = owner_client.get("/dev/phone/").content.decode()
    assert stranger in page and "Hello from OpsDuty." in page
    assert [c.to for c in phones.calls.values()] == [OURS]  # not another organization's number
