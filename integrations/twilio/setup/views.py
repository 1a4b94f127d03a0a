"""Settings -> Telephony (owners): the Twilio account, rate limits, numbers (search, buy,
release, what each does, incoming-call destinations) and addresses. Thin: the writes are in
services.py, Twilio's lists in selectors.py; ids in URLs are looked up in the organization."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseBase, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from integrations.twilio import errors
from integrations.twilio import selectors as twilio_selectors
from integrations.twilio.models import CallDestination, TwilioAccount, TwilioNumber
from integrations.twilio.setup import selectors, services
from integrations.twilio.setup.forms import (
    AccountForm,
    AddressForm,
    BuyForm,
    DestinationForm,
    LimitsForm,
    NumberForm,
    NumberSearchForm,
    destination_services,
)
from opsduty.navigation import SettingsPage
from opsduty.tenancy import get_for_org_or_404
from opsduty.views.common import AuthedRequest, add_validation_error, require_owner

ACTIVE = "telephony"
SETTINGS_PAGE = SettingsPage(label="Telephony", url_name="twilio_settings", active=ACTIVE)
HOME = "twilio_settings"


def _account(request: AuthedRequest) -> TwilioAccount | None:
    return twilio_selectors.account_get(organization_id=request.organization.pk)


def _number(request: AuthedRequest, number_id: int) -> TwilioNumber:
    numbers = TwilioNumber.objects.select_related("account")
    return get_for_org_or_404(numbers, request.organization, pk=number_id)


def _number_rows(
    request: AuthedRequest, bound: dict[int, DestinationForm] | None = None
) -> list[dict[str, Any]]:
    """Each number with its settings form, destinations and the form to add one."""
    rows = []
    services = destination_services(request.organization)
    for number in twilio_selectors.number_list(organization=request.organization):
        form = (bound or {}).get(number.pk) or DestinationForm(
            organization=request.organization, services=services
        )
        destinations = sorted(number.destinations.all(), key=lambda d: d.digit)
        rows.append({"number": number, "destinations": destinations, "form": form})
    return rows


def _page(
    request: AuthedRequest,
    *,
    account_form: AccountForm | None = None,
    limits_form: LimitsForm | None = None,
    destination_forms: dict[int, DestinationForm] | None = None,
    status: int = 200,
) -> HttpResponse:
    account = _account(request)
    replacing = account is None or request.GET.get("replace") == "1" or account_form is not None
    context = {
        "active": ACTIVE,
        "account": account,
        "account_form": account_form or (AccountForm() if replacing else None),
        "limits_form": limits_form or (LimitsForm(instance=account) if account else None),
        "rows": _number_rows(request, destination_forms) if account else [],
        "voice_url_example": twilio_selectors.public_url("/integrations/twilio/…/voice/"),
    }
    return render(request, "integrations/twilio/settings.html", context, status=status)


@require_GET
@login_required
def telephony_settings(request: AuthedRequest) -> HttpResponse:
    """The account (or the form to set it), limits, and the organization's numbers."""
    require_owner(request)
    return _page(request)


@sensitive_post_parameters("auth_token")
@require_POST
@login_required
def account_save(request: AuthedRequest) -> HttpResponseBase:
    """Check the SID and token with Twilio, then store them (the token encrypted)."""
    require_owner(request)
    form = AccountForm(request.POST)
    if form.is_valid():
        try:
            account = services.account_save(organization=request.organization, **form.cleaned_data)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            name = f" ({account.friendly_name})" if account.friendly_name else ""
            messages.success(request, f"Twilio account {account.account_sid}{name} saved.")
            return redirect(HOME)
    return _page(request, account_form=form, status=400)


@require_http_methods(["GET", "POST"])
@login_required
def account_remove(request: AuthedRequest) -> HttpResponseBase:
    """Confirm (GET) and forget (POST) the account and its numbers."""
    require_owner(request)
    account = _account(request)
    if account is None:
        return redirect(HOME)
    if request.method == "POST":
        services.account_remove(account=account)
        messages.success(request, f"Twilio account {account.account_sid} removed.")
        return redirect(HOME)
    context = {"active": ACTIVE, "account": account, "numbers": account.numbers.count()}
    return render(request, "integrations/twilio/account_remove.html", context)


@require_POST
@login_required
def limits_update(request: AuthedRequest) -> HttpResponseBase:
    """SMS and calls per person in a window (the providers' rate limits)."""
    require_owner(request)
    account = _account(request)
    if account is None:
        return redirect(HOME)
    form = LimitsForm(request.POST, instance=account)
    if not form.is_valid():
        account.refresh_from_db()
        return _page(request, limits_form=form, status=400)
    services.account_limits_update(account=account, **form.cleaned_data)
    messages.success(request, "Rate limits saved.")
    return redirect(HOME)


# --- numbers ---------------------------------------------------------------------------------


