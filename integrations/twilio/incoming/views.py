"""What Twilio calls for incoming calls (every view signed: security.py). The caller's leg:
the number's voice URL, the menu's key, the end of each `<Dial>`, the voicemail and the
call's status; the leg of the person dialed: the screening prompt and its key. Ids in URLs
are looked up within the signing account's organization: another's answers a Hangup."""

from __future__ import annotations

from django.http import HttpResponse
from twilio.twiml.voice_response import VoiceResponse

from integrations.twilio import selectors as twilio_selectors
from integrations.twilio.incoming import selectors, services, twiml
from integrations.twilio.models import CallDestination, TwilioNumber
from integrations.twilio.security import TwilioRequest, twilio_signed

WELCOME = "Thank you for calling."


def _twiml(response: VoiceResponse) -> HttpResponse:
    return HttpResponse(str(response), content_type="text/xml")


def _number(request: TwilioRequest) -> TwilioNumber | None:
    number = twilio_selectors.number_by_phone(phone_number=request.POST.get("To", ""))
    return number if number is not None and number.account_id == request.twilio_account.pk else None


@twilio_signed
def voice_inbound(request: TwilioRequest) -> HttpResponse:
    """A call to one of the organization's numbers: the menu, or straight on to the only
    destination."""
    number = _number(request)
    if number is None:
        return _twiml(twiml.say_goodbye("Sorry, this number is not in service. Goodbye."))
    destinations = twilio_selectors.destination_list(number=number)
    if not destinations:
        return _twiml(twiml.say_goodbye("This number takes no calls. Goodbye."))
    if len(destinations) > 1:
        return _twiml(twiml.menu(request.twilio_account, destinations, WELCOME))
    return _route(request, number, destinations[0])


@twilio_signed
def voice_menu(request: TwilioRequest) -> HttpResponse:
    """The key the caller pressed in the menu; a key that is no option prompts again."""
    number = _number(request)
    if number is None:
        return _twiml(twiml.say_goodbye("Sorry, this number is not in service. Goodbye."))
    digits = request.POST.get("Digits", "")[:4]
    destination = selectors.destination_for_digit(number=number, digits=digits)
    if destination is None:
        destinations = twilio_selectors.destination_list(number=number)
        if not destinations:
            return _twiml(twiml.say_goodbye("This number takes no calls. Goodbye."))
        return _twiml(twiml.menu(request.twilio_account, destinations, "That is not an option."))
    return _route(request, number, destination)


def _route(
    request: TwilioRequest,
    number: TwilioNumber,
    destination: CallDestination,
) -> HttpResponse:
    call = services.incoming_call_start(
        number=number,
        destination=destination,
        call_sid=request.POST.get("CallSid", "")[:34],
        from_number=request.POST.get("From", "")[:32],
    )
    if call is None:
        return _twiml(twiml.hangup())
    return _twiml(twiml.next_leg(request.twilio_account, call, greet=True))


@twilio_signed
def dial_result(request: TwilioRequest, call_id: int, position: int) -> HttpResponse:
    """The `<Dial>` of the person at `position` ended: done, or the next person, or
    voicemail."""
    call = services.incoming_dial_result(
        organization_id=request.twilio_account.organization_id,
        call_id=call_id,
        position=position,
        dial_status=request.POST.get("DialCallStatus", ""),
        duration=request.POST.get("DialCallDuration", "")[:8],
    )
    if call is None:
        return _twiml(twiml.hangup())
    return _twiml(twiml.next_leg(request.twilio_account, call))


@twilio_signed
def screen(request: TwilioRequest, call_id: int, position: int) -> HttpResponse:
    """The person dialed picked up: "press 1 to accept" (a stale leg is hung up)."""
    call = selectors.incoming_call_get(
        organization_id=request.twilio_account.organization_id, call_id=call_id
    )
    if call is None or call.status != services.ROUTING or call.position != position:
        return _twiml(twiml.hangup())
    return _twiml(twiml.screening(request.twilio_account, call, position))


@twilio_signed
def screen_keys(request: TwilioRequest, call_id: int, position: int) -> HttpResponse:
    """1: the person takes the call (an empty response lets Twilio bridge it); anything
    else hangs their leg up and the caller's `<Dial>` moves on."""
    if request.POST.get("Digits", "")[:4] == "1":
        person = services.incoming_call_accept(
            organization_id=request.twilio_account.organization_id,
            call_id=call_id,
            position=position,
        )
        if person is not None:
            return _twiml(VoiceResponse())
    return _twiml(twiml.hangup())


@twilio_signed
def voicemail(request: TwilioRequest, call_id: int) -> HttpResponse:
    """The caller's message was recorded: its link goes on the incident."""
    services.incoming_voicemail_store(
        organization_id=request.twilio_account.organization_id,
        call_id=call_id,
        recording_url=request.POST.get("RecordingUrl", ""),
        duration=request.POST.get("RecordingDuration", "")[:8],
    )
    return _twiml(twiml.say_goodbye("Thank you. Your message was passed on. Goodbye."))


@twilio_signed
def status(request: TwilioRequest) -> HttpResponse:
    """The caller's call ended (the number's status callback): routing stops."""
    services.incoming_call_ended(
        organization_id=request.twilio_account.organization_id,
        call_sid=request.POST.get("CallSid", "")[:34],
        status=request.POST.get("CallStatus", ""),
        duration=request.POST.get("CallDuration", "")[:8],
    )
    return HttpResponse("", status=204)
