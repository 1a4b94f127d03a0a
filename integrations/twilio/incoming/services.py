"""Writes of incoming-call routing. The call's row (`PhoneCall`, kind incoming) holds the
people to try (`plan`) and who is being dialed (`position`); every move locks the row and
acts only when the position Twilio reports is the stored one, so a replayed request (Twilio
retries, a caller's double press) never skips a person or acknowledges twice. Each step is a
line on the incident's timeline."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents.ingest.services import ingest_event
from incidents.log import incident_log_write
from incidents.models import Incident, LogAction
from incidents.services import incident_add_note
from integrations.twilio.incoming.selectors import plan_person, routing_plan
from integrations.twilio.models import CallDestination, CallKind, PhoneCall, TwilioNumber
from integrations.twilio.services import incident_act
from opsduty.events import EventData
from opsduty.models import User

__all__ = [
    "ANSWERED",
    "ENDED",
    "RECORDED",
    "ROUTING",
    "VOICEMAIL",
    "incoming_call_accept",
    "incoming_call_ended",
    "incoming_call_start",
    "incoming_dial_result",
    "incoming_voicemail_store",
]

# `PhoneCall.status` of an incoming call.
ROUTING = "routing"  # dialing plan[position]
ANSWERED = "answered"  # someone accepted and talked: done
VOICEMAIL = "voicemail"  # nobody left: the caller may leave a message
RECORDED = "recorded"  # the message is on the incident
ENDED = "ended"  # the caller hung up first
_FINAL = (ANSWERED, RECORDED, ENDED)


def _log(
    incident: Incident | None, message: str, by: User | None = None, /, **data: object
) -> None:
    if incident is not None:
        incident_log_write(
            incident=incident, action=LogAction.PHONE, message=message, actor=by, data=data
        )


def _locked(organization_id: int, call_id: int) -> PhoneCall | None:
    return (
        PhoneCall.objects.select_for_update(of=("self",))
        .select_related("incident__service", "number")
        .filter(organization_id=organization_id, pk=call_id, kind=CallKind.INCOMING)
        .first()
    )


def _touch(call: PhoneCall, *fields: str) -> None:
    call.updated_at = timezone.now()
    call.save(update_fields=[*fields, "updated_at"])


@transaction.atomic
def incoming_call_start(
    *, number: TwilioNumber, destination: CallDestination, call_sid: str, from_number: str
) -> PhoneCall | None:
    """The caller chose `destination`: open an incident on its service through the normal
    pipeline (dedup id `call:<CallSid>`) and record the call with the people to try.

    A replayed request finds the call by its CallSid and changes nothing; a CallSid that is
    another organization's (or a notification's) answers None.
    """
    existing = PhoneCall.objects.filter(call_sid=call_sid).first()
    if existing is not None:
        ours = existing.organization_id == number.organization_id
        return existing if ours and existing.kind == CallKind.INCOMING else None
    service = destination.service
    incident = ingest_event(
        service=service,
        event=EventData(
            summary=f"Incoming call from {from_number}",
            dedup_id=f"call:{call_sid}",
            description=f"A phone call to {number.phone_number} chose {service.name}.",
            payload={
                "source": "twilio_call",
                "from": from_number,
                "to": number.phone_number,
                "call_sid": call_sid,
            },
        ),
    )
    call = PhoneCall(
        organization_id=number.organization_id,
        kind=CallKind.INCOMING,
        call_sid=call_sid,
        number=number,
        destination=destination,
        incident=incident,
        from_number=from_number[:32],
        to_number=number.phone_number,
        status=ROUTING,
        plan=routing_plan(service=service, at=timezone.now()),
    )
    _next_person(call)
    try:
        with transaction.atomic():
            call.save()
    except IntegrityError:  # the same CallSid, concurrently: that request's row stands
        return PhoneCall.objects.filter(call_sid=call_sid, kind=CallKind.INCOMING).first()
    _log(
        incident,
        f"Incoming call from {from_number} to {number.phone_number}, for {service.name} "
        f"(key {destination.digit}); {len(call.plan)} people to try",
        call_sid=call_sid,
        **{"from": from_number, "to": number.phone_number, "service": service.pk},
    )
    if not call.plan:
        _log(incident, "Nobody on call has a verified phone: voicemail offered", call_sid=call_sid)
    _dialing_log(call)
    return call


@transaction.atomic
def incoming_call_accept(*, organization_id: int, call_id: int, position: int) -> User | None:
    """The person dialed at `position` pressed 1 on the screening prompt: they take the call
    and acknowledge the incident (a refusal, e.g. already acknowledged, is only logged).

    None, and nothing changes, when the call moved on (a late or replayed key) or is not
    the organization's.
    """
    call = _locked(organization_id, call_id)
    if call is None or call.status != ROUTING or call.position != position:
        return None
    person = plan_person(call, position)
    if person is None or call.answered_user_id is not None:
        # The same key again (a retried request): still theirs, acknowledged once.
        return person if person is not None and call.answered_user_id == person.pk else None
    call.answered_user = person
    _touch(call, "answered_user")
    if call.incident is not None:
        result = incident_act(incident=call.incident, by=person, verb="a")
        _log(
            call.incident,
            f"{person.get_full_name()} accepted the incoming call: {result}",
            person,
            call_sid=call.call_sid,
            position=position,
        )
    return person


@transaction.atomic
def incoming_dial_result(
    *, organization_id: int, call_id: int, position: int, dial_status: str, duration: str
) -> PhoneCall | None:
    """Twilio's `<Dial>` ended for the person at `position`: log how, and move on to the next
    person unless they accepted and talked. The call afterwards (its status and position say
    what to do next); None when it is not the organization's.

    Acts only when `position` is the stored one: a replayed request changes nothing.
    """
    call = _locked(organization_id, call_id)
    if call is None or call.status != ROUTING or call.position != position:
        return call
    person = plan_person(call, position)
    name = person.get_full_name() if person is not None else "A responder who left"
    data = {"call_sid": call.call_sid, "position": position, "dial_status": dial_status[:16]}
    if person is not None and call.answered_user_id == person.pk and dial_status == "completed":
        seconds = int(duration) if duration.isdigit() else 0
        _log(
            call.incident,
            f"{name} answered the incoming call and talked for {seconds} s",
            person,
            seconds=seconds,
            **data,
        )
        call.status = ANSWERED
        _touch(call, "status")
        return call
    if dial_status == "canceled":  # the caller hung up while the phone rang
        _log(call.incident, f"The caller hung up while {name} was being dialed", **data)
        call.status = ENDED
        _touch(call, "status")
        return call
    outcome = dial_status.replace("-", " ") if dial_status != "completed" else "not accepted"
    _log(call.incident, f"{name} did not answer the incoming call ({outcome})", **data)
    call.answered_user = None  # accepted but not bridged: not who answered
    call.position = position + 1
    _next_person(call)
    if call.status == VOICEMAIL:
        _log(call.incident, "Nobody answered the incoming call: voicemail offered", **data)
    _touch(call, "answered_user", "position", "status")
    _dialing_log(call)
    return call


def _next_person(call: PhoneCall) -> None:
    """Move past people who left (or lost their number) since the plan was made; nobody
    left: voicemail."""
    while call.position < len(call.plan) and plan_person(call, call.position) is None:
        call.position += 1
    if call.position >= len(call.plan):
        call.status = VOICEMAIL


def _dialing_log(call: PhoneCall) -> None:
    """Say on the timeline who is dialed now (written where the position moves, so once)."""
    person = plan_person(call, call.position) if call.status == ROUTING else None
    if person is not None:
        step = call.plan[call.position]["step"]
        _log(
            call.incident,
            f"Connecting the caller to {person.get_full_name()} (step {step})",
            call_sid=call.call_sid,
            position=call.position,
            user=person.pk,
        )


@transaction.atomic
def incoming_voicemail_store(
    *, organization_id: int, call_id: int, recording_url: str, duration: str
) -> bool:
    """The caller's message: its link is stored on the call and noted on the incident, once
    (a replayed request changes nothing). False when nothing changed."""
    call = _locked(organization_id, call_id)
    if call is None or call.recording_url or not recording_url.startswith(("https://", "http://")):
        return False
    # The caller may hang up as the message ends: the status callback can come first.
    if call.status not in (VOICEMAIL, ENDED) or call.position < len(call.plan):
        return False
    call.recording_url = recording_url[:500]
    call.status = RECORDED
    _touch(call, "recording_url", "status")
    if call.incident is not None:
        seconds = f" ({duration} s)" if duration.isdigit() else ""
        incident_add_note(
            incident=call.incident,
            by=None,
            text=f"Voicemail from {call.from_number}{seconds}: {call.recording_url}",
        )
    return True


@transaction.atomic
def incoming_call_ended(*, organization_id: int, call_sid: str, status: str, duration: str) -> bool:
    """The caller's call ended (Twilio's status callback): an unfinished routing stops and
    says so. False when nothing changed (finished already, not ours, not final)."""
    if status not in ("completed", "canceled", "failed", "busy", "no-answer"):
        return False
    call = (
        PhoneCall.objects.select_for_update(of=("self",))
        .select_related("incident")
        .filter(organization_id=organization_id, call_sid=call_sid, kind=CallKind.INCOMING)
        .first()
    )
    if call is None or call.status in _FINAL:
        return False
    seconds = f" after {duration} s" if duration.isdigit() else ""
    _log(call.incident, f"The caller hung up{seconds}", call_sid=call_sid, status=status[:16])
    call.status = ENDED
    _touch(call, "status")
    return True
