"""Phone verification: a 6-digit code texted from one of the organization's numbers, typed
back on the profile, sets `User.phone_verified_at` (SMS and voice rules need it).

A code is stored as an HMAC (never in clear), expires after 10 minutes and allows 5 tries;
a person gets at most 5 codes an hour. Only the newest code of the person's current number
counts, so changing the number (which clears the verification) voids older codes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from integrations.twilio import errors, selectors
from integrations.twilio.client import twilio_client
from integrations.twilio.models import PhoneVerification
from integrations.twilio.setup.services import PROVIDER_ERRORS
from opsduty.models import User
from opsduty.phones import phone_display

__all__ = [
    "CODE_LIFETIME",
    "CODES_PER_HOUR",
    "TRIES_PER_CODE",
    "CheckResult",
    "phone_verification_check",
    "phone_verification_send",
]

CODE_LIFETIME = timedelta(minutes=10)
TRIES_PER_CODE = 5
CODES_PER_HOUR = 5


def code_hash(*, user_id: int, phone_number: str, code: str) -> str:
    """The stored form of a code: keyed by SECRET_KEY, bound to the person and the number."""
    value = f"{user_id}:{phone_number}:{code}"
    return salted_hmac("opsduty.phone-verification", value, algorithm="sha256").hexdigest()


def pending_get(*, user: User) -> PhoneVerification | None:
    """The newest unused code sent to the person's current number."""
    if not user.phone_number:
        return None
    return (
        PhoneVerification.objects.filter(
            user=user, phone_number=user.phone_number, verified_at__isnull=True
        )
        .order_by("-created_at", "-id")
        .first()
    )


@transaction.atomic
def phone_verification_send(*, user: User) -> PhoneVerification:
    """Text a new code to the person's number; `ValidationError` says why not (no number,
    verified already, STOP, no account or SMS number, 5 codes this hour, Twilio refused).

    The person's row is locked while counting, so two clicks cannot both pass the hourly limit;
    a code Twilio did not accept is rolled back (it does not count)."""
    locked = User.objects.select_for_update().get(pk=user.pk)
    if not locked.phone_number:
        raise ValidationError("Add your phone number under Contact methods first.")
    if locked.phone_verified:
        raise ValidationError("Your phone number is verified already.")
    if locked.sms_stopped_at is not None:
        raise ValidationError("You answered STOP to our SMS: text START to our number first.")
    account = selectors.account_get(organization_id=locked.organization_id)
    sender = selectors.number_for_sending(
        organization_id=locked.organization_id, to=locked.phone_number, voice=False
    )
    if account is None or sender is None:
        raise ValidationError("SMS is not set up yet: ask an owner (Settings, Telephony).")
    now = timezone.now()
    recent = PhoneVerification.objects.filter(
        user=locked, created_at__gt=now - timedelta(hours=1)
    ).count()
    if recent >= CODES_PER_HOUR:
        raise ValidationError(f"At most {CODES_PER_HOUR} codes an hour: try again later.")
    code = f"{secrets.randbelow(10**6):06d}"
    verification = PhoneVerification.objects.create(
        organization_id=locked.organization_id,
        user=locked,
        phone_number=locked.phone_number,
        code_hash=code_hash(user_id=locked.pk, phone_number=locked.phone_number, code=code),
        expires_at=now + CODE_LIFETIME,
        created_at=now,
    )
    try:
        twilio_client(account.account_sid, account.auth_token).messages.create(
            to=locked.phone_number,
            from_=sender.phone_number,
            body=f"Your OpsDuty code is {code}. It expires in 10 minutes.",
        )
    except PROVIDER_ERRORS as error:
        raise ValidationError(f"The code could not be sent: {errors.describe(error)}") from error
    return verification


@dataclass(frozen=True)
class CheckResult:
    """What the person is told: verified, or why not (and the tries left for this code)."""

    verified: bool
    message: str


@transaction.atomic
def phone_verification_check(*, user: User, code: str) -> CheckResult:
    """Compare `code` with the newest code sent to the person's number; a right one verifies
    the number, a wrong one uses one of the code's tries (kept: this does not raise)."""
    pending = pending_get(user=user)
    if pending is None:
        return CheckResult(False, "No code was sent to this number: ask for one first.")
    pending = PhoneVerification.objects.select_for_update().get(pk=pending.pk)
    now = timezone.now()
    if pending.expires_at <= now:
        return CheckResult(False, "This code has expired: ask for a new one.")
    if pending.attempts >= TRIES_PER_CODE:
        return CheckResult(False, "Too many wrong tries for this code: ask for a new one.")
    expected = code_hash(user_id=user.pk, phone_number=pending.phone_number, code=code.strip())
    if not constant_time_compare(expected, pending.code_hash):
        pending.attempts += 1
        pending.save(update_fields=["attempts"])
        left = TRIES_PER_CODE - pending.attempts
        if left == 0:
            return CheckResult(False, "Wrong code, and that was the last try: ask for a new one.")
        return CheckResult(False, f"Wrong code: {left} tr{'y' if left == 1 else 'ies'} left.")
    pending.verified_at = now
    pending.save(update_fields=["verified_at"])
    User.objects.filter(pk=user.pk, phone_number=pending.phone_number).update(phone_verified_at=now)
    return CheckResult(True, f"{phone_display(pending.phone_number)} is verified.")
