"""The fake Twilio's state: accounts, numbers, messages, calls, addresses and the phones
on the far side, plus the catalogue of numbers it sells. Plain data; `server.py` locks it."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

API_VERSION = "2010-04-01"
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
TERMINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})

# Twilio's default opt-out keywords (Advanced Opt-Out), case-insensitive, whole body.
OPT_OUT_KEYWORDS = {
    **dict.fromkeys(("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"), "STOP"),
    **dict.fromkeys(("START", "YES", "UNSTOP"), "START"),
    **dict.fromkeys(("HELP", "INFO"), "HELP"),
}


class FakeError(Exception):
    """A call of the fake's own API (Python or /_fake/) that makes no sense: unknown sid..."""


class ApiError(Exception):
    """A REST error answered in Twilio's shape (`code`, `message`, `more_info`, `status`)."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


def new_sid(prefix: str) -> str:
    """A Twilio-looking sid: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def rfc2822(at: float) -> str:
    """Twilio's date format (`Wed, 18 Aug 2010 20:01:40 +0000`)."""
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(at))


def account_uri(account_sid: str, rest: str) -> str:
    return f"/{API_VERSION}/Accounts/{account_sid}/{rest}"


@dataclass
class Account:
    sid: str
    token: str
    friendly_name: str
    created: float = field(default_factory=time.time)

    def resource(self) -> dict[str, Any]:
        when = rfc2822(self.created)
        return {
            "sid": self.sid,
            "owner_account_sid": self.sid,
            "friendly_name": self.friendly_name,
            "status": "active",
            "type": "Full",
            "auth_token": self.token,
            "date_created": when,
            "date_updated": when,
            "uri": f"/{API_VERSION}/Accounts/{self.sid}.json",
            "subresource_uris": {},
        }


@dataclass
class Number:
    """A number an account bought (IncomingPhoneNumber)."""

    sid: str
    account_sid: str
    phone_number: str
    iso_country: str
    friendly_name: str = ""
    voice_url: str = ""
    voice_method: str = "POST"
    sms_url: str = ""
    sms_method: str = "POST"
    status_callback: str = ""
    address_sid: str = ""
    created: float = field(default_factory=time.time)

    def resource(self) -> dict[str, Any]:
        when = rfc2822(self.created)
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "phone_number": self.phone_number,
            "friendly_name": self.friendly_name or self.phone_number,
            "voice_url": self.voice_url,
            "voice_method": self.voice_method,
            "sms_url": self.sms_url,
            "sms_method": self.sms_method,
            "status_callback": self.status_callback,
            "address_sid": self.address_sid or None,
            "address_requirements": COUNTRIES[self.iso_country].address_requirements,
            "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
            "origin": "twilio",
            "status": "in-use",
            "api_version": API_VERSION,
            "date_created": when,
            "date_updated": when,
            "uri": account_uri(self.account_sid, f"IncomingPhoneNumbers/{self.sid}.json"),
        }


@dataclass
class Address:
    sid: str
    account_sid: str
    customer_name: str
    street: str
    city: str
    region: str
    postal_code: str
    iso_country: str
    friendly_name: str = ""
    created: float = field(default_factory=time.time)

    def resource(self) -> dict[str, Any]:
        when = rfc2822(self.created)
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "customer_name": self.customer_name,
            "friendly_name": self.friendly_name or None,
            "street": self.street,
            "street_secondary": None,
            "city": self.city,
            "region": self.region,
            "postal_code": self.postal_code,
            "iso_country": self.iso_country,
            "emergency_enabled": False,
            "validated": True,
            "verified": False,
            "date_created": when,
            "date_updated": when,
            "uri": account_uri(self.account_sid, f"Addresses/{self.sid}.json"),
        }


@dataclass
class Message:
    sid: str
    account_sid: str
    from_: str
    to: str
    body: str
    direction: str  # "outbound-api", "outbound-reply" or "inbound"
    status: str
    status_callback: str = ""
    error_code: int | None = None
    created: float = field(default_factory=time.time)

    def resource(self) -> dict[str, Any]:
        when = rfc2822(self.created)
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "from": self.from_,
            "to": self.to,
            "body": self.body,
            "direction": self.direction,
            "status": self.status,
            "error_code": self.error_code,
            "error_message": None,
            "num_segments": "1",
            "num_media": "0",
            "price": None,
            "price_unit": "USD",
            "messaging_service_sid": None,
            "api_version": API_VERSION,
            "date_created": when,
            "date_updated": when,
            "date_sent": when if self.status not in ("queued", "accepted") else None,
            "uri": account_uri(self.account_sid, f"Messages/{self.sid}.json"),
            "subresource_uris": {},
        }


