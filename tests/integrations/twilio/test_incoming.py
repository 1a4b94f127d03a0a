"""Incoming-call routing (issue 16 item 5), driven as Twilio drives it: signed POSTs to the
public URLs our TwiML hands out, following each `action` and `url` to the next request.

The public address is https://ops.example.com (a TLS proxy in front of the test server): a
signature over any other URL is refused.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from twilio.request_validator import RequestValidator

from escalations.catalog.services import service_set_policy
from escalations.policies.services import policy_create, step_add
from escalations.schedules import services as ss
from incidents.models import (
    Incident,
    IncidentEvent,
    IncidentLogEntry,
    IncidentNote,
    LogAction,
    Status,
)
from integrations.twilio.incoming.selectors import routing_plan
from integrations.twilio.models import (
    CallDestination,
    CallKind,
    PhoneCall,
    TwilioAccount,
    TwilioNumber,
)
from opsduty.models import Organization, Role, Service, Team, User
from tests import factories

pytestmark = pytest.mark.django_db

PUBLIC = "https://ops.example.com"
TOKEN_A = "a" * 32
TOKEN_B = "b" * 32
SID_A = "AC" + "a" * 32
SID_B = "AC" + "b" * 32
OUR_NUMBER = "+15550100"
CALLER = "+15550199"


# --- set-up -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _public_url(settings: Any) -> None:
    settings.OPSDUTY_PUBLIC_URL = PUBLIC


def _account(org: Organization, sid: str, token: str) -> TwilioAccount:
    return TwilioAccount.objects.create(
        organization=org, account_sid=sid, auth_token=token, auth_token_hint=token[-4:]
    )


@pytest.fixture
def account(org_a: Organization) -> TwilioAccount:
    return _account(org_a, SID_A, TOKEN_A)


@pytest.fixture
def number(account: TwilioAccount) -> TwilioNumber:
    return TwilioNumber.objects.create(
        organization_id=account.organization_id,
        account=account,
        sid="PN" + "1" * 32,
        phone_number=OUR_NUMBER,
    )


@pytest.fixture
def team(org_a: Organization) -> Team:
    return factories.make_team(organization=org_a, name="Platform")


def _person(team: Team, name: str, phone: str | None, role: str = Role.MEMBER) -> User:
    user = factories.make_user(
        organization=team.organization,
        email=f"{name.lower()}@a.example",
        first_name=name,
        last_name="Doe",
        role=role,
        phone_number=phone or "",
        phone_verified_at=timezone.now() if phone else None,
    )
    factories.add_member(team, user)
    return user


@pytest.fixture
def alice(team: Team) -> User:
    return _person(team, "Alice", "+15550111")


@pytest.fixture
def bob(team: Team) -> User:
    return _person(team, "Bob", "+15550122")


@pytest.fixture
def carol(team: Team) -> User:
    return _person(team, "Carol", "+15550133")


def _service(team: Team, name: str, *steps: list[User]) -> Service:
    service = factories.make_service(team=team, name=name)
    policy = policy_create(team=team, by=None, name=f"{name} policy")
    for users in steps:
        step_add(policy=policy, by=None, kind="notify", users=users)
    service_set_policy(service=service, policy=policy, by=None)
    return service


@pytest.fixture
def checkout(team: Team, alice: User, bob: User) -> Service:
    """Step 1 pages Alice, step 2 Bob."""
    return _service(team, "Checkout", [alice], [bob])


def _destination(number: TwilioNumber, digit: int, service: Service) -> CallDestination:
    return CallDestination.objects.create(
        organization_id=number.organization_id, number=number, digit=digit, service=service
    )


# --- Twilio's side ----------------------------------------------------------------------------


def post(client: Client, url: str, token: str = TOKEN_A, **params: str) -> ET.Element:
    """POST `params` to the public `url`, signed as Twilio signs; the TwiML answered."""
    response = _signed(client, url, token, params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/xml")
    return ET.fromstring(response.content)  # noqa: S314 (our own answer, not untrusted)


def _signed(client: Client, url: str, token: str, params: dict[str, str]) -> Any:
    assert url.startswith(PUBLIC + "/")
    params = {"AccountSid": SID_A if token == TOKEN_A else SID_B, **params}
    signature = RequestValidator(token).compute_signature(url, params)
    return client.post(url.removeprefix(PUBLIC), params, headers={"X-Twilio-Signature": signature})


def voice_url(account: TwilioAccount) -> str:
    return PUBLIC + reverse("twilio_voice_inbound", kwargs={"key": account.webhook_key})


def ring(client: Client, account: TwilioAccount, sid: str = "CA" + "1" * 32) -> ET.Element:
    """A caller dials our number: the number's voice URL."""
    return post(client, voice_url(account), CallSid=sid, From=CALLER, To=OUR_NUMBER)


