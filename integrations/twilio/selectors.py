"""Reads of the telephony integration: the account, numbers, destinations, reply codes."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from integrations.twilio.models import (
    CallDestination,
    PhoneCall,
    SmsCode,
    TwilioAccount,
    TwilioNumber,
)
from opsduty.models import Organization, User


def account_get(*, organization_id: int) -> TwilioAccount | None:
    """The organization's Twilio account, if it set one up."""
    return TwilioAccount.objects.filter(organization_id=organization_id).first()


def number_list(*, organization: Organization) -> list[TwilioNumber]:
    return list(
        TwilioNumber.objects.filter(organization=organization).prefetch_related(
            "destinations__service"
        )
    )


def number_for_sending(*, organization_id: int, to: str, voice: bool) -> TwilioNumber | None:
    """The number to send from: SMS (or voice) notifications on, the recipient's country
    code first (a local sender is cheaper and more often delivered), else the first."""
    numbers = list(
        TwilioNumber.objects.filter(
            organization_id=organization_id,
            **({"voice_enabled": True} if voice else {"sms_enabled": True}),
        ).order_by("phone_number")
    )
    if not numbers:
        return None
    for length in (4, 3, 2):
        local = [n for n in numbers if n.phone_number[:length] == to[:length]]
        if local:
            return local[0]
    return numbers[0]


def number_by_phone(*, phone_number: str) -> TwilioNumber | None:
    """The bought number `phone_number` (inbound SMS and calls), with its account."""
    return TwilioNumber.objects.select_related("account").filter(phone_number=phone_number).first()


def destination_list(*, number: TwilioNumber) -> list[CallDestination]:
    return list(number.destinations.select_related("service").order_by("digit"))


def person_by_phone(*, organization_id: int, phone_number: str) -> User | None:
    """The active person of the organization whose verified number this is."""
    return (
        User.objects.filter(
            organization_id=organization_id,
            phone_number=phone_number,
            phone_verified_at__isnull=False,
            is_active=True,
        )
        .order_by("id")
        .first()
    )


def sms_code_find(*, user: User, code: int | None) -> SmsCode | None:
    """The SMS a reply means: the newest with `code`, or the newest of all (bare "a")."""
    rows = SmsCode.objects.filter(user=user).select_related("incident")
    if code is not None:
        rows = rows.filter(code=code)
    return rows.order_by("-created_at", "-id").first()


def public_url(path: str) -> str:
    """`path` on this server's public address (`OPSDUTY_PUBLIC_URL`)."""
    return settings.OPSDUTY_PUBLIC_URL + path


def callback_url(account: TwilioAccount, name: str, **kwargs: object) -> str:
    """The public URL of one of our Twilio endpoints (what Twilio calls, and signs)."""
    return public_url(reverse(name, kwargs={"key": account.webhook_key, **kwargs}))


def notification_call_get(
    *, organization_id: int, notification_id: int, call_sid: str
) -> PhoneCall | None:
    """The call placed for a voice notification, with its incident and person."""
    return (
        PhoneCall.objects.select_related("incident__service", "user")
        .filter(
            organization_id=organization_id,
            call_sid=call_sid,
            notification_id=notification_id,
        )
        .first()
    )
