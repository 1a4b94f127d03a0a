"""SMS and voice paging end to end: the real twilio SDK talks to the fake Twilio, which calls
the app back (uvicorn on loopback) with signed requests, as Twilio does behind a TLS proxy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from escalations.catalog import services as catalog
from escalations.catalog.services import service_set_policy
from escalations.models import Notification, NotificationStatus
from escalations.notifications.services import notification_deliver, notify_user
from escalations.policies.models import StepKind
from escalations.policies.services import policy_create, step_add
from incidents.ingest import services as ingest
from incidents.models import Incident, Status
from integrations.twilio.fake import FakeTwilio
from integrations.twilio.models import InboundMessage, TwilioAccount
from opsduty.events import EventData
from opsduty.models import Organization, Service, User
from tests import factories
from tests.integrations.twilio.conftest import ACCOUNT_SID, AUTH_TOKEN
from tests.integrations.twilio.telephony import (
    OUR_NUMBER,
    PUBLIC_URL,
    Telephony,
    phone_verified,
    signed_post,
    telephony_set_up,
)

ALICE = "+4791234567"


@pytest.fixture
def phones(
    asgi_server: str, fake_twilio: FakeTwilio, org_a: Organization, settings: Any
) -> Iterator[Telephony]:
    settings.OPSDUTY_PUBLIC_URL = PUBLIC_URL
    fake_twilio.forward(PUBLIC_URL, asgi_server)
    yield telephony_set_up(organization=org_a, fake=fake_twilio, sid=ACCOUNT_SID, token=AUTH_TOKEN)


@pytest.fixture
def service(org_a: Organization, member: User) -> Service:
    team = factories.make_team(organization=org_a, name="Payments")
    factories.add_member(team, member)
    return catalog.service_create(team=team, by=None, name="Checkout API")


def _incident(service: Service, summary: str = "Disk full on db-1") -> Incident:
    return ingest.ingest_event(service=service, event=EventData(summary=summary, dedup_id=summary))


def _page(incident: Incident, user: User) -> list[Notification]:
    rows = notify_user(
        incident=incident, user=user, reason="on call", key_prefix=f"t:{incident.pk}"
    )
    _deliver_due(rows)
    return rows


def _deliver_due(rows: list[Notification]) -> None:
    """Deliver the rows due now, as the escalator's task would."""
    for row in rows:
        if row.due_at <= timezone.now():
            notification_deliver(notification_id=row.pk)


def _timeline(incident: Incident) -> list[str]:
    return list(incident.log.order_by("id").values_list("message", flat=True))


def _texts_to(fake: FakeTwilio, phone: str) -> list[str]:
    return [m.body for m in fake.messages.values() if m.to == phone]


@pytest.mark.django_db(transaction=True)
def test_sms_page_is_delivered_and_acknowledged_by_reply(
    phones: Telephony, service: Service, member: User
) -> None:
    alice = phone_verified(member, ALICE, (0, "sms"))
    incident = _incident(service)
    (sms,) = _page(incident, alice)
    phones.fake.settle()

    (text,) = _texts_to(phones.fake, ALICE)
    assert text.startswith(f"#{incident.number} HIGH Checkout API: Disk full on db-1.")
    assert "Reply 1a ack, 1r resolve, 1e escalate https://ops.example.com/i/" in text
    assert len(text) <= 160
    sms.refresh_from_db()
    assert (sms.status, sms.delivery_status) == (NotificationStatus.SENT, "delivered")
    assert any(line.endswith(": delivered") for line in _timeline(incident))

    result = phones.fake.sms(ALICE, OUR_NUMBER, "1a")
    assert result.status == 200
    assert result.replies == [f"Acknowledged #{incident.number}: Disk full on db-1"]
    incident.refresh_from_db()
    assert incident.status == Status.ACKNOWLEDGED
    entry = incident.log.filter(message__startswith='SMS reply "1a"').get()
    assert entry.actor == alice
    assert incident.log.filter(action="acknowledged", actor=alice).exists()


@pytest.mark.django_db(transaction=True)
def test_bare_letter_acts_on_the_newest_alert_and_codes_pick_older_ones(
    phones: Telephony, service: Service, member: User
) -> None:
    alice = phone_verified(member, ALICE, (0, "sms"))
    first, second = _incident(service, "First"), _incident(service, "Second")
    _page(first, alice)
    _page(second, alice)
    phones.fake.settle()
    assert phones.fake.sms(ALICE, OUR_NUMBER, "r").replies == [f"Resolved #{second.number}: Second"]
    assert phones.fake.sms(ALICE, OUR_NUMBER, "1 A").replies == [
        f"Acknowledged #{first.number}: First"
    ]
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (Status.ACKNOWLEDGED, Status.RESOLVED)
    # Acting twice says why not, and changes nothing.
    assert phones.fake.sms(ALICE, OUR_NUMBER, "2r").replies == [
        f"Could not resolve #{second.number}: The incident is already resolved."
    ]


