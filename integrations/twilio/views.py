"""What Twilio calls (every view signed, security.py): inbound SMS, status callbacks and the
TwiML of voice notifications. Thin: the work is in services.py."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import reverse
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from integrations.twilio import selectors, services
from integrations.twilio.security import TwilioRequest, twilio_signed
from integrations.twilio.texts import VOICE_MENU, voice_incident_text
from opsduty.retry import run_retrying_conflicts

VOICE = "Polly.Joanna"
GATHER_SECONDS = 8


def _twiml(response: VoiceResponse | MessagingResponse) -> HttpResponse:
    return HttpResponse(str(response), content_type="text/xml")


def _empty() -> HttpResponse:
    return HttpResponse("", status=204)


@twilio_signed
def sms_inbound(request: TwilioRequest) -> HttpResponse:
    """An SMS to one of the organization's numbers: a reply to a notification, STOP/START,
    HELP, or something we answer with help once."""
    post = request.POST
    number = selectors.number_by_phone(phone_number=post.get("To", ""))
    response = MessagingResponse()
    if number is None or number.account_id != request.twilio_account.pk:
        return _twiml(response)  # not our number (any more): nothing to do
    answer = run_retrying_conflicts(  # a lost lock race runs again (opsduty/retry.py)
        services.sms_reply_handle,
        number=number,
        message_sid=post.get("MessageSid", "") or post.get("SmsSid", ""),
        from_number=post.get("From", ""),
        body=post.get("Body", "")[:1600],
    )
    if answer:
        response.message(answer)
    return _twiml(response)


@twilio_signed
def sms_status(request: TwilioRequest, notification_id: int) -> HttpResponse:
    """`MessageStatus` of an SMS notification: sent, delivered, undelivered, failed."""
    services.message_status_record(
        account=request.twilio_account,
        notification_id=notification_id,
        status=request.POST.get("MessageStatus", ""),
        error_code=request.POST.get("ErrorCode", "")[:10],
    )
    return _empty()


@twilio_signed
def call_status(request: TwilioRequest, notification_id: int) -> HttpResponse:
    """`CallStatus` of a voice notification: ringing, answered, completed, busy, no answer."""
    services.call_status_record(
        account=request.twilio_account,
        notification_id=notification_id,
        call_sid=request.POST.get("CallSid", ""),
        status=request.POST.get("CallStatus", ""),
        duration=request.POST.get("CallDuration", "")[:8],
    )
    return _empty()


def _menu(request: TwilioRequest, notification_id: int, text: str) -> VoiceResponse:
    response = VoiceResponse()
    keys = reverse(
        "twilio_voice_notification_keys",
        kwargs={"key": request.twilio_account.webhook_key, "notification_id": notification_id},
    )
    gather = response.gather(
        num_digits=1, action=selectors.public_url(keys), method="POST", timeout=GATHER_SECONDS
    )
    gather.say(text, voice=VOICE)
    response.say("No key was pressed. Goodbye.", voice=VOICE)
    response.hangup()
    return response


@twilio_signed
def voice_notification(request: TwilioRequest, notification_id: int) -> HttpResponse:
    """The call was answered: read the incident and gather one key; a voicemail hears a short
    message and is marked "not reached"."""
    call = services.voice_answered(
        account=request.twilio_account,
        notification_id=notification_id,
        call_sid=request.POST.get("CallSid", ""),
        answered_by=request.POST.get("AnsweredBy", "human"),
    )
    if call is None or call.incident is None:
        response = VoiceResponse()
        response.say("This is OpsDuty. Please open the OpsDuty app. Goodbye.", voice=VOICE)
        response.hangup()
        return _twiml(response)
    return _twiml(
        _menu(request, notification_id, f"{voice_incident_text(call.incident)} {VOICE_MENU}")
    )


@twilio_signed
def voice_notification_keys(request: TwilioRequest, notification_id: int) -> HttpResponse:
    """The key pressed: 1 acknowledge, 2 resolve, 3 escalate, * repeat; others re-prompt."""
    digits = request.POST.get("Digits", "")[:4]
    if digits == "*":
        call = selectors.notification_call_get(
            organization_id=request.twilio_account.organization_id,
            notification_id=notification_id,
            call_sid=request.POST.get("CallSid", ""),
        )
        if call is not None and call.incident is not None:
            text = f"{voice_incident_text(call.incident)} {VOICE_MENU}"
            return _twiml(_menu(request, notification_id, text))
    result = services.voice_key(
        account=request.twilio_account,
        notification_id=notification_id,
        call_sid=request.POST.get("CallSid", ""),
        digits=digits,
    )
    if not result:
        return _twiml(_menu(request, notification_id, f"That is not an option. {VOICE_MENU}"))
    response = VoiceResponse()
    response.say(f"{result}. Goodbye.", voice=VOICE)
    response.hangup()
    return _twiml(response)
