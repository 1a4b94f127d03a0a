"""SMS and voice notifications through the organization's Twilio account (the providers that
`settings.OPSDUTY_NOTIFICATION_PROVIDERS` names for the `sms` and `voice` channels).

`send` runs between the outbox's claim and its record (escalations/notifications/services.py),
with no transaction open: it checks the person's number and the rate limit, hands the message
or call to Twilio and answers a `Receipt` with Twilio's id; Twilio's status callbacks
(views.py) report the rest. A notification can be sent again when its sender died mid-send
(the outbox's lease expired): its rows here are then updated, not added (one per
notification), and the SMS keeps its reply code. Twilio's Messages and Calls APIs take no
idempotency key, so that copy reaches the person.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import requests
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from twilio.base.exceptions import TwilioException

from escalations.notifications.models import Channel, Notification, NotificationStatus
from escalations.notifications.providers import (
    ChannelNotConfigured,
    DeliveryError,
    Receipt,
    Throttled,
)
from integrations.twilio import errors, selectors
from integrations.twilio.client import twilio_client
from integrations.twilio.models import CallKind, PhoneCall, SmsCode, TwilioAccount, TwilioNumber
from integrations.twilio.texts import sms_notification_text
from opsduty.models import User

if TYPE_CHECKING:
    from twilio.rest import Client

__all__ = ["SmsProvider", "VoiceProvider"]

MAX_SMS_CODE = 99
CALL_TIMEOUT_SECONDS = 30


def _account(notification: Notification) -> TwilioAccount:
    account = selectors.account_get(organization_id=notification.organization_id)
    if account is None:
        raise ChannelNotConfigured("Twilio is not set up (Settings, Telephony)")
    return account


def _recipient(user: User, channel: str) -> str:
    if not user.phone_number:
        raise ChannelNotConfigured(f"{user.get_full_name()} has no phone number")
    if user.phone_verified_at is None:
        raise ChannelNotConfigured(f"{user.get_full_name()}'s phone number is not verified")
    if channel == Channel.SMS and user.sms_stopped_at is not None:
        raise DeliveryError(
            f"{user.get_full_name()} answered STOP: no SMS until they text START",
            permanent=True,
        )
    return user.phone_number


def _sender(notification: Notification, to: str, *, voice: bool) -> TwilioNumber:
    number = selectors.number_for_sending(
        organization_id=notification.organization_id, to=to, voice=voice
    )
    if number is None:
        kind = "voice" if voice else "SMS"
        raise ChannelNotConfigured(f"no Twilio number has {kind} notifications on")
    return number


def _rate_check(notification: Notification, account: TwilioAccount, *, voice: bool) -> None:
    """At most `limit` sent per person and channel in the window (calls 3, SMS 5 per 15 min
    by default, as GoAlert), counted from the outbox itself."""
    limit = account.call_limit if voice else account.sms_limit
    window = timedelta(minutes=account.limit_window_minutes)
    sent = Notification.objects.filter(
        user_id=notification.user_id,
        channel=notification.channel,
        status=NotificationStatus.SENT,
        sent_at__gte=timezone.now() - window,
    ).count()
    if sent >= limit:
        kind = "calls" if voice else "SMS"
        raise Throttled(
            f"rate limit reached ({limit} {kind} per {account.limit_window_minutes} min per person)"
        )


def _twilio_error(error: Exception, user: User) -> DeliveryError:
    if getattr(error, "code", None) == errors.UNSUBSCRIBED:
        User.objects.filter(pk=user.pk, sms_stopped_at__isnull=True).update(
            sms_stopped_at=timezone.now()
        )
    return DeliveryError(errors.describe(error), permanent=errors.is_permanent(error))


def _prepared(
    notification: Notification, *, voice: bool
) -> tuple[TwilioAccount, str, TwilioNumber]:
    """The account, the person's number and our number to send from, once every check passed
    (set up, verified, not stopped, under the rate limit)."""
    account = _account(notification)
    to = _recipient(notification.user, Channel.VOICE if voice else Channel.SMS)
    sender = _sender(notification, to, voice=voice)
    _rate_check(notification, account, voice=voice)
    return account, to, sender


def _client(account: TwilioAccount) -> Client:
    return twilio_client(account.account_sid, account.auth_token)


def _next_code(user: User) -> int:
    """The person's next reply code, 1..99 round-robin (serialized per person by a lock held
    until the caller's transaction ends)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('sms_code'), %s)", [user.pk])
    last = SmsCode.objects.filter(user=user).order_by("-created_at", "-id").first()
    return 1 if last is None else last.code % MAX_SMS_CODE + 1


