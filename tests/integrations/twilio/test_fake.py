"""The fake Twilio, driven by the real `twilio` SDK (through `integrations.twilio.client`) and
calling back a stand-in application: REST shapes, pages and errors; signed callbacks (also
behind a forwarding proxy); inbound SMS with opt-out; calls running TwiML."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from integrations.twilio.client import RewritingHttpClient, twilio_client
from integrations.twilio.fake import FakeError, FakeTwilio, FakeTwilioControl
from integrations.twilio.fake.control import FakeControlError
from tests.integrations.twilio.conftest import ACCOUNT_SID, AUTH_TOKEN, Received, TwimlApp

OURS = "+14155550100"
ALICE = "+15005550006"
BOB = "+15005550007"


@pytest.fixture
def client(fake_twilio):
    return twilio_client(ACCOUNT_SID, AUTH_TOKEN)


def signed(app_url: str, received: Received) -> bool:
    """Whether the request verifies as Twilio's, over the URL the app is known by."""
    url = app_url + received.path + (f"?{received.query}" if received.query else "")
    params = received.params if received.method == "POST" else {}
    return bool(RequestValidator(AUTH_TOKEN).validate(url, params, received.signature))


def leg_of(fake: FakeTwilio, parent_sid: str) -> str:
    legs = [c.sid for c in fake.calls.values() if c.parent_sid == parent_sid]
    return legs[-1]


# ---------------------------------------------------------------------- REST


def test_account_fetch_checks_credentials(fake_twilio, client):
    account = client.api.v2010.accounts(ACCOUNT_SID).fetch()
    assert (account.sid, account.status) == (ACCOUNT_SID, "active")
    assert account.date_created is not None  # RFC 2822, parsed by the SDK

    with pytest.raises(TwilioRestException) as wrong:
        twilio_client(ACCOUNT_SID, "not-the-token").api.v2010.accounts(ACCOUNT_SID).fetch()
    assert (wrong.value.status, wrong.value.code) == (401, 20003)

    other = "AC" + "f" * 32
    fake_twilio.add_account(other, "other-token")
    with pytest.raises(TwilioRestException) as foreign:
        client.api.v2010.accounts(other).fetch()
    assert (foreign.value.status, foreign.value.code) == (404, 20404)
    assert fake_twilio.requests[0].auth_sid == ACCOUNT_SID


def test_message_is_queued_then_sent_and_delivered_with_signed_callbacks(
    fake_twilio, client, twiml_app
):
    fake_twilio.buy_number(ACCOUNT_SID, OURS)
    twiml_app.routes["/status"] = ""
    message = client.messages.create(
        to=ALICE, from_=OURS, body="Incident #7", status_callback=f"{twiml_app.url}/status"
    )
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert message.status == "queued"
    fake_twilio.settle()

    hits = twiml_app.hits("/status")
    assert [h["MessageStatus"] for h in hits] == ["sent", "delivered"]
    assert hits[0]["MessageSid"] == message.sid and hits[0]["AccountSid"] == ACCOUNT_SID
    assert all(signed(twiml_app.url, r) for r in twiml_app.received)
    assert client.messages(message.sid).fetch().status == "delivered"
    sent = fake_twilio.requests[-2]
    assert (sent.method, sent.params["To"], sent.params["Body"]) == ("POST", ALICE, "Incident #7")


def test_message_to_an_unreachable_phone_is_undelivered(fake_twilio, client, twiml_app):
    fake_twilio.buy_number(ACCOUNT_SID, OURS)
    fake_twilio.phone(ALICE).sms_undeliverable = True
    twiml_app.routes["/status"] = ""
    status_url = f"{twiml_app.url}/status"
    client.messages.create(to=ALICE, from_=OURS, body="x", status_callback=status_url)
    fake_twilio.settle()
    last = twiml_app.hits("/status")[-1]
    assert (last["MessageStatus"], last["ErrorCode"]) == ("undelivered", "30003")


@pytest.mark.parametrize(
    ("to", "from_", "code"),
    [("0151 1234", OURS, 21211), (ALICE, "+14155550199", 21606), ("", OURS, 21604)],
)
def test_message_refused_with_twilio_codes(fake_twilio, client, to, from_, code):
    fake_twilio.buy_number(ACCOUNT_SID, OURS)
    with pytest.raises(TwilioRestException) as refused:
        client.messages.create(to=to, from_=from_, body="x")
    assert (refused.value.status, refused.value.code) == (400, code)


