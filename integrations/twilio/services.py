"""Writes of the telephony integration: SMS replies, voice keys and provider reports act on
incidents through the same services the UI uses (incidents.services, escalations' paging),
as the person who replied, and say so on the timeline."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from escalations.engine.paging import incident_escalate
from escalations.notifications.services import notification_delivery_update
from incidents import services as incident_services
from incidents.log import incident_log_write
from incidents.models import Incident, LogAction
from integrations.twilio import selectors
from integrations.twilio.models import InboundMessage, PhoneCall, TwilioAccount, TwilioNumber
from integrations.twilio.texts import SMS_HELP, SMS_UNKNOWN_SENDER
from opsduty.models import User
from opsduty.retry import run_retrying_conflicts

__all__ = [
    "ACTIONS",
    "call_status_record",
    "incident_act",
    "message_status_record",
    "sms_reply_handle",
]

# After the help text, unknown replies get no answer for this long (or until one works).
HELP_SILENCE = timedelta(hours=24)
STOP_WORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout"})
START_WORDS = frozenset({"start", "unstop", "yes"})
HELP_WORDS = frozenset({"help", "info", "?"})
_REPLY = re.compile(
    r"^\s*(?P<code>\d{1,2})?\s*(?P<verb>a|ack|acknowledge|r|res|resolve|e|esc|escalate)\s*[.!]?\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Action:
    done: str  # "acknowledged"
    name: str  # "acknowledge"


ACTIONS = {
    "a": Action("acknowledged", "acknowledge"),
    "r": Action("resolved", "resolve"),
    "e": Action("escalated", "escalate"),
}


def _name(user: User) -> str:
    return user.get_full_name()


def _phone_log(incident: Incident, by: User | None, message: str, **data: object) -> None:
    incident_log_write(
        incident=incident, action=LogAction.PHONE, message=message[:2000], actor=by, data=data
    )


def incident_act(*, incident: Incident, by: User, verb: str) -> str:
    """Acknowledge (`a`), resolve (`r`) or escalate (`e`) as `by`; what happened, in words.

    A person who was paged for the incident may act on it from their phone (the code or the
    call is what binds them to it); stakeholders never act. Refusals come back as text.
    """
    action = ACTIONS[verb]
    if by.is_stakeholder or not by.is_active:
        return f"You cannot {action.name} incidents."
    try:
        # A lost lock race runs again (opsduty/retry.py) where this is the outermost
        # transaction (a key pressed on a call); an SMS reply is retried by its view.
        if verb == "a":
            run_retrying_conflicts(incident_services.incident_acknowledge, incident=incident, by=by)
        elif verb == "r":
            run_retrying_conflicts(incident_services.incident_resolve, incident=incident, by=by)
        else:
            step = run_retrying_conflicts(incident_escalate, incident=incident, by=by)
            return f"Escalated #{incident.number}: step {step} runs now."
    except PermissionDenied as error:
        return f"Could not {action.name} #{incident.number}: {error}"
    except ValidationError as error:
        return f"Could not {action.name} #{incident.number}: {' '.join(error.messages)}"
    return (
        f"{action.done.capitalize()} #{incident.number}: {' '.join(incident.summary.split())[:80]}"
    )


def _opt(number: TwilioNumber, phone: str, *, stop: bool) -> None:
    people = User.objects.filter(organization_id=number.organization_id, phone_number=phone)
    people.update(sms_stopped_at=timezone.now() if stop else None)


@transaction.atomic
def sms_reply_handle(*, number: TwilioNumber, message_sid: str, from_number: str, body: str) -> str:
    """Act on one SMS that came in to `number`; the answer to text back ("" for none).

    Once per MessageSid: a replayed request finds its row and changes nothing. STOP and START
    are honoured (Twilio's own opt-out answers them; we record it so no SMS rule tries). A
    reply we do not understand gets the help text once, then silence until a reply works (an
    auto-responder cannot loop with us).
    """
    try:
        with transaction.atomic():
            inbound = InboundMessage.objects.create(
                organization_id=number.organization_id,
                message_sid=message_sid,
                from_number=from_number[:32],
                to_number=number.phone_number,
                body=body[:1600],
            )
    except IntegrityError:
        return ""  # seen already
    user = selectors.person_by_phone(
        organization_id=number.organization_id, phone_number=from_number
    )
    inbound.user = user
    word = body.strip().lower()
    answer = ""
    if word in STOP_WORDS:
        _opt(number, from_number, stop=True)
    elif word in START_WORDS:
        _opt(number, from_number, stop=False)
    elif word in HELP_WORDS:
        answer = SMS_HELP
    elif user is None:
        if not _last_answer_was_help(inbound):
            answer = SMS_UNKNOWN_SENDER
    else:
        answer = _reply_act(inbound, user, body)
    inbound.answer = answer
    inbound.save(update_fields=["user", "answer", "incident"])
    return answer


def _reply_act(inbound: InboundMessage, user: User, body: str) -> str:
    match = _REPLY.match(body)
    if match is None:
        return "" if _last_answer_was_help(inbound) else SMS_HELP
    code = int(match["code"]) if match["code"] else None
    sent = selectors.sms_code_find(user=user, code=code)
    if sent is None:
        if code is None:
            return "OpsDuty: there is no alert of yours to answer."
        return f"OpsDuty: no alert of yours has code {code}. {SMS_HELP}"
    incident = sent.incident
    inbound.incident = incident
    verb = match["verb"][0].lower()
    result = incident_act(incident=incident, by=user, verb=verb)
    quoted = " ".join(body.split())[:40]
    _phone_log(
        incident,
        user,
        f'SMS reply "{quoted}" from {_name(user)}: {result}',
        message_sid=inbound.message_sid,
        reply=quoted,
    )
    return result


def _last_answer_was_help(inbound: InboundMessage) -> bool:
    """Whether this phone was answered with the help text since its last reply that worked
    (within a day): then we stay silent."""
    helped = (SMS_HELP, SMS_UNKNOWN_SENDER)
    latest = (
        InboundMessage.objects.filter(
            Q(answer__in=helped) | Q(incident__isnull=False),
            organization_id=inbound.organization_id,
            from_number=inbound.from_number,
            id__lt=inbound.pk,
            created_at__gte=inbound.created_at - HELP_SILENCE,
        )
        .order_by("-id")
        .first()
    )
    return latest is not None and latest.answer in helped


# --- provider reports ------------------------------------------------------------------------

_MESSAGE_STATES = {
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
}
_CALL_STATES = {
    "ringing": "ringing",
    "in-progress": "answered",
    "completed": "completed",
    "busy": "busy",
    "no-answer": "no_answer",
    "failed": "failed",
    "canceled": "canceled",
}


def message_status_record(
    *, account: TwilioAccount, notification_id: int, status: str, error_code: str
) -> bool:
    """A `MessageStatus` callback for an SMS notification; False when it changed nothing."""
    state = _MESSAGE_STATES.get(status)
    if state is None:
        return False
    detail = f"Twilio error {error_code}" if error_code else ""
    return notification_delivery_update(
        notification_id=notification_id,
        organization_id=account.organization_id,
        state=state,
        detail=detail,
    )


@transaction.atomic
def call_status_record(
    *, account: TwilioAccount, notification_id: int, call_sid: str, status: str, duration: str
) -> bool:
    """A `CallStatus` callback for a voice notification; False when it changed nothing."""
    state = _CALL_STATES.get(status)
    if state is None:
        return False
    call = PhoneCall.objects.filter(
        organization_id=account.organization_id, call_sid=call_sid, notification_id=notification_id
    ).first()
    if call is None:
        return False
    call.status = status[:16]
    call.updated_at = timezone.now()
    call.save(update_fields=["status", "updated_at"])
    detail = f"{duration} s" if state == "completed" and duration.isdigit() else ""
    return notification_delivery_update(
        notification_id=notification_id,
        organization_id=account.organization_id,
        state=state,
        detail=detail,
    )


# --- voice notifications ------------------------------------------------------------------

MACHINE_ANSWERS = (
    "machine_start",
    "machine_end_beep",
    "machine_end_silence",
    "machine_end_other",
    "fax",
)


@transaction.atomic
def voice_answered(
    *, account: TwilioAccount, notification_id: int, call_sid: str, answered_by: str
) -> PhoneCall | None:
    """The notification call was picked up: the call, if a person took it; None for a
    voicemail or fax (answering-machine detection: "not reached", never an acknowledgement)
    and for a call that is not ours."""
    call = selectors.notification_call_get(
        organization_id=account.organization_id, notification_id=notification_id, call_sid=call_sid
    )
    if call is None:
        return None
    if answered_by != call.answered_by:
        call.answered_by = answered_by[:32]
        call.save(update_fields=["answered_by"])
    if answered_by in MACHINE_ANSWERS:
        notification_delivery_update(
            notification_id=notification_id,
            organization_id=account.organization_id,
            state="not_reached",
            detail=f"answered by {answered_by.replace('_', ' ')}",
        )
        return None
    notification_delivery_update(
        notification_id=notification_id, organization_id=account.organization_id, state="answered"
    )
    return call


def voice_key(*, account: TwilioAccount, notification_id: int, call_sid: str, digits: str) -> str:
    """A key pressed on a notification call: what to say back ("" when it is no action)."""
    call = selectors.notification_call_get(
        organization_id=account.organization_id, notification_id=notification_id, call_sid=call_sid
    )
    if call is None or call.incident is None or call.user is None:
        return ""
    verb = {"1": "a", "2": "r", "3": "e"}.get(digits)
    if verb is None:
        return ""
    result = incident_act(incident=call.incident, by=call.user, verb=verb)
    _phone_log(
        call.incident,
        call.user,
        f"Voice call: {_name(call.user)} pressed {digits}: {result}",
        call_sid=call_sid,
        digits=digits,
    )
    return result