def dialed(twiml: ET.Element) -> tuple[str, str, str]:
    """The number the caller is connected to, the screening URL and the Dial's action."""
    dial = twiml.find("Dial")
    assert dial is not None, ET.tostring(twiml)
    assert dial.get("answerOnBridge") == "true" and dial.get("timeout") == "20"
    assert dial.get("callerId") == OUR_NUMBER
    target = dial.find("Number")
    assert target is not None and target.text is not None
    return target.text, target.get("url", ""), dial.get("action", "")


def said(twiml: ET.Element) -> str:
    return " ".join(say.text or "" for say in twiml.iter("Say"))


def timeline(incident: Incident) -> list[str]:
    rows = IncidentLogEntry.objects.filter(incident=incident, action=LogAction.PHONE).order_by("id")
    return [row.message for row in rows]


def the_call() -> PhoneCall:
    return PhoneCall.objects.select_related("incident").get(kind=CallKind.INCOMING)


def accept(client: Client, screen_url: str, digits: str = "1") -> ET.Element:
    """The person dialed hears the prompt and presses `digits`."""
    prompt = post(client, screen_url, CallSid="CA" + "9" * 32)
    gather = prompt.find("Gather")
    assert gather is not None and "press 1 to accept" in said(prompt).lower()
    return post(client, gather.get("action", ""), CallSid="CA" + "9" * 32, Digits=digits)


# --- tests ------------------------------------------------------------------------------------


def test_the_menu_names_each_destination_and_a_wrong_digit_prompts_again(
    client: Client, account: TwilioAccount, number: TwilioNumber, checkout: Service, team: Team
) -> None:
    _destination(number, 1, checkout)
    _destination(number, 2, _service(team, "Payments"))  # nobody to page
    menu = ring(client, account)
    gathers = menu.findall("Gather")
    assert len(gathers) == 2  # the menu twice, then goodbye: no key twice hangs up
    assert "For Checkout press 1, for Payments press 2." in said(menu)
    assert [child.tag for child in menu][-2:] == ["Say", "Hangup"]
    again = post(client, gathers[0].get("action", ""), CallSid="CA1", To=OUR_NUMBER, Digits="7")
    assert "That is not an option." in said(again) and again.find("Gather") is not None
    assert not Incident.objects.exists() and not PhoneCall.objects.exists()

    chosen = post(client, gathers[0].get("action", ""), CallSid="CA1", To=OUR_NUMBER, Digits="2")
    assert Incident.objects.get().service.name == "Payments"
    assert "Nobody is available" in said(chosen) and chosen.find("Record") is not None