def _search_page(
    request: AuthedRequest,
    account: TwilioAccount,
    data: QueryDict | None,
    buy_error: list[str] | None = None,
) -> HttpResponse:
    form = NumberSearchForm(data) if data is not None else NumberSearchForm()
    found: list[selectors.AvailableNumber] = []
    addresses: list[selectors.Address] = []
    if data is not None and form.is_valid():
        try:
            found = selectors.available_number_list(account=account, **form.cleaned_data)
            if any(number.needs_address for number in found):
                addresses = selectors.address_list(account=account)
        except services.PROVIDER_ERRORS as error:
            form.add_error(None, errors.describe(error))
    context = {
        "active": ACTIVE,
        "form": form,
        "searched": data is not None and form.is_valid(),
        "found": found,
        "addresses": addresses,
        "buy_error": buy_error or [],
        # Twilio's 21615 / 21631: "Phone Number Requires a (Local) Address".
        "address_problem": any("address" in message.lower() for message in buy_error or []),
    }
    return render(
        request, "integrations/twilio/number_search.html", context, status=400 if buy_error else 200
    )


@require_GET
@login_required
def number_search(request: AuthedRequest) -> HttpResponseBase:
    """Numbers Twilio offers (country, area code, contains), each with a Buy button."""
    require_owner(request)
    account = _account(request)
    if account is None:
        return redirect(HOME)
    return _search_page(request, account, request.GET if "country" in request.GET else None)


@require_POST
@login_required
def number_buy(request: AuthedRequest) -> HttpResponseBase:
    """Buy a number found by the search (with an address where Twilio requires one)."""
    require_owner(request)
    account = _account(request)
    if account is None:
        return redirect(HOME)
    form = BuyForm(request.POST)
    if not form.is_valid():
        return _search_page(request, account, request.POST, ["Choose a number from the list."])
    try:
        number = services.number_buy(account=account, **form.cleaned_data)
    except ValidationError as error:
        return _search_page(request, account, request.POST, error.messages)
    messages.success(
        request, f"Bought {number.phone_number}: its calls and SMS now come to OpsDuty."
    )
    return redirect(HOME)


@require_POST
@login_required
def number_update(request: AuthedRequest, number_id: int) -> HttpResponseBase:
    """SMS and voice notifications on or off for one number."""
    number = _number(request, number_id)
    require_owner(request)
    form = NumberForm(request.POST)
    form.is_valid()  # two check boxes: anything missing is off
    services.number_update(
        number=number,
        sms_enabled=bool(form.cleaned_data.get("sms_enabled")),
        voice_enabled=bool(form.cleaned_data.get("voice_enabled")),
    )
    messages.success(request, f"{number.phone_number} saved.")
    return redirect(HOME)


@require_http_methods(["GET", "POST"])
@login_required
def number_release(request: AuthedRequest, number_id: int) -> HttpResponseBase:
    """Confirm (GET) and release (POST) a number at Twilio; it is gone from OpsDuty after."""
    number = _number(request, number_id)
    require_owner(request)
    if request.method == "POST":
        try:
            services.number_release(number=number)
        except ValidationError as error:
            messages.error(request, f"{number.phone_number} was not released: {error.messages[0]}")
        else:
            messages.success(request, f"{number.phone_number} released.")
        return redirect(HOME)
    context = {"active": ACTIVE, "number": number}
    return render(request, "integrations/twilio/number_release.html", context)


@require_POST
@login_required
def destination_add(request: AuthedRequest, number_id: int) -> HttpResponseBase:
    """Callers to the number who press a digit reach a service of the organization."""
    number = _number(request, number_id)
    require_owner(request)
    form = DestinationForm(request.POST, organization=request.organization)
    if form.is_valid():
        try:
            services.destination_add(number=number, **form.cleaned_data)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, f"{number.phone_number}: destination added.")
            return redirect(HOME)
    return _page(request, destination_forms={number.pk: form}, status=400)


@require_POST
@login_required
def destination_remove(request: AuthedRequest, destination_id: int) -> HttpResponseBase:
    """Remove one digit of a number's menu."""
    queryset = CallDestination.objects.select_related("number", "service")
    destination = get_for_org_or_404(queryset, request.organization, pk=destination_id)
    require_owner(request)
    services.destination_remove(destination=destination)
    messages.success(
        request,
        f"{destination.number.phone_number}: digit {destination.digit} "
        f"({destination.service.name}) removed.",
    )
    return redirect(HOME)


# --- addresses -------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def addresses(request: AuthedRequest) -> HttpResponseBase:
    """The account's addresses at Twilio (some countries need one to buy a number), and the
    form to create one."""
    require_owner(request)
    account = _account(request)
    if account is None:
        return redirect(HOME)
    form = AddressForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.address_create(
                account=account, address=services.AddressInput(**form.cleaned_data)
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, "Address created: choose it when you buy a number.")
            return redirect("twilio_addresses")
    listed: list[selectors.Address] = []
    problem = ""
    try:
        listed = selectors.address_list(account=account)
    except services.PROVIDER_ERRORS as error:
        problem = errors.describe(error)
    context = {"active": ACTIVE, "form": form, "addresses": listed, "problem": problem}
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "integrations/twilio/addresses.html", context, status=status)
