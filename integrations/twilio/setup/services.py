"""Writes of Settings -> Telephony: the organization's Twilio account (checked against Twilio,
the token encrypted), its rate limits, numbers bought and released at Twilio, what each
number does, its incoming-call destinations, and addresses created at Twilio.

Provider calls happen before the database transaction that records their result (no row
lock is held across a request to Twilio); Twilio's refusals come back as `ValidationError`
with `errors.describe`'s text, at the form field they concern.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from twilio.base.exceptions import TwilioException, TwilioRestException

from integrations.twilio import errors, selectors
from integrations.twilio.client import twilio_client
from integrations.twilio.models import CallDestination, TwilioAccount, TwilioNumber
from opsduty.crypto import secret_hint
from opsduty.models import Organization, Service

__all__ = [
    "AddressInput",
    "account_limits_update",
    "account_remove",
    "account_save",
    "address_create",
    "destination_add",
    "destination_remove",
    "number_buy",
    "number_release",
    "number_update",
]

NOT_FOUND = 20404
AUTH_FAILED = 20003
PROVIDER_ERRORS = (TwilioException, requests.RequestException)


def provider_error(error: Exception, field: str | None = None) -> ValidationError:
    """Twilio's refusal (or its silence) as a form error, at `field` when given."""
    message = errors.describe(error)
    return ValidationError({field: message} if field else message)


def _credentials_check(account_sid: str, auth_token: str) -> str:
    """Twilio's friendly name of the account, if the SID and token open it."""
    try:
        found = twilio_client(account_sid, auth_token).api.v2010.accounts(account_sid).fetch()
    except TwilioRestException as error:
        if error.status == 401 or error.code == AUTH_FAILED:  # noqa: PLR2004
            raise ValidationError(
                {"auth_token": "Twilio refused this Account SID and auth token (error 20003)."}
            ) from error
        raise provider_error(error, "account_sid") from error
    except PROVIDER_ERRORS as error:
        reason = errors.describe(error)
        raise ValidationError(
            {"account_sid": f"Could not reach Twilio to check the account ({reason})."}
        ) from error
    return str(found.friendly_name or "")[:200]


def account_save(*, organization: Organization, account_sid: str, auth_token: str) -> TwilioAccount:
    """Set (or replace) the organization's Twilio account after Twilio accepted the SID and
    token. Another account than the current one is refused while numbers of the current one
    are in use (they could not be released with the new credentials)."""
    name = _credentials_check(account_sid, auth_token)
    return _account_store(
        organization=organization, account_sid=account_sid, auth_token=auth_token, name=name
    )


@transaction.atomic
def _account_store(
    *, organization: Organization, account_sid: str, auth_token: str, name: str
) -> TwilioAccount:
    account = TwilioAccount.objects.select_for_update().filter(organization=organization).first()
    if account is None:
        account = TwilioAccount(organization=organization)
    elif account.account_sid != account_sid and account.numbers.exists():
        raise ValidationError(
            {
                "account_sid": "This organization uses numbers of account "
                f"{account.account_sid}: release them, or remove that account, first."
            }
        )
    now = timezone.now()
    account.account_sid = account_sid
    account.auth_token = auth_token
    account.auth_token_hint = secret_hint(auth_token)
    account.friendly_name = name
    account.checked_at = account.updated_at = now
    account.full_clean(exclude=["organization"])
    account.save()
    return account


@transaction.atomic
def account_limits_update(
    *, account: TwilioAccount, sms_limit: int, call_limit: int, limit_window_minutes: int
) -> TwilioAccount:
    """Per person: at most `sms_limit` SMS and `call_limit` calls per window."""
    account.sms_limit, account.call_limit = sms_limit, call_limit
    account.limit_window_minutes = limit_window_minutes
    account.updated_at = timezone.now()
    account.full_clean(exclude=["organization"])
    account.save(update_fields=["sms_limit", "call_limit", "limit_window_minutes", "updated_at"])
    return account


