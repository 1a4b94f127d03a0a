"""Shared set-up for telephony tests: an organization with a Twilio account on the fake, one
bought number, and a person with a verified phone; signed requests as Twilio sends them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.test import Client
from django.utils import timezone
from twilio.request_validator import RequestValidator

from escalations.notifications.rules import RuleInput, notification_rules_replace
from integrations.twilio.fake import FakeTwilio
from integrations.twilio.models import TwilioAccount, TwilioNumber
from opsduty.crypto import secret_hint
from opsduty.models import Organization, User

PUBLIC_URL = "https://ops.example.com"
OUR_NUMBER = "+15005550006"


@dataclass
class Telephony:
    account: TwilioAccount
    number: TwilioNumber
    fake: FakeTwilio


def telephony_set_up(
    *, organization: Organization, fake: FakeTwilio, sid: str, token: str, phone: str = OUR_NUMBER
) -> Telephony:
    """The organization's account (as the settings page saves it) and one number bought on
    the fake, whose SMS and voice URLs point at this server's public URL."""
    account = TwilioAccount.objects.create(
        organization=organization,
        account_sid=sid,
        auth_token=token,
        auth_token_hint=secret_hint(token),
    )
    key = account.webhook_key
    bought = fake.buy_number(
        sid,
        phone,
        sms_url=f"{PUBLIC_URL}/integrations/twilio/{key}/sms/",
        voice_url=f"{PUBLIC_URL}/integrations/twilio/{key}/voice/",
    )
    number = TwilioNumber.objects.create(
        organization=organization, account=account, sid=bought.sid, phone_number=phone
    )
    return Telephony(account=account, number=number, fake=fake)


def phone_verified(user: User, number: str, *rules: tuple[int, str]) -> User:
    """Give `user` a verified phone and these high-urgency rules (delay, channel)."""
    user.phone_number = number
    user.phone_verified_at = timezone.now()
    user.save(update_fields=["phone_number", "phone_verified_at"])
    notification_rules_replace(
        user=user,
        urgency="high",
        rules=[RuleInput(delay_minutes=delay, channel=channel) for delay, channel in rules],
    )
    return user


def signed_post(client: Client, path: str, params: dict[str, str], token: str) -> Any:
    """POST `params` to `path` signed over the public URL, as Twilio does."""
    signature = RequestValidator(token).compute_signature(
        settings.OPSDUTY_PUBLIC_URL + path, params
    )
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)
