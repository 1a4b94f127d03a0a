"""Twilio's REST API (2010-04-01) as far as OpsDuty uses it: paths, Basic auth, JSON shapes,
list pages and error bodies the `twilio` SDK parses. State changes go through `FakeTwilio`."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode

from integrations.twilio.fake.model import (
    API_VERSION,
    COUNTRIES,
    DEFAULT_AREA,
    E164,
    Account,
    Address,
    ApiError,
    Call,
    Message,
    Number,
    account_uri,
    catalogue,
    contains_pattern,
    country_of,
    new_sid,
    pretty,
)

if TYPE_CHECKING:
    from integrations.twilio.fake.server import FakeTwilio

Answer = tuple[int, dict[str, Any] | None]
_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+?)(?P<rest>/.+)?\.json$")
NOT_FOUND = (404, 20404, "The requested resource was not found")


class _Resource(Protocol):
    def resource(self) -> dict[str, Any]: ...


class Rest:
    """Answers one REST request (the server records it and holds the lock around us)."""

    def __init__(self, fake: FakeTwilio) -> None:
        self.fake = fake
        self.routes: list[tuple[str, str, re.Pattern[str], Callable[..., Answer]]] = [
            ("accounts", "GET POST", re.compile(r"^$"), self.account),
            ("messages", "GET POST", re.compile(r"^/Messages$"), self.messages),
            ("messages", "GET DELETE", re.compile(r"^/Messages/(?P<sid>[^/]+)$"), self.message),
            ("calls", "GET POST", re.compile(r"^/Calls$"), self.calls),
            ("calls", "GET POST", re.compile(r"^/Calls/(?P<sid>[^/]+)$"), self.call),
            (
                "available_phone_numbers",
                "GET",
                re.compile(r"^/AvailablePhoneNumbers/(?P<country>[A-Z]{2})/Local$"),
                self.available,
            ),
            (
                "incoming_phone_numbers",
                "GET POST",
                re.compile(r"^/IncomingPhoneNumbers$"),
                self.numbers,
            ),
            (
                "incoming_phone_numbers",
                "GET POST DELETE",
                re.compile(r"^/IncomingPhoneNumbers/(?P<sid>[^/]+)$"),
                self.number,
            ),
            ("addresses", "GET POST", re.compile(r"^/Addresses$"), self.addresses),
            ("addresses", "GET DELETE", re.compile(r"^/Addresses/(?P<sid>[^/]+)$"), self.address),
        ]

    def route(
        self, method: str, path: str
    ) -> tuple[str, str, Callable[..., Answer], dict[str, str]]:
        """(account sid in the path, kind, handler, path arguments) or a 404/405 ApiError."""
        match = _PATH.match(path)
        if match:
            for kind, methods, pattern, handler in self.routes:
                found = pattern.match(match["rest"] or "")
                if found and method not in methods.split():
                    raise ApiError(405, 20004, "Method not allowed")
                if found:
                    return match["account"], kind, handler, found.groupdict()
        raise ApiError(*NOT_FOUND)

    def authenticate(self, auth: tuple[str, str] | None, path_sid: str) -> Account:
        account = self.fake.accounts.get(auth[0]) if auth else None
        if account is None or auth is None or account.token != auth[1]:
            raise ApiError(401, 20003, "Authentication Error - invalid username")
        if path_sid != account.sid:
            raise ApiError(*NOT_FOUND)
        return account

    # ------------------------------------------------------------------ accounts

    def account(self, account: Account, method: str, params: dict[str, str], **_: Any) -> Answer:
        if method == "POST" and params.get("FriendlyName"):
            account.friendly_name = params["FriendlyName"]
        return 200, account.resource()

    # ------------------------------------------------------------------ messages

    def messages(self, account: Account, method: str, params: dict[str, str], **_: Any) -> Answer:
        mine = [m for m in reversed(self.fake.messages.values()) if m.account_sid == account.sid]
        if method == "GET":
            filters = {k: params[k] for k in ("To", "From") if params.get(k)}
            mine = [m for m in mine if filters.get("To", m.to) == m.to]
            mine = [m for m in mine if filters.get("From", m.from_) == m.from_]
            return 200, page(account.sid, "Messages", "messages", mine, params, filters)
        to, from_, body = params.get("To", ""), params.get("From", ""), params.get("Body", "")
        if not to:
            raise ApiError(400, 21604, "A 'To' phone number is required.")
        if not E164.match(to):
            raise ApiError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if self.fake.number_by_phone(from_, account.sid) is None:
            raise ApiError(
                400,
                21606,
                f"The From phone number {from_} is not a valid, SMS-capable inbound phone "
                "number or short code for your account.",
            )
        if not body:
            raise ApiError(400, 21602, "Message body is required.")
        if from_ in self.fake.phone(to).opted_out_of:
            raise ApiError(400, 21610, "Attempt to send to unsubscribed recipient")
        message = Message(
            new_sid("SM"),
            account.sid,
            from_,
            to,
            body,
            "outbound-api",
            "queued",
            status_callback=params.get("StatusCallback", ""),
        )
        self.fake.deliver_outbound(message)
        return 201, message.resource()

    def message(self, account: Account, method: str, sid: str, **_: Any) -> Answer:
        message = self.fake.messages.get(sid)
        if message is None or message.account_sid != account.sid:
            raise ApiError(*NOT_FOUND)
        if method == "DELETE":
            del self.fake.messages[sid]
            return 204, None
        return 200, message.resource()

    # ------------------------------------------------------------------ calls

    def calls(
        self,
        account: Account,
        method: str,
        params: dict[str, str],
        lists: dict[str, list[str]],
        **_: Any,
    ) -> Answer:
        mine = [c for c in reversed(self.fake.calls.values()) if c.account_sid == account.sid]
        if method == "GET":
            filters = {k: params[k] for k in ("To", "From", "Status") if params.get(k)}
            mine = [
                c
                for c in mine
                if (c.to, c.from_, c.status)
                == (
                    filters.get("To", c.to),
                    filters.get("From", c.from_),
                    filters.get("Status", c.status),
                )
            ]
            return 200, page(account.sid, "Calls", "calls", mine, params, filters)
        to, from_ = params.get("To", ""), params.get("From", "")
        if not to:
            raise ApiError(400, 21201, "No 'To' number is specified")
        if not E164.match(to):
            raise ApiError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if self.fake.number_by_phone(from_, account.sid) is None:
            raise ApiError(
                400,
                21210,
                f"The source phone number provided, {from_}, is not yet verified for your account.",
            )
        if not params.get("Url") and not params.get("Twiml"):
            raise ApiError(400, 21205, "Url parameter is required.")
        events = " ".join(lists.get("StatusCallbackEvent", [])).replace(",", " ").split()
        call = Call(
            new_sid("CA"),
            account.sid,
            from_,
            to,
            "outbound-api",
            url=params.get("Url", ""),
            method=params.get("Method", "POST").upper(),
            twiml=params.get("Twiml", ""),
            status_callback=params.get("StatusCallback", ""),
            status_callback_method=params.get("StatusCallbackMethod", "POST").upper(),
            status_events=frozenset(events or ["completed"]),
            machine_detection=params.get("MachineDetection", "") in ("Enable", "DetectMessageEnd"),
        )
        self.fake.place_call(call)
        return 201, call.resource()

    def call(
        self, account: Account, method: str, params: dict[str, str], sid: str, **_: Any
    ) -> Answer:
        call = self.fake.calls.get(sid)
        if call is None or call.account_sid != account.sid:
            raise ApiError(*NOT_FOUND)
        if method == "POST":
            self.fake.modify_call(call, params)
        return 200, call.resource()

    # ------------------------------------------------------------------ numbers

    def available(self, account: Account, params: dict[str, str], country: str, **_: Any) -> Answer:
        if country not in COUNTRIES:
            raise ApiError(*NOT_FOUND)
        area = params.get("AreaCode", "")
        if area and (country not in DEFAULT_AREA or not re.fullmatch(r"[2-9][0-9]{2}", area)):
            raise ApiError(400, 21452, f"AreaCode {area} is not valid")
        try:
            pattern = contains_pattern(params.get("Contains", ""))
        except ValueError as error:
            raise ApiError(400, 21405, f"Invalid Contains pattern character {error}") from None
        taken = {n.phone_number for n in self.fake.numbers.values()}
        size = _int(params.get("PageSize"), 50, 1, 1000)
        found = [
            available_resource(number, country)
            for number in catalogue(country, area)
            if number not in taken and pattern.search(number.lstrip("+"))
        ][:size]
        uri = account_uri(account.sid, f"AvailablePhoneNumbers/{country}/Local.json")
        return 200, {"available_phone_numbers": found, "uri": uri}

    def numbers(self, account: Account, method: str, params: dict[str, str], **_: Any) -> Answer:
        mine = [n for n in self.fake.numbers.values() if n.account_sid == account.sid]
        if method == "GET":
            filters = {k: params[k] for k in ("PhoneNumber", "FriendlyName") if params.get(k)}
            mine = [n for n in mine if filters.get("PhoneNumber", n.phone_number) == n.phone_number]
            return 200, page(
                account.sid, "IncomingPhoneNumbers", "incoming_phone_numbers", mine, params, filters
            )
        phone_number = params.get("PhoneNumber") or self._pick(params.get("AreaCode", ""))
        country = country_of(phone_number)
        taken = {n.phone_number for n in self.fake.numbers.values()}
        if country is None or phone_number in taken:
            raise ApiError(400, 21422, f"PhoneNumber {phone_number} is not available.")
        self._check_address(account, country, params.get("AddressSid", ""))
        number = Number(new_sid("PN"), account.sid, phone_number, country)
        _update_number(number, params)
        self.fake.numbers[number.sid] = number
        return 201, number.resource()

    def _pick(self, area: str) -> str:
        if not area:
            raise ApiError(400, 21421, "PhoneNumber or AreaCode is required.")
        taken = {n.phone_number for n in self.fake.numbers.values()}
        free = [n for n in catalogue("US", area) if n not in taken]
        if not free:
            raise ApiError(400, 21452, f"No phone numbers found in area code {area}.")
        return free[0]

    def _check_address(self, account: Account, country: str, address_sid: str) -> None:
        needs = COUNTRIES[country].address_requirements
        address = self.fake.addresses.get(address_sid)
        if address is not None and address.account_sid != account.sid:
            address = None
        if needs == "any" and address is None:
            raise ApiError(400, 21631, "Phone Number Requires an Address")
        if needs == "local" and (address is None or address.iso_country != country):
            raise ApiError(400, 21615, "Phone Number Requires a Local Address")

    def number(
        self, account: Account, method: str, params: dict[str, str], sid: str, **_: Any
    ) -> Answer:
        number = self.fake.numbers.get(sid)
        if number is None or number.account_sid != account.sid:
            raise ApiError(*NOT_FOUND)
        if method == "DELETE":
            del self.fake.numbers[sid]
            return 204, None
        if method == "POST":
            _update_number(number, params)
        return 200, number.resource()

    # ------------------------------------------------------------------ addresses

    def addresses(self, account: Account, method: str, params: dict[str, str], **_: Any) -> Answer:
        mine = [a for a in self.fake.addresses.values() if a.account_sid == account.sid]
        if method == "GET":
            filters = {k: params[k] for k in ("CustomerName", "IsoCountry") if params.get(k)}
            mine = [a for a in mine if filters.get("IsoCountry", a.iso_country) == a.iso_country]
            return 200, page(account.sid, "Addresses", "addresses", mine, params, filters)
        required = ("CustomerName", "Street", "City", "Region", "PostalCode", "IsoCountry")
        missing = [name for name in required if not params.get(name, "").strip()]
        if missing:
            # Twilio documents 21628 for an address that fails validation; the exact code for a
            # missing field is not published, so the fake answers that one with the field named.
            raise ApiError(400, 21628, f"Address Validation Error: {missing[0]} is required")
        address = Address(
            new_sid("AD"),
            account.sid,
            params["CustomerName"],
            params["Street"],
            params["City"],
            params["Region"],
            params["PostalCode"],
            params["IsoCountry"].upper(),
            friendly_name=params.get("FriendlyName", ""),
        )
        self.fake.addresses[address.sid] = address
        return 201, address.resource()

    def address(self, account: Account, method: str, sid: str, **_: Any) -> Answer:
        address = self.fake.addresses.get(sid)
        if address is None or address.account_sid != account.sid:
            raise ApiError(*NOT_FOUND)
        if method == "DELETE":
            del self.fake.addresses[sid]
            return 204, None
        return 200, address.resource()


def _update_number(number: Number, params: dict[str, str]) -> None:
    for param, attr in (
        ("FriendlyName", "friendly_name"),
        ("VoiceUrl", "voice_url"),
        ("VoiceMethod", "voice_method"),
        ("SmsUrl", "sms_url"),
        ("SmsMethod", "sms_method"),
        ("StatusCallback", "status_callback"),
        ("AddressSid", "address_sid"),
    ):
        if param in params:
            setattr(number, attr, params[param])


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        return min(max(int(value or default), low), high)
    except ValueError:
        return default


def available_resource(number: str, country: str) -> dict[str, Any]:
    where = COUNTRIES[country]
    return {
        "friendly_name": pretty(number),
        "phone_number": number,
        "lata": None,
        "locality": where.locality,
        "rate_center": where.locality.upper(),
        "latitude": None,
        "longitude": None,
        "region": where.region,
        "postal_code": None,
        "iso_country": country,
        "address_requirements": where.address_requirements,
        "beta": False,
        "capabilities": {"voice": True, "SMS": True, "MMS": True, "fax": False},
    }


def page(
    account_sid: str,
    name: str,
    key: str,
    items: Sequence[_Resource],
    params: dict[str, str],
    filters: dict[str, str],
) -> dict[str, Any]:
    """One page of a list, with Twilio's paging keys (`Page` and `PageSize` in the URIs)."""
    size = _int(params.get("PageSize"), 50, 1, 1000)
    number = _int(params.get("Page"), 0, 0, 10**6)
    start = number * size
    chunk = items[start : start + size]

    def uri(at: int) -> str:
        return account_uri(account_sid, f"{name}.json?") + urlencode(
            {**filters, "PageSize": size, "Page": at}
        )

    return {
        key: [item.resource() for item in chunk],
        "uri": uri(number),
        "first_page_uri": uri(0),
        "next_page_uri": uri(number + 1) if start + size < len(items) else None,
        "previous_page_uri": uri(number - 1) if number > 0 else None,
        "page": number,
        "page_size": size,
        "start": start,
        "end": start + max(len(chunk) - 1, 0),
    }
