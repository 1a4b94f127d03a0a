"""Reads of Settings -> Telephony: numbers for sale and addresses, as Twilio lists them, and
the organization's numbers with their destinations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from integrations.twilio.client import twilio_client
from integrations.twilio.models import TwilioAccount

__all__ = ["Address", "AvailableNumber", "address_list", "available_number_list"]

SEARCH_LIMIT = 20
ADDRESS_LIMIT = 100


@dataclass(frozen=True)
class AvailableNumber:
    """A number Twilio offers; `address_requirements` is none, any, local or foreign."""

    phone_number: str
    friendly_name: str
    locality: str
    region: str
    iso_country: str
    capabilities: tuple[str, ...]  # "voice", "SMS", "MMS"
    address_requirements: str

    @property
    def needs_address(self) -> bool:
        return self.address_requirements not in ("", "none")


@dataclass(frozen=True)
class Address:
    sid: str
    customer_name: str
    street: str
    city: str
    region: str
    postal_code: str
    iso_country: str

    def __str__(self) -> str:
        parts = (self.street, f"{self.postal_code} {self.city}".strip(), self.region)
        place = ", ".join(part for part in parts if part)
        return f"{self.customer_name}, {place} ({self.iso_country})"


def _capabilities(raw: Any) -> tuple[str, ...]:
    flags = {str(key).lower(): bool(value) for key, value in dict(raw or {}).items()}
    return tuple(name for name in ("voice", "SMS", "MMS") if flags.get(name.lower()))


def available_number_list(
    *, account: TwilioAccount, country: str, area_code: str = "", contains: str = ""
) -> list[AvailableNumber]:
    """Local numbers Twilio offers in `country` (ISO code); provider errors propagate."""
    filters: dict[str, object] = {}
    if area_code:
        filters["area_code"] = int(area_code)
    if contains:
        filters["contains"] = contains
    client = twilio_client(account.account_sid, account.auth_token)
    found = client.available_phone_numbers(country).local.list(limit=SEARCH_LIMIT, **filters)
    return [
        AvailableNumber(
            phone_number=str(item.phone_number),
            friendly_name=str(item.friendly_name or item.phone_number),
            locality=str(item.locality or ""),
            region=str(item.region or ""),
            iso_country=str(item.iso_country or country),
            capabilities=_capabilities(item.capabilities),
            address_requirements=str(item.address_requirements or "none"),
        )
        for item in found
    ]


def address_list(*, account: TwilioAccount) -> list[Address]:
    """The addresses of the organization's Twilio account; provider errors propagate."""
    client = twilio_client(account.account_sid, account.auth_token)
    return [
        Address(
            sid=str(item.sid),
            customer_name=str(item.customer_name or ""),
            street=str(item.street or ""),
            city=str(item.city or ""),
            region=str(item.region or ""),
            postal_code=str(item.postal_code or ""),
            iso_country=str(item.iso_country or ""),
        )
        for item in client.addresses.list(limit=ADDRESS_LIMIT)
    ]