def test_one_destination_opens_an_incident_through_the_pipeline_and_dials_step_one(
    client: Client,
    owner_client: Client,
    account: TwilioAccount,
    number: TwilioNumber,
    checkout: Service,
) -> None:
    _destination(number, 1, checkout)
    twiml = ring(client, account)
    assert "Connecting you to the on-call responder" in said(twiml)
    assert dialed(twiml)[0] == "+15550111"  # Alice, step 1: no menu

    call = the_call()
    incident = Incident.objects.get(service=checkout)
    assert call.incident == incident and call.number == number and call.from_number == CALLER
    assert incident.dedup_id == f"call:{call.call_sid}" and incident.status == Status.TRIGGERED
    event = IncidentEvent.objects.get(incident=incident)
    assert event.payload == {
        "source": "twilio_call",
        "from": CALLER,
        "to": OUR_NUMBER,
        "call_sid": call.call_sid,
    }
    assert f"Incoming call from {CALLER}" in owner_client.get("/incidents/").content.decode()
    assert timeline(incident) == [
        f"Incoming call from {CALLER} to {OUR_NUMBER}, for Checkout (key 1); 2 people to try",
        "Connecting the caller to Alice Doe (step 1)",
    ]
    ring(client, account)  # Twilio retries the request: nothing new
    assert Incident.objects.count() == 1 and len(timeline(incident)) == 2


def test_no_answer_dials_the_next_person_who_accepts_and_acknowledges(
    client: Client, account: TwilioAccount, number: TwilioNumber, checkout: Service, bob: User
) -> None:
    _destination(number, 1, checkout)
    _, _, action = dialed(ring(client, account))
    to_bob = post(client, action, DialCallStatus="no-answer", DialCallDuration="0")
    phone, screen_url, action = dialed(to_bob)
    assert phone == "+15550122"

    for _ in range(2):  # a replayed key press: still bridged, acknowledged once
        bridged = accept(client, screen_url)
        assert list(bridged) == []  # an empty <Response/>: Twilio bridges the two legs
    call = the_call()
    assert call.answered_user == bob
    incident = Incident.objects.get()
    assert incident.status == Status.ACKNOWLEDGED
    acks = IncidentLogEntry.objects.filter(incident=incident, action=LogAction.ACKNOWLEDGED)
    assert [row.actor_id for row in acks] == [bob.pk]

    done = post(client, action, DialCallStatus="completed", DialCallDuration="42")
    assert done.find("Hangup") is not None and done.find("Dial") is None
    assert timeline(incident)[1:] == [
        "Connecting the caller to Alice Doe (step 1)",
        "Alice Doe did not answer the incoming call (no answer)",
        "Connecting the caller to Bob Doe (step 2)",
        f"Bob Doe accepted the incoming call: Acknowledged #{incident.number}: "
        f"Incoming call from {CALLER}",
        "Bob Doe answered the incoming call and talked for 42 s",
    ]
    assert the_call().status == "answered"


def test_a_voicemail_box_on_the_screening_leg_never_counts_as_an_answer(
    client: Client, account: TwilioAccount, number: TwilioNumber, checkout: Service
) -> None:
    _destination(number, 1, checkout)
    _, screen_url, action = dialed(ring(client, account))
    prompt = post(client, screen_url, CallSid="CA" + "8" * 32)
    # A machine hears the prompt and presses nothing: the Gather falls through to Hangup.
    assert [child.tag for child in prompt] == ["Gather", "Hangup"]
    assert post(client, prompt[0].get("action", ""), Digits="").find("Hangup") is not None
    assert post(client, prompt[0].get("action", ""), Digits="#").find("Hangup") is not None
    # Twilio saw the leg answered (by the machine), so the Dial reports "completed".
    to_bob = post(client, action, DialCallStatus="completed", DialCallDuration="12")
    assert dialed(to_bob)[0] == "+15550122"
    incident = Incident.objects.get()
    assert incident.status == Status.TRIGGERED and the_call().answered_user is None
    assert "Alice Doe did not answer the incoming call (not accepted)" in timeline(incident)


