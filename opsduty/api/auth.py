"""Bearer-token authentication, the `api` scope check and the per-user rate limit of API v1.

Every failure to authenticate answers 401 (never 403) with a `WWW-Authenticate: Bearer`
challenge: the 0.1.0 client parses 401 bodies, and declares 403 nowhere.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import redis
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.www_authenticate import build_bearer_challenge
from rest_framework.authentication import get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from opsduty.models import User
from opsduty.services import API_TOKEN_SCOPES, api_token_touch

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from rest_framework.views import APIView

# A token must carry one of these to reach /api/v1/ ("api" also covers later versions).
API_SCOPES = frozenset(API_TOKEN_SCOPES)

MSG_INVALID = "Invalid token."
MSG_INACTIVE_USER = "The user of this token is inactive."
MSG_MISSING_SCOPE = "The token does not have the 'api' or 'api:v1' scope."


def _auth_failure(
    request: Request, description: str, error: str = "invalid_token"
) -> AuthenticationFailed:
    """Record the reason for the `WWW-Authenticate` challenge; return the 401 to raise."""
    request.oauth2_error = OrderedDict(  # type: ignore[attr-defined]
        [("error", error), ("error_description", description)]
    )
    return AuthenticationFailed(description)


class BearerTokenAuthentication(OAuth2Authentication):  # type: ignore[misc]
    """Authenticate `Authorization: Bearer <token>` against django-oauth-toolkit's tokens.

    No header: returns None, so DRF answers 401 "Authentication credentials were not
    provided.". A header with an unknown, expired or revoked token, or the token of an
    inactive user: 401 with the reason. Tokens in the query string (`?access_token=`),
    which oauthlib would accept, are ignored: URLs end up in logs. A personal token's last
    use is recorded, at most once a minute.
    """

    www_authenticate_realm = "api"

    def authenticate(self, request: Request) -> tuple[User, Any] | None:
        scheme, _, token = get_authorization_header(request).partition(b" ")
        if scheme.lower() != b"bearer":
            return None
        if not token.strip():
            raise _auth_failure(request, MSG_INVALID)
        # The plain Django request: DOT reads `.POST`, which on a DRF request would parse
        # the JSON body before the token is checked (a bad body would then mask a 401).
        result = super().authenticate(request._request)
        if result is None:
            error: dict[str, str] = getattr(request, "oauth2_error", None) or {}
            raise AuthenticationFailed(error.get("error_description") or MSG_INVALID)
        user, access_token = result
        if not isinstance(user, User):
            # Client-credentials tokens have no user, hence no organization to scope by.
            raise _auth_failure(request, MSG_INVALID)
        if not user.is_active:
            raise _auth_failure(request, MSG_INACTIVE_USER)
        api_token_touch(access_token=access_token, now=timezone.now())
        return user, access_token

    def authenticate_header(self, request: Request) -> str:
        error = getattr(request, "oauth2_error", None) or {}
        challenge: str = build_bearer_challenge(
            request,
            oauth2_error=error,
            realm=self.www_authenticate_realm,
            resource_metadata_url=None,
        )
        return challenge


class HasApiScope(BasePermission):
    """Allow a request whose bearer token has the `api` or `api:v1` scope; else 401."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        token = request.auth
        if token is None or not isinstance(request.user, User):
            return False  # DRF turns this into 401 NotAuthenticated (an authenticator exists).
        scopes = set(str(getattr(token, "scope", "")).split())
        if scopes.isdisjoint(API_SCOPES):
            raise _auth_failure(request, MSG_MISSING_SCOPE, error="insufficient_scope")
        return True


class TokenRateThrottle(SimpleRateThrottle):
    """Rate limit per authenticated user (all their tokens together); 429 with Retry-After.

    The rate is `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["token"]` (env OPSDUTY_API_RATE),
    read per request rather than at import so that overridden settings take effect.
    """

    scope = "token"

    def get_rate(self) -> str | None:
        rates: dict[str, Any] = api_settings.DEFAULT_THROTTLE_RATES
        rate = rates.get(self.scope or "")
        return None if rate is None else str(rate)

    def allow_request(self, request: Request, view: APIView) -> bool:
        """The counters live in Redis: when it cannot be reached, requests go unthrottled
        (a warning is logged) rather than failing with a 500."""
        try:
            return bool(super().allow_request(request, view))
        except redis.RedisError:
            logger.warning("API rate limit skipped: Redis unavailable")
            return True

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        if not isinstance(request.user, User):
            return None  # public views (schema, docs) are not throttled
        return self.cache_format % {"scope": self.scope, "ident": f"user-{request.user.pk}"}


class BearerTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """OpenAPI security schemes: a plain bearer token, or OAuth2 authorization code + PKCE."""

    target_class = "opsduty.api.auth.BearerTokenAuthentication"
    name = ["bearerAuth", "oauth2"]

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[str]]]:
        return [{"bearerAuth": []}, {"oauth2": ["api:v1"]}]

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        scopes = dict(oauth2_settings.SCOPES)
        return [
            {"type": "http", "scheme": "bearer", "description": "An OAuth2 access token."},
            {
                "type": "oauth2",
                "description": "Authorization code with PKCE (S256); client_secret_basic.",
                "flows": {
                    "authorizationCode": {
                        "authorizationUrl": "/oauth2/authorize/",
                        "tokenUrl": "/oauth2/token/",
                        "refreshUrl": "/oauth2/token/",
                        "scopes": scopes,
                    }
                },
            },
        ]
