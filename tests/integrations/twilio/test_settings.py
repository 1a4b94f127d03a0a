"""Settings -> Telephony through the Django test client against the fake Twilio (the real SDK):
the account checked and its token encrypted, numbers searched, bought (pointed at this
server), released, addresses, destinations; owners only, and never another organization's."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client

from integrations.twilio.fake import FakeTwilio
from integrations.twilio.models import CallDestination, TwilioAccount, TwilioNumber
from opsduty.models import Organization, Service, User
from tests import factories
from tests.integrations.twilio.conftest import ACCOUNT_SID, AUTH_TOKEN
from tests.integrations.twilio.telephony import PUBLIC_URL, telephony_set_up

pytestmark = pytest.mark.django_db

URL = "/settings/telephony/"


@pytest.fixture(autouse=True)
def _public_url(settings: Any) -> None:
    settings.OPSDUTY_PUBLIC_URL = PUBLIC_URL


@pytest.fixture
def account(owner_client: Client, fake_twilio: FakeTwilio) -> TwilioAccount:
    """The account as an owner saves it on the page."""
    response = owner_client.post(
        f"{URL}account/", {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
    )
    assert response.status_code == 302
    return TwilioAccount.objects.get()


def text(response: Any) -> str:
    return str(response.content.decode())


def _requests(fake: FakeTwilio, method: str, ending: str) -> list[dict[str, str]]:
    return [r.params for r in fake.requests if r.method == method and r.path.endswith(ending)]


def test_saving_checks_the_token_with_twilio_and_stores_it_encrypted(
    owner_client: Client, account: TwilioAccount, fake_twilio: FakeTwilio
) -> None:
    assert _requests(fake_twilio, "GET", f"/Accounts/{ACCOUNT_SID}.json")
    with connection.cursor() as cursor:
        cursor.execute("SELECT auth_token, auth_token_hint FROM twilio_twilioaccount")
        stored, hint = cursor.fetchone()
    assert AUTH_TOKEN not in stored and stored.startswith("fernet:")
    assert account.auth_token == AUTH_TOKEN  # the model reads it back in clear
    page = text(owner_client.get(URL))
    assert AUTH_TOKEN not in page
    assert hint == f"…{AUTH_TOKEN[-4:]}" and hint in page  # noqa: RUF001
    assert ACCOUNT_SID in page and "Fake account" in page  # Twilio's friendly name


def test_a_wrong_token_is_refused_at_the_field_and_nothing_is_saved(
    owner_client: Client, fake_twilio: FakeTwilio
) -> None:
    response = owner_client.post(
        f"{URL}account/", {"account_sid": ACCOUNT_SID, "auth_token": "not-the-token"}
    )
    assert response.status_code == 400
    assert "Twilio refused this Account SID and auth token (error 20003)." in text(response)
    assert "not-the-token" not in text(response)
    assert not TwilioAccount.objects.exists()


def test_twilio_unreachable_is_a_clear_error(owner_client: Client, settings: Any) -> None:
    settings.OPSDUTY_TWILIO_API_URL = "http://127.0.0.1:9"  # nothing listens there
    response = owner_client.post(
        f"{URL}account/", {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
    )
    assert response.status_code == 400
    assert "Could not reach Twilio to check the account" in text(response)
    assert not TwilioAccount.objects.exists()


def test_rate_limits_are_editable(owner_client: Client, account: TwilioAccount) -> None:
    data = {"sms_limit": 8, "call_limit": 2, "limit_window_minutes": 30}
    assert owner_client.post(f"{URL}limits/", data).status_code == 302
    account.refresh_from_db()
    assert (account.sms_limit, account.call_limit, account.limit_window_minutes) == (8, 2, 30)
    refused = owner_client.post(f"{URL}limits/", {**data, "sms_limit": 0})
    assert refused.status_code == 400 and "greater than or equal to 1" in text(refused)


def test_search_and_buy_point_the_number_at_this_server(
    owner_client: Client, account: TwilioAccount, fake_twilio: FakeTwilio
) -> None:
    found = text(owner_client.get(f"{URL}numbers/search/", {"country": "US", "area_code": "415"}))
    assert "(415) 555-0100" in found and "voice, SMS, MMS" in found and "Not required" in found
    bought = owner_client.post(
        f"{URL}numbers/buy/", {"phone_number": "+14155550100", "country": "US"}, follow=True
    )
    assert "Bought +14155550100" in text(bought)
    [sent] = _requests(fake_twilio, "POST", "/IncomingPhoneNumbers.json")
    key = account.webhook_key
    assert sent["VoiceUrl"] == f"{PUBLIC_URL}/integrations/twilio/{key}/voice/"
    assert sent["SmsUrl"] == f"{PUBLIC_URL}/integrations/twilio/{key}/sms/"
    assert sent["VoiceMethod"] == sent["SmsMethod"] == "POST"
    number = TwilioNumber.objects.get()
    assert fake_twilio.numbers[number.sid].voice_url == sent["VoiceUrl"]
    assert "+14155550100" in text(owner_client.get(URL))


def test_release_gives_the_number_back_to_twilio(
    owner_client: Client, org_a: Organization, fake_twilio: FakeTwilio
) -> None:
    phones = telephony_set_up(
        organization=org_a, fake=fake_twilio, sid=ACCOUNT_SID, token=AUTH_TOKEN
    )
    release = f"{URL}numbers/{phones.number.pk}/release/"
    assert "Release +15005550006?" in text(owner_client.get(release))
    done = owner_client.post(release, follow=True)
    assert "+15005550006 released." in text(done)
    assert phones.number.sid not in fake_twilio.numbers
    assert not TwilioNumber.objects.exists()


def test_a_number_already_gone_at_twilio_is_removed_here_too(
    owner_client: Client, org_a: Organization, fake_twilio: FakeTwilio
) -> None:
    phones = telephony_set_up(
        organization=org_a, fake=fake_twilio, sid=ACCOUNT_SID, token=AUTH_TOKEN
    )
    del fake_twilio.numbers[phones.number.sid]  # released in Twilio's console
    owner_client.post(f"{URL}numbers/{phones.number.pk}/release/")
    assert not TwilioNumber.objects.exists()


def test_twilio_failing_a_release_keeps_the_number_and_says_why(
    owner_client: Client, org_a: Organization, fake_twilio: FakeTwilio
) -> None:
    phones = telephony_set_up(
        organization=org_a, fake=fake_twilio, sid=ACCOUNT_SID, token=AUTH_TOKEN
    )
    fake_twilio.fail_next("incoming_phone_numbers", status=503, code=20503, message="Try later")
    page = owner_client.post(f"{URL}numbers/{phones.number.pk}/release/", follow=True)
    # The SDK words it "Unable to delete record: <Twilio's message>".
    assert (
        "+15005550006 was not released: Twilio error 20503: Unable to delete record: Try later"
        in text(page)
    )
    assert TwilioNumber.objects.filter(pk=phones.number.pk).exists()


def test_a_number_needing_an_address_is_refused_until_one_is_chosen(
    owner_client: Client, account: TwilioAccount, fake_twilio: FakeTwilio
) -> None:
    search = {"country": "DE", "area_code": "", "contains": ""}
    found = text(owner_client.get(f"{URL}numbers/search/", search))
    assert "Required (local)" in found and "create one</a> first" in found
    refused = owner_client.post(f"{URL}numbers/buy/", {**search, "phone_number": "+493055501000"})
    assert refused.status_code == 400
    assert "Twilio error 21615: Unable to create record: Phone Number Requires a Local Address" in (
        text(refused)
    )
    assert "create an address</a> first" in text(refused)

    address = {
        "customer_name": "Org A GmbH",
        "street": "Unter den Linden 1",
        "city": "Berlin",
        "region": "BE",
        "postal_code": "10117",
        "iso_country": "DE",
    }
    listed = owner_client.post(f"{URL}addresses/", address, follow=True)
    assert "Org A GmbH, Unter den Linden 1, 10117 Berlin, BE (DE)" in text(listed)
    [address_sid] = list(fake_twilio.addresses)
    assert f'value="{address_sid}"' in text(owner_client.get(f"{URL}numbers/search/", search))
    owner_client.post(
        f"{URL}numbers/buy/",
        {**search, "phone_number": "+493055501000", "address_sid": address_sid},
    )
    assert TwilioNumber.objects.get().phone_number == "+493055501000"
    assert _requests(fake_twilio, "POST", "/IncomingPhoneNumbers.json")[-1]["AddressSid"] == (
        address_sid
    )


def test_an_address_twilio_refuses_is_shown_at_the_form(
    owner_client: Client, account: TwilioAccount, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.fail_next("addresses", status=400, code=21628, message="Address Validation Error")
    address = dict.fromkeys(("customer_name", "street", "city", "region", "postal_code"), "x")
    response = owner_client.post(f"{URL}addresses/", {**address, "iso_country": "DE"})
    assert response.status_code == 400
    assert "Twilio error 21628: Unable to create record: Address Validation Error" in (
        text(response)
    )


@pytest.fixture
def services(org_a: Organization) -> tuple[Service, Service]:
    team = factories.make_team(organization=org_a)
    return factories.make_service(team=team, name="Checkout"), factories.make_service(
        team=team, name="Payments"
    )


def test_destinations_one_is_no_menu_more_are_digits(
    owner_client: Client,
    org_a: Organization,
    fake_twilio: FakeTwilio,
    services: tuple[Service, Service],
) -> None:
    phones = telephony_set_up(
        organization=org_a, fake=fake_twilio, sid=ACCOUNT_SID, token=AUTH_TOKEN
    )
    add = f"{URL}numbers/{phones.number.pk}/destinations/"
    checkout, payments = services
    owner_client.post(add, {"digit": 1, "service": checkout.pk})
    assert "Every call (no menu): Checkout" in text(owner_client.get(URL))
    taken = owner_client.post(add, {"digit": 1, "service": payments.pk})
    assert taken.status_code == 400 and "Digit 1 already leads to another service." in text(taken)
    owner_client.post(add, {"digit": 2, "service": payments.pk})
    page = text(owner_client.get(URL))
    assert "Press 1: Checkout" in page and "Press 2: Payments" in page
    first = CallDestination.objects.get(digit=1)
    owner_client.post(f"{URL}destinations/{first.pk}/remove/")
    assert "Every call (no menu): Payments" in text(owner_client.get(URL))


def test_sms_and_voice_notifications_per_number(
    owner_client: Client, org_a: Organization, fake_twilio: FakeTwilio
) -> None:
    phones = telephony_set_up(
        organization=org_a, fake=fake_twilio, sid=ACCOUNT_SID, token=AUTH_TOKEN
    )
    owner_client.post(f"{URL}numbers/{phones.number.pk}/", {"voice_enabled": "on"})
    phones.number.refresh_from_db()
    assert (phones.number.sms_enabled, phones.number.voice_enabled) == (False, True)


def test_another_organizations_service_cannot_be_a_destination(
    owner_client: Client, org_a: Organization, fake_twilio: FakeTwilio, org_b: Organization
) -> None:
    phones = telephony_set_up(
        organization=org_a, fake=fake_twilio, sid=ACCOUNT_SID, token=AUTH_TOKEN
    )
    theirs = factories.make_service(team=factories.make_team(organization=org_b))
    add = f"{URL}numbers/{phones.number.pk}/destinations/"
    assert owner_client.post(add, {"digit": 1, "service": theirs.pk}).status_code == 400
    assert not CallDestination.objects.exists()


def test_another_organizations_number_answers_404(
    outsider_client: Client, org_a: Organization, fake_twilio: FakeTwilio
) -> None:
    phones = telephony_set_up(
        organization=org_a, fake=fake_twilio, sid=ACCOUNT_SID, token=AUTH_TOKEN
    )
    for path in ("", "release/", "destinations/"):
        assert outsider_client.post(f"{URL}numbers/{phones.number.pk}/{path}").status_code == 404
    assert phones.number.sid in fake_twilio.numbers
    assert "+15005550006" not in text(outsider_client.get(URL))


def test_members_and_stakeholders_cannot_reach_the_pages_nor_see_the_link(
    member_client: Client, stakeholder_client: Client, owner_client: Client
) -> None:
    assert f'href="{URL}"' in text(owner_client.get("/members/"))
    for client in (member_client, stakeholder_client):
        assert f'href="{URL}"' not in text(client.get("/members/"))
        for path in ("", "numbers/search/", "addresses/", "account/remove/"):
            assert client.get(f"{URL}{path}").status_code == 403
        assert client.post(f"{URL}account/", {}).status_code == 403


def test_removing_the_account_forgets_its_numbers(
    owner_client: Client, org_a: Organization, fake_twilio: FakeTwilio, owner: User
) -> None:
    phones = telephony_set_up(
        organization=org_a, fake=fake_twilio, sid=ACCOUNT_SID, token=AUTH_TOKEN
    )
    assert "stay bought in your Twilio account" in text(owner_client.get(f"{URL}account/remove/"))
    owner_client.post(f"{URL}account/remove/")
    assert not TwilioAccount.objects.exists() and not TwilioNumber.objects.exists()
    assert phones.number.sid in fake_twilio.numbers  # not released