@pytest.mark.django_db(transaction=True)
def test_escalate_by_reply_runs_the_next_step(
    phones: Telephony, service: Service, member: User, owner: User
) -> None:
    alice = phone_verified(member, ALICE, (0, "sms"))
    policy = policy_create(team=service.team, by=None, name="Checkout")
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[alice])
    step_add(policy=policy, by=None, kind=StepKind.WAIT, wait_minutes=30)
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[owner])
    service_set_policy(service=service, policy=policy, by=None)
    incident = _incident(service)  # step 1 pages Alice through the engine
    _deliver_due(list(Notification.objects.filter(incident=incident, user=alice)))
    phones.fake.settle()
    assert not Notification.objects.filter(incident=incident, user=owner).exists()

    reply = phones.fake.sms(ALICE, OUR_NUMBER, "1e")
    assert reply.replies == [f"Escalated #{incident.number}: step 3 runs now."]
    assert Notification.objects.filter(incident=incident, user=owner).exists()
    assert incident.log.filter(message__startswith='SMS reply "1e"', actor=alice).exists()


@pytest.mark.django_db(transaction=True)
def test_unknown_sender_gets_one_help_answer_then_silence(
    phones: Telephony, service: Service, member: User
) -> None:
    stranger = "+4799999999"
    first = phones.fake.sms(stranger, OUR_NUMBER, "hello?")
    assert first.replies and "not a verified number" in first.replies[0]
    # An auto-responder answering our answer gets nothing back: no loop.
    assert phones.fake.sms(stranger, OUR_NUMBER, "I am away until Monday").replies == []
    assert phones.fake.sms(stranger, OUR_NUMBER, "Auto-reply: away").replies == []
    assert InboundMessage.objects.filter(from_number=stranger).count() == 3

    # A known person's gibberish: help once, then silence; a good reply works again after.
    alice = phone_verified(member, ALICE, (0, "sms"))
    incident = _incident(service)
    _page(incident, alice)
    phones.fake.settle()
    assert "reply with the code" in phones.fake.sms(ALICE, OUR_NUMBER, "what").replies[0]
    assert phones.fake.sms(ALICE, OUR_NUMBER, "what??").replies == []
    assert phones.fake.sms(ALICE, OUR_NUMBER, "a").replies[0].startswith("Acknowledged")


@pytest.mark.django_db(transaction=True)
def test_stop_is_honoured_until_start(phones: Telephony, service: Service, member: User) -> None:
    alice = phone_verified(member, ALICE, (0, "sms"))
    phones.fake.sms(ALICE, OUR_NUMBER, "STOP")
    alice.refresh_from_db()
    assert alice.sms_stopped_at is not None
    incident = _incident(service)
    (sms,) = _page(incident, alice)
    sms.refresh_from_db()
    assert sms.status == NotificationStatus.FAILED
    assert "answered STOP" in sms.last_error
    assert _texts_to(phones.fake, ALICE) == []  # Twilio was not even asked

    phones.fake.sms(ALICE, OUR_NUMBER, "START")
    alice.refresh_from_db()
    assert alice.sms_stopped_at is None
    second = _incident(service, "Second")
    _page(second, alice)
    phones.fake.settle()
    assert len(_texts_to(phones.fake, ALICE)) == 1


@pytest.mark.django_db(transaction=True)
def test_twilio_refusing_an_unsubscribed_number_marks_the_person_stopped(
    phones: Telephony, service: Service, member: User
) -> None:
    alice = phone_verified(member, ALICE, (0, "sms"))
    phones.fake.fail_next(
        "messages", status=400, code=21610, message="Attempt to send to unsubscribed recipient"
    )
    (sms,) = _page(_incident(service), alice)
    sms.refresh_from_db()
    assert sms.status == NotificationStatus.FAILED
    assert "Twilio error 21610" in sms.last_error
    alice.refresh_from_db()
    assert alice.sms_stopped_at is not None


@pytest.mark.django_db(transaction=True)
def test_provider_errors_are_classified(phones: Telephony, service: Service, member: User) -> None:
    alice = phone_verified(member, ALICE, (0, "sms"))
    phones.fake.fail_next("messages", status=400, code=21211, message="Invalid 'To' Phone Number")
    (bad,) = _page(_incident(service, "One"), alice)
    bad.refresh_from_db()
    assert bad.status == NotificationStatus.FAILED  # permanent: no retry

    phones.fake.fail_next("messages", status=503, code=20503, message="Service unavailable")
    (later,) = _page(_incident(service, "Two"), alice)
    later.refresh_from_db()
    assert (later.status, later.attempts) == (NotificationStatus.PENDING, 1)  # retried later
    assert "retry 2 of 5" in _timeline(later.incident)[-1]


@pytest.mark.django_db(transaction=True)
def test_rate_limit_throttles_and_falls_through_to_the_next_rule(
    phones: Telephony, service: Service, member: User
) -> None:
    TwilioAccount.objects.filter(pk=phones.account.pk).update(sms_limit=1)
    alice = phone_verified(member, ALICE, (0, "sms"), (10, "voice"))
    _page(_incident(service, "One"), alice)
    second = _incident(service, "Two")
    sms, voice = _page(second, alice)
    sms.refresh_from_db()
    voice.refresh_from_db()
    assert sms.status == NotificationStatus.THROTTLED
    line = next(m for m in _timeline(second) if "rate limit" in m)
    assert "rate limit reached (1 SMS per 15 min per person)" in line
    assert line.endswith("Voice call goes now instead")
    assert voice.due_at <= timezone.now()  # brought forward from +10 min: due now
    assert len(_texts_to(phones.fake, ALICE)) == 1