def test_messages_list_pages(fake_twilio, client):
    fake_twilio.buy_number(ACCOUNT_SID, OURS)
    sids = {client.messages.create(to=ALICE, from_=OURS, body=str(i)).sid for i in range(5)}
    assert {m.sid for m in client.messages.list(page_size=2)} == sids
    pages = [r.params.get("Page") for r in fake_twilio.requests if r.method == "GET"]
    assert pages == [None, "1", "2"]


def test_numbers_are_searched_bought_listed_over_pages_and_released(fake_twilio, client):
    found = client.available_phone_numbers("US").local.list(area_code=212, contains="55501*9")
    assert [n.phone_number for n in found[:2]] == ["+12125550109", "+12125550119"]
    assert found[0].capabilities == {"voice": True, "SMS": True, "MMS": True, "fax": False}
    assert found[0].address_requirements == "none"

    bought = [
        client.incoming_phone_numbers.create(phone_number=n.phone_number, sms_url="https://a/s")
        for n in found[:3]
    ]
    assert all(n.sid.startswith("PN") for n in bought)
    listed = client.incoming_phone_numbers.list(page_size=2)
    assert sorted(n.phone_number for n in listed) == sorted(n.phone_number for n in found[:3])
    assert (
        client.available_phone_numbers("US")
        .local.list(area_code=212, contains="55501*9")[0]
        .phone_number
        == "+12125550139"
    )  # the bought ones are gone from the search
    by_number = client.incoming_phone_numbers.list(phone_number=found[0].phone_number)
    assert [n.sid for n in by_number] == [bought[0].sid]

    updated = client.incoming_phone_numbers(bought[0].sid).update(voice_url="https://a/v")
    assert updated.voice_url == "https://a/v"
    assert client.incoming_phone_numbers(bought[0].sid).delete() is True
    with pytest.raises(TwilioRestException) as gone:
        client.incoming_phone_numbers(bought[0].sid).fetch()
    assert gone.value.code == 20404
    with pytest.raises(TwilioRestException) as taken:
        client.incoming_phone_numbers.create(phone_number=found[1].phone_number)
    assert taken.value.code == 21422


def test_a_number_that_needs_an_address_is_refused_without_one(fake_twilio, client):
    german = client.available_phone_numbers("DE").local.list(limit=1)[0]
    assert german.address_requirements == "local"
    with pytest.raises(TwilioRestException) as refused:
        client.incoming_phone_numbers.create(phone_number=german.phone_number)
    assert (refused.value.status, refused.value.code) == (400, 21615)

    with pytest.raises(TwilioRestException) as incomplete:
        client.addresses.create(
            customer_name="Ops GmbH",
            street="",
            city="Berlin",
            region="BE",
            postal_code="10115",
            iso_country="DE",
        )
    assert incomplete.value.code == 21628
    address = client.addresses.create(
        customer_name="Ops GmbH",
        street="Unter den Linden 1",
        city="Berlin",
        region="BE",
        postal_code="10117",
        iso_country="DE",
    )
    assert address.sid.startswith("AD")
    assert [a.sid for a in client.addresses.list()] == [address.sid]
    number = client.incoming_phone_numbers.create(
        phone_number=german.phone_number, address_sid=address.sid
    )
    assert number.address_sid == address.sid

    australian = client.available_phone_numbers("AU").local.list(limit=1)[0]
    with pytest.raises(TwilioRestException) as any_address:
        client.incoming_phone_numbers.create(phone_number=australian.phone_number)
    assert any_address.value.code == 21631


def test_failures_are_injected_once(fake_twilio, client):
    fake_twilio.fail_next("accounts", status=503, code=20503, message="Service unavailable")
    with pytest.raises(TwilioRestException) as failed:
        client.api.v2010.accounts(ACCOUNT_SID).fetch()
    assert (failed.value.status, failed.value.code) == (503, 20503)
    assert client.api.v2010.accounts(ACCOUNT_SID).fetch().status == "active"


