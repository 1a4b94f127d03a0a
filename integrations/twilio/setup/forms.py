"""Forms of Settings -> Telephony."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.validators import RegexValidator

from integrations.twilio.models import TwilioAccount
from opsduty.longchoices import NameChoiceField, SharedChoices
from opsduty.models import Organization, Service
from opsduty.tenancy import scoped

# Countries offered in the number search and for addresses (ISO 3166-1 alpha-2); Twilio sells
# numbers in more, which an owner can still reach through Twilio's console.
COUNTRIES = [
    ("AU", "Australia"),
    ("AT", "Austria"),
    ("BE", "Belgium"),
    ("BR", "Brazil"),
    ("CA", "Canada"),
    ("DK", "Denmark"),
    ("FI", "Finland"),
    ("FR", "France"),
    ("DE", "Germany"),
    ("IE", "Ireland"),
    ("IT", "Italy"),
    ("JP", "Japan"),
    ("NL", "Netherlands"),
    ("NZ", "New Zealand"),
    ("NO", "Norway"),
    ("PL", "Poland"),
    ("PT", "Portugal"),
    ("ES", "Spain"),
    ("SE", "Sweden"),
    ("CH", "Switzerland"),
    ("GB", "United Kingdom"),
    ("US", "United States"),
]


class AccountForm(forms.Form):
    account_sid = forms.CharField(
        label="Account SID",
        max_length=34,
        validators=[RegexValidator(r"^AC[0-9a-f]{32}$", "An Account SID is AC + 32 hex digits.")],
        help_text="On the dashboard of your Twilio console: AC followed by 32 characters.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    auth_token = forms.CharField(
        label="Auth token",
        max_length=64,
        strip=True,
        help_text="Checked with Twilio when you save, stored encrypted, never shown again.",
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )


class LimitsForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = TwilioAccount
        fields = ["sms_limit", "call_limit", "limit_window_minutes"]
        labels = {
            "sms_limit": "SMS per person",
            "call_limit": "Calls per person",
            "limit_window_minutes": "Window (minutes)",
        }


class NumberSearchForm(forms.Form):
    country = forms.ChoiceField(label="Country", choices=COUNTRIES, initial="US")
    area_code = forms.CharField(
        label="Area code",
        required=False,
        max_length=5,
        validators=[RegexValidator(r"^[0-9]{1,5}$", "Digits only, e.g. 415.")],
        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
    )
    contains = forms.CharField(
        label="Contains",
        required=False,
        max_length=16,
        validators=[RegexValidator(r"^[0-9A-Za-z*]{2,16}$", "Digits, letters or *, e.g. 555.")],
        help_text="Digits or letters the number should contain; * matches any digit.",
    )


class BuyForm(forms.Form):
    phone_number = forms.RegexField(regex=r"^\+[1-9][0-9]{6,14}$", max_length=16)
    address_sid = forms.RegexField(
        regex=r"^AD[0-9a-f]{32}$", required=False, label="Address", max_length=34
    )


class NumberForm(forms.Form):
    sms_enabled = forms.BooleanField(label="SMS notifications", required=False)
    voice_enabled = forms.BooleanField(label="Voice notifications", required=False)


EMPTY_LABEL = "---------"  # Django's own, shown before a service is chosen


class DestinationForm(forms.Form):
    digit = forms.TypedChoiceField(
        label="Digit", coerce=int, choices=[(d, str(d)) for d in range(1, 10)]
    )
    service = NameChoiceField(
        label="Service", queryset=Service.objects.none(), empty_label=EMPTY_LABEL
    )

    def __init__(
        self,
        *args: Any,
        organization: Organization,
        services: SharedChoices | None = None,
        **kwargs: Any,
    ) -> None:
        """`services`: the options as `destination_services` read them, once for every
        number of the settings page (else each form reads them: a query per number)."""
        super().__init__(*args, **kwargs)
        field = self.fields["service"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = scoped(Service, organization).order_by("name")
        if services is not None:
            field.choices = services  # shown; the queryset still checks the value


def destination_services(organization: Organization) -> SharedChoices:
    """The choices of `DestinationForm.service`: the services by name, as (id, name)."""
    services = scoped(Service, organization).order_by("name").values_list("pk", "name")
    return SharedChoices([("", EMPTY_LABEL), *services])


class AddressForm(forms.Form):
    customer_name = forms.CharField(label="Customer or company name", max_length=100)
    street = forms.CharField(label="Street and number", max_length=200)
    city = forms.CharField(label="City", max_length=100)
    region = forms.CharField(label="Region or state", max_length=100)
    postal_code = forms.CharField(label="Postal code", max_length=20)
    iso_country = forms.ChoiceField(label="Country", choices=COUNTRIES)