@dataclass
class Call:
    sid: str
    account_sid: str
    from_: str
    to: str
    direction: str  # "outbound-api", "inbound" or "outbound-dial"
    status: str = "queued"
    url: str = ""  # the document being run (relative URLs in TwiML resolve against it)
    method: str = "POST"
    twiml: str = ""
    status_callback: str = ""
    status_callback_method: str = "POST"
    status_events: frozenset[str] = frozenset({"completed"})
    machine_detection: bool = False
    answered_by: str = ""
    parent_sid: str = ""
    transcript: list[str] = field(default_factory=list)
    verbs: list[Any] = field(default_factory=list)  # ElementTree elements still to run
    waiting: str = ""  # "keys", "recording", "dial" or "" (see voice.py)
    gather: dict[str, str] = field(default_factory=dict)  # the attributes of what waits
    leg_sid: str = ""  # the <Dial>ed child call
    bridged: bool = False
    duration: int = 0
    sequence: int = 0
    created: float = field(default_factory=time.time)

    def resource(self) -> dict[str, Any]:
        when = rfc2822(self.created)
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "from": self.from_,
            "from_formatted": self.from_,
            "to": self.to,
            "to_formatted": self.to,
            "direction": self.direction,
            "status": self.status,
            "answered_by": self.answered_by or None,
            "parent_call_sid": self.parent_sid or None,
            "duration": str(self.duration) if self.status in TERMINAL else None,
            "caller_name": None,
            "price": None,
            "price_unit": "USD",
            "api_version": API_VERSION,
            "date_created": when,
            "date_updated": when,
            "start_time": when,
            "end_time": None,
            "uri": account_uri(self.account_sid, f"Calls/{self.sid}.json"),
            "subresource_uris": {},
        }


@dataclass
class Phone:
    """A handset on the far side: what it received and sent, and how it behaves."""

    number: str
    sms_error: int | None = None  # 30003 (unreachable) / 30005 (unknown): SMS undelivered
    opted_out_of: set[str] = field(default_factory=set)  # bought numbers it sent STOP to
    message_sids: list[str] = field(default_factory=list)
    call_sids: list[str] = field(default_factory=list)

    @property
    def sms_undeliverable(self) -> bool:
        return self.sms_error is not None

    @sms_undeliverable.setter
    def sms_undeliverable(self, value: bool) -> None:
        self.sms_error = 30003 if value else None


@dataclass(frozen=True)
class RecordedRequest:
    """One REST request as the provider received it."""

    method: str
    path: str
    params: dict[str, str]  # form (POST) or query (GET) parameters, first value of each
    lists: dict[str, list[str]]  # every value, for repeated ones (StatusCallbackEvent)
    auth_sid: str


@dataclass(frozen=True)
class Delivery:
    """One signed request the fake sent to the application."""

    url: str  # the URL the app gave (and the signature covers)
    sent_to: str  # where it really went (after `forward`)
    method: str
    params: dict[str, str]
    signature: str
    status: int  # the app's HTTP status; 0 when it could not be reached
    body: str


@dataclass(frozen=True)
class Country:
    """How the fake makes up available numbers for one country."""

    prefix: str  # E.164 digits before the last two (US: the area code goes in `{area}`)
    locality: str
    region: str
    address_requirements: str  # "none", "any", "local" (or "foreign", unused here)


COUNTRIES = {
    "US": Country("+1{area}55501", "San Francisco", "CA", "none"),
    "GB": Country("+4420794600", "London", "London", "none"),
    "DE": Country("+4930555010", "Berlin", "BE", "local"),
    "FR": Country("+3319999900", "Paris", "IDF", "local"),
    "AU": Country("+612555501", "Sydney", "NSW", "any"),
}
DEFAULT_AREA = {"US": "415"}
_KEYPAD = {
    c: d
    for d, letters in zip(
        "23456789", ("ABC", "DEF", "GHI", "JKL", "MNO", "PQRS", "TUV", "WXYZ"), strict=True
    )
    for c in letters
}


def catalogue(country: str, area_code: str = "") -> list[str]:
    """The 100 numbers the fake sells in `country` (US: in `area_code`), fixed order."""
    prefix = COUNTRIES[country].prefix.format(area=area_code or DEFAULT_AREA.get(country, ""))
    return [f"{prefix}{n:02d}" for n in range(100)]


def country_of(number: str) -> str | None:
    """The catalogue country a number comes from (None: the fake never sold it)."""
    for code, country in COUNTRIES.items():
        head = country.prefix.split("{")[0]
        if number.startswith(head) and len(number) == len(catalogue(code)[0]):
            return code
    return None


def contains_pattern(pattern: str) -> re.Pattern[str]:
    """Twilio's `Contains`: digits, `*` for any one digit, letters as on a keypad."""
    out = []
    for char in pattern.upper().lstrip("+"):
        if char == "*":
            out.append(r"\d")
        elif char.isdigit() or char in _KEYPAD:
            out.append(_KEYPAD.get(char, char))
        else:
            raise ValueError(char)
    return re.compile("".join(out))


def pretty(number: str) -> str:
    """`(415) 555-0100` for North American numbers, the E.164 form otherwise."""
    if number.startswith("+1") and len(number) == 12:
        return f"({number[2:5]}) {number[5:8]}-{number[8:]}"
    return number