@transaction.atomic
def account_remove(*, account: TwilioAccount) -> None:
    """Forget the account, its numbers and destinations (the numbers stay bought at Twilio)."""
    account.delete()


def _client(account: TwilioAccount) -> Any:
    return twilio_client(account.account_sid, account.auth_token)


def number_buy(*, account: TwilioAccount, phone_number: str, address_sid: str = "") -> TwilioNumber:
    """Buy `phone_number` at Twilio with its voice and SMS URLs pointing at this server, and
    record it. A number that needs an address is refused by Twilio without one."""
    options: dict[str, str] = {"address_sid": address_sid} if address_sid else {}
    try:
        bought = _client(account).incoming_phone_numbers.create(
            phone_number=phone_number,
            voice_url=selectors.callback_url(account, "twilio_voice_inbound"),
            voice_method="POST",
            status_callback=selectors.callback_url(account, "twilio_incoming_status"),
            status_callback_method="POST",
            sms_url=selectors.callback_url(account, "twilio_sms_inbound"),
            sms_method="POST",
            **options,
        )
    except PROVIDER_ERRORS as error:
        raise provider_error(error) from error
    return _number_record(
        account=account, sid=str(bought.sid), phone_number=str(bought.phone_number)
    )


@transaction.atomic
def _number_record(*, account: TwilioAccount, sid: str, phone_number: str) -> TwilioNumber:
    try:
        with transaction.atomic():
            return TwilioNumber.objects.create(
                organization_id=account.organization_id,
                account=account,
                sid=sid,
                phone_number=phone_number,
            )
    except IntegrityError as error:
        raise ValidationError(f"{phone_number} is already in use in OpsDuty.") from error


def number_release(*, number: TwilioNumber) -> None:
    """Release the number at Twilio, then forget it (also when Twilio no longer has it)."""
    try:
        _client(number.account).incoming_phone_numbers(number.sid).delete()
    except TwilioRestException as error:
        if error.code != NOT_FOUND and error.status != 404:  # noqa: PLR2004
            raise provider_error(error) from error
    except PROVIDER_ERRORS as error:
        raise provider_error(error) from error
    _number_forget(number=number)


@transaction.atomic
def _number_forget(*, number: TwilioNumber) -> None:
    number.delete()


@transaction.atomic
def number_update(*, number: TwilioNumber, sms_enabled: bool, voice_enabled: bool) -> TwilioNumber:
    """Whether SMS and voice notifications may be sent from `number`."""
    number.sms_enabled, number.voice_enabled = sms_enabled, voice_enabled
    number.save(update_fields=["sms_enabled", "voice_enabled"])
    return number


@transaction.atomic
def destination_add(*, number: TwilioNumber, digit: int, service: Service) -> CallDestination:
    """Callers to `number` who press `digit` reach `service` (one of the number's
    organization, which the caller checked)."""
    taken = ValidationError({"digit": f"Digit {digit} already leads to another service."})
    if number.destinations.filter(digit=digit).exists():
        raise taken
    try:
        with transaction.atomic():
            return CallDestination.objects.create(
                organization_id=number.organization_id, number=number, digit=digit, service=service
            )
    except IntegrityError as error:  # the same digit, added at the same moment
        raise taken from error


@transaction.atomic
def destination_remove(*, destination: CallDestination) -> None:
    destination.delete()


@dataclass(frozen=True)
class AddressInput:
    customer_name: str
    street: str
    city: str
    region: str
    postal_code: str
    iso_country: str


def address_create(*, account: TwilioAccount, address: AddressInput) -> str:
    """Create `address` in the organization's Twilio account; its SID (Twilio keeps it)."""
    try:
        created = _client(account).addresses.create(
            customer_name=address.customer_name,
            street=address.street,
            city=address.city,
            region=address.region,
            postal_code=address.postal_code,
            iso_country=address.iso_country,
        )
    except PROVIDER_ERRORS as error:
        raise provider_error(error) from error
    return str(created.sid)
