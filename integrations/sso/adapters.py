"""django-allauth runs the protocols (redirects, state, the SAML signature and the OpenID
Connect token checks); this adapter decides the rest, per organization:

- `list_apps`: allauth's "apps" are built from our `SsoSettings` rows, one per organization
  (`saml-<domain>`, `google-<domain>`), never read from allauth's own SocialApp table or
  settings. So an identity is always tied to one organization's IdP, and allauth's account
  tables key every linked identity by that organization's provider id.
- `pre_social_login`: after allauth verified the IdP's answer, `services.sso_sign_in` picks
  the person (or refuses with a page that says why) and the person is signed in here, the
  way our own sign-in does; allauth's sign-up and account pages are never reached.
"""

from __future__ import annotations

from typing import Any

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialApp, SocialLogin
from django.conf import settings
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from integrations.sso import selectors, services
from integrations.sso.models import Method, SsoSettings

SAML = "saml"
OIDC = "openid_connect"
FAILED = (
    "Single sign-on did not complete: the identity provider's answer could not be verified "
    "(a wrong or changed signature, another organization's answer, an expired or replayed "
    "one), or the sign-in was cancelled. Try again; if it keeps failing, ask an owner to "
    "check the SSO set-up."
)


# The attributes read from a SAML assertion, first found wins (docs/accounts.md, "SSO"): the
# names Entra ID and ADFS send, the LDAP OIDs (Shibboleth, Keycloak) and Okta's usual
# custom names. Without an email attribute, an emailAddress-format NameID is the address.
SAML_ATTRIBUTES = {
    "uid": ["urn:oasis:names:tc:SAML:attribute:subject-id"],
    "email": [
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "urn:oid:0.9.2342.19200300.100.1.3",
        "email",
        "mail",
    ],
    "first_name": [
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
        "urn:oid:2.5.4.42",
        "firstName",
        "givenName",
    ],
    "last_name": [
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
        "urn:oid:2.5.4.4",
        "lastName",
        "sn",
    ],
}


def refusal_page(request: HttpRequest, message: str, status: int = 403) -> HttpResponse:
    """The page an SSO sign-in that did not work ends on."""
    return render(request, "integrations/sso/refused.html", {"reason": message}, status=status)


def saml_app(sso: SsoSettings) -> SocialApp:
    """allauth's SAML app of an organization (not saved: built on each request)."""
    domain = sso.organization.domain
    return SocialApp(
        provider=SAML,
        provider_id=f"saml-{domain}",
        name=f"SAML ({sso.organization.name})",
        client_id=domain,
        settings={
            "organization_id": sso.organization_id,
            "attribute_mapping": SAML_ATTRIBUTES,
            "idp": {
                "entity_id": sso.saml_entity_id,
                "sso_url": sso.saml_sso_url,
                "x509cert": sso.saml_x509cert,
            },
            # The response and its assertion: at least one must be signed (python3-saml
            # checks every signature that is there); unsigned is refused.
            # Intranet deployments are often at a one-label host name (http://opsduty/).
            "advanced": {
                "strict": True,
                "reject_idp_initiated_sso": True,
                "allow_single_label_domains": True,
            },
        },
    )


def google_app(sso: SsoSettings) -> SocialApp:
    """allauth's OpenID Connect app of an organization's Google Workspace."""
    return SocialApp(
        provider=OIDC,
        provider_id=f"google-{sso.organization.domain}",
        name="Google Workspace",
        client_id=sso.google_client_id,
        secret=sso.google_client_secret,
        settings={
            "organization_id": sso.organization_id,
            "server_url": settings.OPSDUTY_SSO_GOOGLE_SERVER_URL,
            # Google shows only accounts of this Workspace; the `hd` claim is checked all
            # the same (pre_social_login): a hint is not a control.
            "auth_params": {"hd": sso.email_domain, "prompt": "select_account"},
            "oauth_pkce_enabled": True,
        },
    )


