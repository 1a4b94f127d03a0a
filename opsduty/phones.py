"""People's phone numbers: E.164 through `phonenumbers`, verified before SMS or voice use them.

The number and whether it is verified live on the core's `User`, because notification rules
and diagnostics (escalations) must know, and the core is what every app may read; the
verification code itself is sent by the telephony integration (integrations/twilio/).
"""

from __future__ import annotations

import phonenumbers
from django.core.exceptions import ValidationError

__all__ = ["phone_display", "phone_normalize"]


def phone_normalize(text: str) -> str:
    """`text` as E.164 ("+4722334455"), "" for blank; `ValidationError` when it is no number.

    Spaces, dashes and brackets are allowed; the country code is required (`+`).
    """
    text = (text or "").strip()
    if not text:
        return ""
    if not text.startswith("+") and not text.startswith("00"):
        raise ValidationError(
            "Start with + and the country code, e.g. +47 22 33 44 55.", code="phone_country"
        )
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as error:
        raise ValidationError(f"Not a phone number: {error}.", code="phone_invalid") from error
    if not phonenumbers.is_possible_number(parsed):
        raise ValidationError(
            "That number has the wrong length for its country.", code="phone_invalid"
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def phone_display(e164: str) -> str:
    """An E.164 number written for people ("+47 22 33 44 55"); as stored if it does not parse."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