def test_a_hanging_request_times_the_client_out(fake_twilio):
    fake_twilio.buy_number(ACCOUNT_SID, OURS)
    fake_twilio.fail_next("messages", hang=2.0)
    impatient = twilio_client(ACCOUNT_SID, AUTH_TOKEN)
    impatient.http_client = RewritingHttpClient(fake_twilio.url, timeout=0.3)
    with pytest.raises(OSError):  # requests' Timeout is an OSError
        impatient.messages.create(to=ALICE, from_=OURS, body="x")
    assert fake_twilio.messages == {}


# ---------------------------------------------------------------------- inbound SMS


def test_inbound_sms_is_signed_over_the_public_url_and_forwarded(fake_twilio, twiml_app):
    public = "https://ops.example.com/integrations/twilio"
    fake_twilio.forward(public, twiml_app.url)
    fake_twilio.buy_number(ACCOUNT_SID, OURS, sms_url=f"{public}/sms")
    twiml_app.routes["/sms"] = "<Response><Message>Acknowledged #7</Message></Response>"

    result = fake_twilio.sms(ALICE, OURS, "ack 7")

    assert (result.status, result.replies) == (200, ["Acknowledged #7"])
    (received,) = twiml_app.received
    assert received.params["Body"] == "ack 7" and received.params["SmsStatus"] == "received"
    assert received.params["MessageSid"] == result.message_sid
    assert signed("https://ops.example.com/integrations/twilio", received)
    assert not signed(twiml_app.url, received)
    thread = fake_twilio.state()["phones"][0]
    assert [(m["sent_by_phone"], m["body"]) for m in thread["messages"]] == [
        (True, "ack 7"),
        (False, "Acknowledged #7"),
    ]


def test_stop_opts_the_phone_out_until_start(fake_twilio, client, twiml_app):
    fake_twilio.buy_number(ACCOUNT_SID, OURS, sms_url=f"{twiml_app.url}/sms")
    twiml_app.routes["/sms"] = "<Response/>"
    assert fake_twilio.sms(ALICE, OURS, "stop").opt_out_type == "STOP"
    assert twiml_app.hits("/sms")[0]["OptOutType"] == "STOP"
    with pytest.raises(TwilioRestException) as refused:
        client.messages.create(to=ALICE, from_=OURS, body="x")
    assert refused.value.code == 21610

    fake_twilio.sms(ALICE, OURS, "START")
    assert twiml_app.hits("/sms")[1]["OptOutType"] == "START"
    assert client.messages.create(to=ALICE, from_=OURS, body="x").status == "queued"


def test_sms_to_an_unknown_number_is_an_error_of_the_fake(fake_twilio):
    with pytest.raises(FakeError):
        fake_twilio.sms(ALICE, OURS, "hello")


# ---------------------------------------------------------------------- calls


def test_outbound_call_runs_gather_press_redirect_and_reports_progress(
    fake_twilio, client, twiml_app
):
    fake_twilio.buy_number(ACCOUNT_SID, OURS)
    twiml_app.routes.update(
        {
            "/voice": '<Response><Gather numDigits="1" action="/keys"><Say>Incident 7. Press 4 to'
            " acknowledge.</Say></Gather><Say>Goodbye.</Say></Response>",
            "/keys": lambda r: (
                f"<Response><Redirect>/done?d={r.params['Digits']}</Redirect></Response>"
            ),
            "/done": "<Response><Say>Acknowledged.</Say><Hangup/></Response>",
            "/status": "",
        }
    )
    call = client.calls.create(
        to=ALICE,
        from_=OURS,
        url=f"{twiml_app.url}/voice",
        status_callback=f"{twiml_app.url}/status",
        status_callback_event=["initiated", "ringing", "answered", "completed"],
    )
    assert (call.sid[:2], call.status) == ("CA", "queued")
    fake_twilio.settle()
    fake_twilio.answer(call.sid)
    fake_twilio.settle()
    phone = fake_twilio.state()["phones"][0]
    assert phone["calls"][0]["waiting"] == "keys"
    assert phone["calls"][0]["transcript"] == ["Incident 7. Press 4 to acknowledge."]

    fake_twilio.press(call.sid, "4")
    fake_twilio.settle()

    assert twiml_app.hits("/keys")[0]["Digits"] == "4"
    assert fake_twilio.calls[call.sid].transcript[-1] == "Acknowledged."
    statuses = [h["CallStatus"] for h in twiml_app.hits("/status")]
    assert statuses == ["initiated", "ringing", "in-progress", "completed"]
    assert twiml_app.hits("/status")[-1]["CallDuration"] == "0"
    assert all(signed(twiml_app.url, r) for r in twiml_app.received)
    assert client.calls(call.sid).fetch().status == "completed"


