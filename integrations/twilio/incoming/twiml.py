"""The TwiML of incoming calls (Twilio's `VoiceResponse`): the menu, the connection to the
person being dialed, call screening and voicemail. URLs are absolute public URLs, which is
what Twilio calls and signs."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from integrations.twilio.incoming.selectors import plan_person
from integrations.twilio.incoming.services import ROUTING, VOICEMAIL
from integrations.twilio.models import CallDestination, PhoneCall, TwilioAccount
from integrations.twilio.selectors import callback_url

VOICE = "Polly.Joanna"
GATHER_SECONDS = 8
DIAL_SECONDS = 20
VOICEMAIL_SECONDS = 120


def say_goodbye(text: str = "Goodbye.") -> VoiceResponse:
    response = VoiceResponse()
    response.say(text, voice=VOICE)
    response.hangup()
    return response


def hangup() -> VoiceResponse:
    response = VoiceResponse()
    response.hangup()
    return response


def menu(account: TwilioAccount, destinations: list[CallDestination], intro: str) -> VoiceResponse:
    """ "For Checkout press 1, for Payments press 2." twice; no key twice: goodbye."""
    options = "For " + ", for ".join(f"{d.service.name} press {d.digit}" for d in destinations)
    action = callback_url(account, "twilio_incoming_menu")
    response = VoiceResponse()
    for prompt in (f"{intro} {options}.", f"{options}."):
        gather = response.gather(num_digits=1, action=action, method="POST", timeout=GATHER_SECONDS)
        gather.say(prompt.strip(), voice=VOICE)
    response.say("No key was pressed. Goodbye.", voice=VOICE)
    response.hangup()
    return response


def next_leg(account: TwilioAccount, call: PhoneCall, *, greet: bool = False) -> VoiceResponse:
    """What the caller hears for the call's state: dial the person at its position, offer
    voicemail when nobody is left, or hang up when it is over."""
    person = plan_person(call, call.position) if call.status == ROUTING else None
    if person is not None:
        response = VoiceResponse()
        if greet:
            response.say("Connecting you to the on-call responder.", voice=VOICE)
        ids = {"call_id": call.pk, "position": call.position}
        dial = response.dial(
            action=callback_url(account, "twilio_incoming_dial", **ids),
            method="POST",
            timeout=DIAL_SECONDS,
            answer_on_bridge=True,
            caller_id=call.number.phone_number if call.number is not None else call.to_number,
        )
        dial.number(
            person.phone_number,
            url=callback_url(account, "twilio_incoming_screen", **ids),
            method="POST",
        )
        return response
    if call.status == VOICEMAIL:
        response = VoiceResponse()
        response.say("Nobody is available. Leave a message after the tone.", voice=VOICE)
        response.record(
            max_length=VOICEMAIL_SECONDS,
            action=callback_url(account, "twilio_incoming_voicemail", call_id=call.pk),
            method="POST",
            play_beep=True,
        )
        response.say("No message was recorded. Goodbye.", voice=VOICE)
        response.hangup()
        return response
    return say_goodbye()


def screening(account: TwilioAccount, call: PhoneCall, position: int) -> VoiceResponse:
    """What the person dialed hears: press 1 to accept; anything else (a voicemail box
    presses nothing) hangs up, so only a person who pressed 1 is bridged."""
    service = call.incident.service.name if call.incident is not None else "OpsDuty"
    response = VoiceResponse()
    gather = response.gather(
        num_digits=1,
        action=callback_url(
            account, "twilio_incoming_screen_keys", call_id=call.pk, position=position
        ),
        method="POST",
        timeout=GATHER_SECONDS,
    )
    gather.say(
        f"This is OpsDuty. Incoming call for {service}. Press 1 to accept.",
        voice=VOICE,
    )
    response.hangup()
    return response