def test_nobody_answers_and_the_voicemail_link_goes_on_the_incident(
    client: Client, account: TwilioAccount, number: TwilioNumber, checkout: Service
) -> None:
    _destination(number, 1, checkout)
    _, _, action = dialed(ring(client, account))
    _, _, action = dialed(post(client, action, DialCallStatus="busy"))
    record = post(client, action, DialCallStatus="no-answer")
    assert "Nobody is available. Leave a message after the tone" in said(record)
    element = record.find("Record")
    assert element is not None and element.get("maxLength") == "120"
    assert element.get("playBeep") == "true"
    link = "https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE1"
    for _ in range(2):  # a replayed request notes it once
        bye = post(client, element.get("action", ""), RecordingUrl=link, RecordingDuration="9")
        assert bye.find("Hangup") is not None
    call = the_call()
    assert call.recording_url == link and call.status == "recorded"
    note = IncidentNote.objects.get(incident=call.incident)
    assert link in note.text and CALLER in note.text
    assert call.incident is not None
    assert "Alice Doe did not answer the incoming call (busy)" in timeline(call.incident)


def test_a_replayed_dial_action_does_not_skip_a_person(
    client: Client,
    account: TwilioAccount,
    number: TwilioNumber,
    team: Team,
    alice: User,
    bob: User,
    carol: User,
) -> None:
    _destination(number, 1, _service(team, "Checkout", [alice], [bob, carol]))
    _, _, action = dialed(ring(client, account))
    assert dialed(post(client, action, DialCallStatus="no-answer"))[0] == "+15550122"
    # Twilio sends the same request again: Bob is still the one dialed, not Carol.
    assert dialed(post(client, action, DialCallStatus="no-answer"))[0] == "+15550122"
    call = the_call()
    assert call.position == 1
    assert call.incident is not None
    assert len([m for m in timeline(call.incident) if "did not answer" in m]) == 1
    # A key pressed late on Alice's (stale) screening leg accepts nothing.
    stale = PUBLIC + reverse(
        "twilio_incoming_screen_keys",
        kwargs={"key": account.webhook_key, "call_id": call.pk, "position": 0},
    )
    assert post(client, stale, Digits="1").find("Hangup") is not None
    assert the_call().answered_user is None


def test_someone_deactivated_during_the_call_is_passed_over(
    client: Client,
    account: TwilioAccount,
    number: TwilioNumber,
    team: Team,
    alice: User,
    bob: User,
    carol: User,
) -> None:
    _destination(number, 1, _service(team, "Checkout", [alice], [bob], [carol]))
    _, _, action = dialed(ring(client, account))
    User.objects.filter(pk=bob.pk).update(is_active=False)
    assert dialed(post(client, action, DialCallStatus="no-answer"))[0] == "+15550133"
    assert the_call().position == 2


def test_a_forged_signature_is_refused_and_opens_nothing(
    client: Client, account: TwilioAccount, number: TwilioNumber, checkout: Service
) -> None:
    _destination(number, 1, checkout)
    url = voice_url(account)
    params = {"AccountSid": SID_A, "CallSid": "CA1", "From": CALLER, "To": OUR_NUMBER}
    path = url.removeprefix(PUBLIC)
    forged = RequestValidator("not the token").compute_signature(url, params)
    # Signed over the address the proxy forwarded to, not the public one: refused too.
    internal = RequestValidator(TOKEN_A).compute_signature("http://testserver" + path, params)
    for signature in (forged, internal, ""):
        response = client.post(path, params, headers={"X-Twilio-Signature": signature})
        assert response.status_code == 403
    assert not Incident.objects.exists() and not PhoneCall.objects.exists()


