"""Twilio's answers, classified: permanent (retrying cannot help) or temporary (retry).

From Twilio's error dictionary (https://www.twilio.com/docs/api/errors): invalid, unreachable
or unsubscribed recipients, numbers that cannot send, and bad credentials are permanent;
rate limits (20429), Twilio's own 5xx and network trouble are retried by the outbox.
"""

from __future__ import annotations

from twilio.base.exceptions import TwilioRestException

__all__ = ["PERMANENT_CODES", "UNSUBSCRIBED", "describe", "is_permanent"]

UNSUBSCRIBED = 21610  # the recipient answered STOP to this sender
PERMANENT_CODES = frozenset(
    {
        20003,  # authentication failed (wrong SID or token)
        20404,  # not found (a released number, a closed account)
        21211,  # invalid "To" number
        21214,  # "To" number cannot be reached
        21215,  # geographic permission for calls not enabled
        21216,  # call blocked
        21217,  # "To" number is not a valid phone number
        21401,  # invalid phone number
        21408,  # permission to send SMS to this region not enabled
        21421,  # invalid phone number
        21601,  # "To" is not a valid SMS number
        21602,  # body required
        21606,  # "From" is not an SMS-capable number of this account
        21608,  # trial accounts: "To" not verified
        21610,  # unsubscribed (STOP)
        21612,  # cannot route between these numbers
        21614,  # "To" is not a mobile number
        21617,  # body too long
        13223,  # invalid phone number format (calls)
        13224,  # invalid phone number (calls)
        13225,  # forbidden phone number (calls)
        13227,  # no international permission (calls)
    }
)


def is_permanent(error: Exception) -> bool:
    """Whether retrying the same request cannot succeed."""
    if not isinstance(error, TwilioRestException):
        return False  # connection trouble, time-outs: retry
    if error.code in PERMANENT_CODES:
        return True
    status = int(error.status or 0)
    return 400 <= status < 500 and status != 429 and error.code != 20429  # noqa: PLR2004


def describe(error: Exception) -> str:
    """One line for the timeline: Twilio's code and message, never a credential."""
    if isinstance(error, TwilioRestException):
        message = " ".join(str(error.msg or "").split())[:300]
        return f"Twilio error {error.code or error.status}: {message}"
    return f"Twilio unreachable: {type(error).__name__}"