@pytest.mark.django_db(transaction=True)
def test_voice_page_reads_the_incident_and_key_1_acknowledges(
    phones: Telephony, service: Service, member: User
) -> None:
    alice = phone_verified(member, ALICE, (0, "voice"))
    incident = _incident(service)
    (voice,) = _page(incident, alice)
    phones.fake.settle()
    (call,) = [c for c in phones.fake.calls.values() if c.to == ALICE]
    request = next(r for r in phones.fake.requests if r.path.endswith("/Calls.json"))
    assert request.params["MachineDetection"] == "Enable"

    phones.fake.answer(call.sid, by="human")
    phones.fake.settle()
    assert any("Disk full on db-1" in said for said in call.transcript)
    phones.fake.press(call.sid, "9")
    phones.fake.settle()
    assert any(said.startswith("That is not an option") for said in call.transcript)
    phones.fake.press(call.sid, "1")
    phones.fake.settle()
    assert any(said.startswith(f"Acknowledged #{incident.number}") for said in call.transcript)
    incident.refresh_from_db()
    assert incident.status == Status.ACKNOWLEDGED
    assert incident.log.filter(action="acknowledged", actor=alice).exists()
    voice.refresh_from_db()
    assert voice.delivery_status == "completed"


@pytest.mark.django_db(transaction=True)
def test_a_voicemail_is_not_reached_and_never_acknowledges(
    phones: Telephony, service: Service, member: User
) -> None:
    alice = phone_verified(member, ALICE, (0, "voice"))
    incident = _incident(service)
    (voice,) = _page(incident, alice)
    phones.fake.settle()
    (call,) = [c for c in phones.fake.calls.values() if c.to == ALICE]
    phones.fake.answer(call.sid, by="machine_start")
    phones.fake.settle()
    voice.refresh_from_db()
    assert voice.delivery_status == "not_reached"
    assert any("taken by voicemail: not reached" in m for m in _timeline(incident))
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED


@pytest.mark.django_db(transaction=True)
def test_an_unanswered_call_is_on_the_timeline(
    phones: Telephony, service: Service, member: User
) -> None:
    alice = phone_verified(member, ALICE, (0, "voice"))
    incident = _incident(service)
    _page(incident, alice)
    phones.fake.settle()
    (call,) = [c for c in phones.fake.calls.values() if c.to == ALICE]
    phones.fake.no_answer(call.sid)
    phones.fake.settle()
    assert any(m.endswith(": no answer") for m in _timeline(incident))


@pytest.mark.django_db
def test_forged_unknown_or_replayed_requests_change_nothing(
    org_a: Organization, member: User, fake_twilio: FakeTwilio, settings: Any, client: Client
) -> None:
    settings.OPSDUTY_PUBLIC_URL = PUBLIC_URL
    phones = telephony_set_up(
        organization=org_a, fake=fake_twilio, sid=ACCOUNT_SID, token=AUTH_TOKEN
    )
    path = f"/integrations/twilio/{phones.account.webhook_key}/sms/"
    params = {
        "MessageSid": "SM" + "1" * 32,
        "From": "+4790000000",
        "To": OUR_NUMBER,
        "Body": "a",
        "AccountSid": ACCOUNT_SID,
    }
    assert signed_post(client, path, params, "not-the-token").status_code == 403
    assert client.post(path, params).status_code == 403  # unsigned
    assert (
        signed_post(client, "/integrations/twilio/unknown-key/sms/", params, AUTH_TOKEN).status_code
        == 403
    )
    assert not InboundMessage.objects.exists()
    ok = signed_post(client, path, params, AUTH_TOKEN)
    assert ok.status_code == 200
    again = signed_post(client, path, params, AUTH_TOKEN)  # the same request, replayed
    assert again.status_code == 200
    assert InboundMessage.objects.count() == 1
    assert b"<Message>" not in again.content


@pytest.mark.django_db(transaction=True)
def test_another_organizations_number_never_reaches_this_one(
    phones: Telephony, service: Service, member: User, org_b: Organization, outsider: User
) -> None:
    alice = phone_verified(member, ALICE, (0, "sms"))
    incident = _incident(service)
    _page(incident, alice)
    phones.fake.settle()
    other_sid = "AC" + "f" * 32
    phones.fake.add_account(other_sid, "other-token")
    telephony_set_up(
        organization=org_b,
        fake=phones.fake,
        sid=other_sid,
        token="other-token",
        phone="+15005550007",
    )
    # Alice texts the other organization's number: she is nobody there.
    reply = phones.fake.sms(ALICE, "+15005550007", "1a")
    assert reply.replies and "not a verified number" in reply.replies[0]
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM twilio_inboundmessage WHERE organization_id = %s", [org_b.pk]
        )
        assert cursor.fetchone() == (1,)
