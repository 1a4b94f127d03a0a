"""SSO: the settings page, the sign-in page's SSO start, and the protocol endpoints that
allauth serves, under /accounts/. Only these of allauth's views are routed: its own sign-in,
sign-up and account pages are not (our /login/ is the one password sign-in), and an IdP
cannot start a sign-in that we did not ask for (allauth's login views are not routed
either; `sso_start` starts every flow). Included by opsduty/urls.py."""

from __future__ import annotations

from allauth.socialaccount.providers.openid_connect import views as oidc_views
from allauth.socialaccount.providers.saml import views as saml_views
from django.urls import path

from integrations.sso import views

urlpatterns = [
    path("settings/sso/", views.sso_settings, name="sso_settings"),
    path("login/sso/", views.sso_start, name="sso_start"),
    path("accounts/saml/<str:organization_slug>/acs/", saml_views.acs, name="saml_acs"),
    path(
        "accounts/saml/<str:organization_slug>/acs/finish/",
        saml_views.finish_acs,
        name="saml_finish_acs",
    ),
    # The IdP's single logout (signed by it); its URL is also in our SP metadata.
    path("accounts/saml/<str:organization_slug>/sls/", saml_views.sls, name="saml_sls"),
    path(
        "accounts/saml/<str:organization_slug>/metadata/",
        saml_views.metadata,
        name="saml_metadata",
    ),
    path(
        "accounts/oidc/<str:provider_id>/login/callback/",
        oidc_views.callback,
        name="openid_connect_callback",
    ),
]