def test_another_organizations_call_id_changes_nothing(
    client: Client,
    account: TwilioAccount,
    number: TwilioNumber,
    checkout: Service,
    org_b: Organization,
) -> None:
    _destination(number, 1, checkout)
    _, screen_url, action = dialed(ring(client, account))
    call = the_call()
    theirs = _account(org_b, SID_B, TOKEN_B)
    ids = {"key": theirs.webhook_key, "call_id": call.pk, "position": 0}
    for name, params in (
        ("twilio_incoming_dial", {"DialCallStatus": "no-answer"}),
        ("twilio_incoming_screen", {}),
        ("twilio_incoming_screen_keys", {"Digits": "1"}),
    ):
        answer = post(client, PUBLIC + reverse(name, kwargs=ids), TOKEN_B, **params)
        assert [child.tag for child in answer] == ["Hangup"]
    voicemail = reverse(
        "twilio_incoming_voicemail", kwargs={"key": theirs.webhook_key, "call_id": call.pk}
    )
    post(client, PUBLIC + voicemail, TOKEN_B, RecordingUrl="https://example.com/r")
    status = PUBLIC + reverse("twilio_incoming_status", kwargs={"key": theirs.webhook_key})
    _signed(client, status, TOKEN_B, {"CallSid": call.call_sid, "CallStatus": "completed"})
    # Their number does not route to our services either.
    assert "not in service" in said(
        post(client, voice_url(theirs), TOKEN_B, CallSid="CA2", From=CALLER, To=OUR_NUMBER)
    )
    after = the_call()
    assert (after.position, after.answered_user, after.status) == (0, None, "routing")
    assert after.recording_url == "" and Incident.objects.get().status == Status.TRIGGERED
    assert PhoneCall.objects.count() == 1
    assert dialed(post(client, action, DialCallStatus="no-answer"))[0] == "+15550122"


def test_the_caller_hanging_up_stops_the_routing(
    client: Client, account: TwilioAccount, number: TwilioNumber, checkout: Service
) -> None:
    _destination(number, 1, checkout)
    _, _, action = dialed(ring(client, account))
    status = PUBLIC + reverse("twilio_incoming_status", kwargs={"key": account.webhook_key})
    params = {"CallSid": the_call().call_sid, "CallStatus": "completed", "CallDuration": "15"}
    assert _signed(client, status, TOKEN_A, params).status_code == 204
    assert post(client, action, DialCallStatus="no-answer").find("Dial") is None
    call = the_call()
    assert call.status == "ended" and call.incident is not None
    assert timeline(call.incident)[-1] == "The caller hung up after 15 s"


def test_the_plan_follows_the_policy_step_by_step_with_verified_phones_only(
    team: Team, alice: User, bob: User, carol: User
) -> None:
    unverified = _person(team, "Dave", None)
    _person(team, "Erin", "+15550155", role=Role.STAKEHOLDER)
    schedule = ss.schedule_create(team=team, by=None, name="Primary")
    tomorrow = timezone.now().date() + timedelta(days=1)
    ss.layer_create(schedule=schedule, by=None, data=_daily(carol, tomorrow))
    service = factories.make_service(team=team, name="Checkout")
    policy = policy_create(team=team, by=None, name="Default")
    step_add(policy=policy, by=None, kind="notify", users=[bob, unverified])
    step_add(policy=policy, by=None, kind="wait", wait_minutes=5)
    step_add(policy=policy, by=None, kind="notify", schedule_id=schedule.pk, users=[bob])
    step_add(policy=policy, by=None, kind="notify", teams=[team])
    service_set_policy(service=service, policy=policy, by=None)

    at = datetime.combine(tomorrow, time(12, 0), tzinfo=UTC)
    assert routing_plan(service=service, at=at) == [
        {"step": 1, "user": bob.pk},
        {"step": 3, "user": carol.pk},  # on call in the schedule tomorrow
        {"step": 4, "user": alice.pk},  # the team's members; no Dave, no stakeholder
    ]


def _daily(user: User, start: date) -> ss.LayerInput:
    return ss.LayerInput(
        name="Day",
        rotation="rolling",
        groups=[[user]],
        frequency="daily",
        start_date=start,
        handoff_time=time(9, 0),
        shift_minutes=24 * 60,
    )