def test_gather_timeout_goes_on_after_the_gather_and_machines_are_reported(
    fake_twilio, client, twiml_app
):
    fake_twilio.buy_number(ACCOUNT_SID, OURS)
    twiml_app.routes["/voice"] = (
        "<Response><Gather><Say>Press a key.</Say></Gather><Say>Nobody pressed.</Say></Response>"
    )
    call = client.calls.create(
        to=ALICE, from_=OURS, url=f"{twiml_app.url}/voice", machine_detection="Enable"
    )
    fake_twilio.settle()
    fake_twilio.answer(call.sid, by="machine_start")
    fake_twilio.settle()
    assert twiml_app.hits("/voice")[0]["AnsweredBy"] == "machine_start"
    fake_twilio.gather_timeout(call.sid)
    fake_twilio.settle()
    assert fake_twilio.calls[call.sid].transcript[-1] == "Nobody pressed."
    assert fake_twilio.calls[call.sid].status == "completed"


def test_unanswered_and_busy_calls_and_the_api_hangup(fake_twilio, client, twiml_app):
    fake_twilio.buy_number(ACCOUNT_SID, OURS)
    twiml_app.routes["/status"] = ""

    def make() -> str:
        return str(
            client.calls.create(
                to=ALICE,
                from_=OURS,
                twiml="<Response><Pause/></Response>",
                status_callback=f"{twiml_app.url}/status",
            ).sid
        )

    first, second, third = make(), make(), make()
    fake_twilio.settle()
    fake_twilio.no_answer(first)
    fake_twilio.busy(second)
    fake_twilio.answer(third)
    fake_twilio.settle()
    with pytest.raises(FakeError):
        fake_twilio.answer(first)
    client.calls(third).update(status="completed")  # it ended by itself already
    fake_twilio.settle()
    assert [h["CallStatus"] for h in twiml_app.hits("/status")] == [
        "no-answer",
        "busy",
        "completed",
    ]


def test_dial_with_a_screening_leg_bridges_and_reports_to_the_action(
    fake_twilio, client, twiml_app
):
    fake_twilio.buy_number(ACCOUNT_SID, OURS, voice_url=f"{twiml_app.url}/in")
    twiml_app.routes.update(
        {
            "/in": f'<Response><Say>Connecting.</Say><Dial action="/dialled" callerId="{OURS}">'
            f'<Number url="/whisper">{BOB}</Number></Dial></Response>',
            "/whisper": '<Response><Gather numDigits="1" action="/accept"><Say>Press 1 to accept.'
            "</Say></Gather><Hangup/></Response>",
            "/accept": "<Response/>",
            "/dialled": "<Response><Say>The call ended.</Say></Response>",
        }
    )
    parent = fake_twilio.call(ALICE, OURS)
    fake_twilio.settle()
    assert twiml_app.hits("/in")[0]["Direction"] == "inbound"
    leg = leg_of(fake_twilio, parent)
    assert fake_twilio.calls[leg].status == "ringing"

    fake_twilio.answer(leg)
    fake_twilio.settle()
    whisper = twiml_app.hits("/whisper")[0]
    assert (whisper["ParentCallSid"], whisper["From"], whisper["To"]) == (parent, OURS, BOB)
    fake_twilio.press(leg, "1")
    fake_twilio.settle()
    assert fake_twilio.calls[parent].bridged and fake_twilio.calls[leg].status == "in-progress"

    fake_twilio.hangup(leg, duration=42)
    fake_twilio.settle()
    dialled = twiml_app.hits("/dialled")[0]
    assert (dialled["DialCallStatus"], dialled["DialCallDuration"]) == ("completed", "42")
    assert dialled["DialCallSid"] == leg
    assert fake_twilio.calls[parent].transcript[-1] == "The call ended."
    assert fake_twilio.calls[parent].status == "completed"