def app_for(sso: SsoSettings) -> SocialApp | None:
    """The organization's allauth app for its active method, if SSO is on and complete."""
    if not sso.active:
        return None
    return saml_app(sso) if sso.method == Method.SAML else google_app(sso)


def _identity(sociallogin: SocialLogin, is_google: bool) -> services.Identity:
    user = sociallogin.user
    account = sociallogin.account
    verified = True  # the organization's own SAML IdP vouches for the address it sends
    if is_google:
        claims = {**(account.extra_data or {}).get("userinfo", {})}
        claims.update((account.extra_data or {}).get("id_token", {}))
        verified = str(claims.get("email_verified", "")).lower() in {"true", "1"}
    return services.Identity(
        provider_key=account.provider,
        uid=str(account.uid),
        email=str(getattr(user, "email", "") or ""),
        email_verified=verified,
        first_name=str(getattr(user, "first_name", "") or ""),
        last_name=str(getattr(user, "last_name", "") or ""),
        linked_user_id=account.user_id if sociallogin.is_existing else None,
    )


def _hosted_domain(sociallogin: SocialLogin) -> str:
    """Google's `hd` claim: from the ID token, else from userinfo."""
    data = sociallogin.account.extra_data or {}
    for part in ("id_token", "userinfo"):
        value = (data.get(part) or {}).get("hd")
        if value:
            return str(value).lower()
    return ""


def _next_url(request: HttpRequest, sociallogin: SocialLogin) -> str:
    url = sociallogin.state.get("next")
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return str(url)
    return "home"


class SocialAccountAdapter(DefaultSocialAccountAdapter):  # type: ignore[misc]
    """Per-organization apps from `SsoSettings`; our own decision of who signs in."""

    def list_apps(
        self, request: HttpRequest | None, provider: str | None = None, client_id: str | None = None
    ) -> list[SocialApp]:
        if not provider:
            return []  # never list every organization's IdP
        if provider in (SAML, OIDC):
            if provider == OIDC or not client_id:
                return []  # an OpenID Connect app is always asked for by its provider id
            sso = selectors.sso_settings_for_key(client_id)
        elif provider.startswith(("saml-", "google-")):
            sso = selectors.sso_settings_for_key(provider)
        else:
            return []
        app = app_for(sso) if sso is not None else None
        if app is None or (provider not in (SAML, OIDC) and app.provider_id != provider):
            return []
        if client_id and app.client_id != client_id:
            return []
        return [app]

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        """The IdP's answer is verified: sign in the person it names in its organization,
        or refuse with a page saying why. Never returns: allauth's own flow stops here."""
        app = sociallogin.provider.app
        sso = selectors.sso_settings_for_key(str(app.provider_id))
        if sso is None or sso.organization_id != app.settings.get("organization_id"):
            raise ImmediateHttpResponse(refusal_page(request, FAILED))
        is_google = app.provider == OIDC
        if is_google and _hosted_domain(sociallogin) != sso.email_domain:
            message = services.REFUSED_WRONG_WORKSPACE.format(
                domain=sso.email_domain, org=sso.organization.name
            )
            raise ImmediateHttpResponse(refusal_page(request, message))
        try:
            user = services.sso_sign_in(sso=sso, identity=_identity(sociallogin, is_google))
        except services.SsoRefused as refused:
            raise ImmediateHttpResponse(refusal_page(request, str(refused))) from None
        login(request, user, backend="opsduty.auth.OrganizationEmailBackend")
        raise ImmediateHttpResponse(redirect(_next_url(request, sociallogin)))

    def on_authentication_error(
        self,
        request: HttpRequest,
        provider: Any,
        error: Any = None,
        exception: Any = None,
        extra_context: Any = None,
    ) -> None:
        raise ImmediateHttpResponse(refusal_page(request, FAILED))

    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return False  # people join through invitations or just-in-time creation, never here

    def is_auto_signup_allowed(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return False