@transaction.atomic
def _code_reserve(notification: Notification, to: str) -> tuple[int, bool]:
    """The SMS's reply code, reserved before the send in a short transaction of its own (the
    send holds no lock), and whether this call reserved it: an earlier attempt's code when
    there is one (a re-send says the same code), else the person's next."""
    reserved = SmsCode.objects.filter(notification=notification).first()
    if reserved is not None:
        return reserved.code, False
    code = _next_code(notification.user)
    SmsCode.objects.create(
        organization_id=notification.organization_id,
        user=notification.user,
        code=code,
        notification=notification,
        incident=notification.incident,
        phone_number=to,
    )
    return code, True


class SmsProvider:
    """One SMS per notification, with a reply code: "4a" acknowledges, "4r" resolves, "4e"
    escalates (views.py `sms_inbound`)."""

    def send(self, notification: Notification) -> Receipt:
        account, to, sender = _prepared(notification, voice=False)
        code, reserved = _code_reserve(notification, to)
        incident = notification.incident
        link = selectors.public_url(
            reverse("incident_short_link", kwargs={"incident_id": incident.pk})
        )
        body = sms_notification_text(incident, code=code, link=link)
        try:
            message = _client(account).messages.create(
                to=to,
                from_=sender.phone_number,
                body=body,
                status_callback=selectors.callback_url(
                    account, "twilio_sms_status", notification_id=notification.pk
                ),
            )
        except (TwilioException, requests.RequestException) as error:
            if reserved:  # not sent: the code means nothing (a retry reserves one again)
                SmsCode.objects.filter(notification=notification).delete()
            raise _twilio_error(error, notification.user) from error
        return Receipt(
            answer=f"handed to Twilio for {to} (reply code {code})",
            provider_id=message.sid or "",
            delivery_status="queued",
            data={"to": to, "from": sender.phone_number},
        )


class VoiceProvider:
    """One call per notification: the incident is read out and one key acts (views.py
    `voice_notification`); a voicemail is "not reached", never an acknowledgement."""

    def send(self, notification: Notification) -> Receipt:
        account, to, sender = _prepared(notification, voice=True)
        try:
            call = _client(account).calls.create(
                to=to,
                from_=sender.phone_number,
                url=selectors.callback_url(
                    account, "twilio_voice_notification", notification_id=notification.pk
                ),
                method="POST",
                status_callback=selectors.callback_url(
                    account, "twilio_call_status", notification_id=notification.pk
                ),
                status_callback_event=["initiated", "ringing", "answered", "completed"],
                status_callback_method="POST",
                machine_detection="Enable",
                timeout=CALL_TIMEOUT_SECONDS,
            )
        except (TwilioException, requests.RequestException) as error:
            raise _twilio_error(error, notification.user) from error
        PhoneCall.objects.update_or_create(
            notification=notification,
            defaults={
                "organization_id": notification.organization_id,
                "kind": CallKind.NOTIFICATION,
                "call_sid": call.sid or "",
                "number": sender,
                "incident": notification.incident,
                "user": notification.user,
                "from_number": sender.phone_number,
                "to_number": to,
            },
        )
        return Receipt(
            answer=f"call placed through Twilio to {to}",
            provider_id=call.sid or "",
            delivery_status="queued",
            data={"to": to, "from": sender.phone_number},
        )
