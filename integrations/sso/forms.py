"""The SSO settings form and the sign-in page's "Sign in with SSO" form."""

from __future__ import annotations

from django import forms

from integrations.sso.models import Method
from opsduty.models import Role


class SsoSettingsForm(forms.Form):
    """What an owner sets; the service checks the metadata, certificate and completeness."""

    method = forms.ChoiceField(label="Single sign-on", choices=Method.choices)
    email_domain = forms.CharField(
        label="Email domain",
        max_length=253,
        required=False,
        help_text="Your people's email domain, e.g. acme.com. The sign-in page finds your "
        "organization by it; for Google Workspace it is the Workspace domain that the hd "
        "claim must name.",
    )
    google_client_id = forms.CharField(label="Google client ID", max_length=255, required=False)
    google_client_secret = forms.CharField(
        label="Google client secret",
        required=False,
        strip=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="Stored encrypted and never shown again; leave empty to keep the saved one.",
    )
    saml_metadata_xml = forms.CharField(
        label="IdP metadata XML",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
        help_text="Paste the metadata XML of your IdP; the entity id, sign-in URL and "
        "certificate are read from it.",
    )
    saml_metadata_url = forms.URLField(
        label="or IdP metadata URL",
        required=False,
        max_length=1000,
        assume_scheme="https",
        help_text="Read once when you save (save again to read it again).",
    )
    saml_entity_id = forms.CharField(label="or IdP entity ID", max_length=1000, required=False)
    saml_sso_url = forms.URLField(
        label="IdP sign-in (SSO) URL", max_length=1000, required=False, assume_scheme="https"
    )
    saml_x509cert = forms.CharField(
        label="IdP signing certificate (X.509, PEM)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
    )
    require_sso = forms.BooleanField(
        label="Require SSO: members and stakeholders cannot sign in with a password "
        "(owners still can, as a way in when the IdP is down)",
        required=False,
    )
    jit_enabled = forms.BooleanField(
        label="Create people on their first SSO sign-in (just-in-time)", required=False
    )
    jit_role = forms.ChoiceField(
        label="Role of people created on their first sign-in",
        choices=Role.choices,
        initial=Role.MEMBER,
    )


class SsoSignInForm(forms.Form):
    """The sign-in page's SSO entry: a work email or the organization's domain."""

    who = forms.CharField(
        label="Work address or your organization's domain",
        max_length=254,
        widget=forms.TextInput(
            attrs={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}
        ),
        help_text="For organizations with single sign-on: you go on to your identity provider "
        "(Google Workspace, Okta, Entra ID…).",
    )
    next = forms.CharField(required=False, widget=forms.HiddenInput)