def test_dial_outcomes_reach_the_action_and_the_call_goes_on(fake_twilio, client, twiml_app):
    fake_twilio.buy_number(ACCOUNT_SID, OURS, voice_url=f"{twiml_app.url}/in")
    outcomes: list[str] = []

    dial = f'<Response><Dial action="/next"><Number url="/w">{BOB}</Number></Dial></Response>'

    def dialled(request: Received) -> str:
        outcomes.append(request.params["DialCallStatus"])
        return dial

    twiml_app.routes.update(
        {
            "/in": dial,
            "/next": dialled,
            "/w": "<Response><Hangup/></Response>",
        }
    )
    parent = fake_twilio.call(ALICE, OURS)
    fake_twilio.settle()
    fake_twilio.no_answer(leg_of(fake_twilio, parent))
    fake_twilio.settle()
    fake_twilio.busy(leg_of(fake_twilio, parent))
    fake_twilio.settle()
    fake_twilio.answer(leg_of(fake_twilio, parent))  # the whisper hangs up
    fake_twilio.settle()
    assert outcomes == ["no-answer", "busy", "failed"]
    fake_twilio.hangup(parent)
    fake_twilio.settle()
    assert outcomes[-1] == "canceled"
    assert fake_twilio.calls[parent].status == "completed"


def test_record_posts_a_recording_the_app_can_fetch(fake_twilio, client, twiml_app):
    fake_twilio.buy_number(ACCOUNT_SID, OURS, voice_url=f"{twiml_app.url}/in")
    twiml_app.routes.update(
        {
            "/in": '<Response><Say>Leave a message.</Say><Record action="/saved"/></Response>',
            "/saved": "<Response><Say>Thanks.</Say><Hangup/></Response>",
        }
    )
    call = fake_twilio.call(ALICE, OURS)
    fake_twilio.settle()
    fake_twilio.record(call, duration=7)
    fake_twilio.settle()
    saved = twiml_app.hits("/saved")[0]
    assert saved["RecordingDuration"] == "7" and saved["RecordingSid"].startswith("RE")
    parts = urlsplit(saved["RecordingUrl"])
    connection = http.client.HTTPConnection(parts.netloc, timeout=5)
    connection.request("GET", parts.path)
    response = connection.getresponse()
    assert response.status == 200 and response.read(4) == b"RIFF"
    connection.close()
    assert fake_twilio.calls[call].transcript[-1] == "Thanks."


def test_the_control_endpoints_drive_phones_over_http(fake_twilio, twiml_app: TwimlApp):
    fake_twilio.buy_number(
        ACCOUNT_SID, OURS, voice_url=f"{twiml_app.url}/in", sms_url=f"{twiml_app.url}/sms"
    )
    twiml_app.routes.update(
        {
            "/in": '<Response><Gather action="/k"><Say>Hello.</Say></Gather></Response>',
            "/k": "<Response><Say>Bye.</Say></Response>",
            "/sms": "<Response><Message>Got it</Message></Response>",
        }
    )
    control = FakeTwilioControl(fake_twilio.url)
    control.sms(ALICE, OURS, "hi")
    sid = control.call(ALICE, OURS)
    fake_twilio.settle()
    control.act(sid, "press", digits="9")
    fake_twilio.settle()
    state = control.state()
    assert state["accounts"][0]["numbers"][0]["phone_number"] == OURS
    (phone,) = state["phones"]
    assert [m["body"] for m in phone["messages"]] == ["hi", "Got it"]
    assert phone["calls"][0]["transcript"] == ["Hello.", "[pressed 9]", "Bye."]
    with pytest.raises(FakeControlError, match="no call"):
        control.act("CA" + "0" * 32, "answer")


def test_the_api_redirects_a_live_call_to_new_twiml(fake_twilio, client, twiml_app):
    fake_twilio.buy_number(ACCOUNT_SID, OURS)
    twiml_app.routes.update(
        {
            "/voice": "<Response><Gather><Say>Waiting.</Say></Gather></Response>",
            "/moved": "<Response><Say>The incident was resolved.</Say></Response>",
        }
    )
    call = client.calls.create(to=ALICE, from_=OURS, url=f"{twiml_app.url}/voice")
    fake_twilio.settle()
    fake_twilio.answer(call.sid)
    fake_twilio.settle()
    client.calls(call.sid).update(url=f"{twiml_app.url}/moved", method="POST")
    fake_twilio.settle()
    assert fake_twilio.calls[call.sid].transcript == ["Waiting.", "The incident was resolved."]
    assert fake_twilio.calls[call.sid].status == "completed"
    update = fake_twilio.requests[-1]
    assert (update.method, update.path.rsplit("/", 1)[-1]) == ("POST", f"{call.sid}.json")
