"""Who may read a public status page (docs/status-pages.md, "Access modes").

- `public`: anyone.
- `opsduty_members`: people signed in to OpsDuty in the page's organization; anyone else not
  signed in is sent to sign in and back; people of another organization get a 404.
- `custom_backend`: the customer's own login sends the visitor back with `?token=` made with
  the page's `access_secret`: `<payload>.<signature>`, where payload is the base64url (no
  padding) of the JSON `{"page": <page id>, "sub": "<visitor>", "exp": <unix seconds>}` and
  signature the base64url of HMAC-SHA256(access_secret, payload). A good token becomes a
  signed cookie for this page (path-bound, HttpOnly, SameSite=Lax) for SESSION_SECONDS.

The content of a page is the same for every visitor it lets in, so the cache (cache.py) is
keyed by the page and never by the visitor; this module decides before the cache is read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse

from statuspages.models import AccessMode, StatusPage

SESSION_SECONDS = 12 * 3600
TOKEN_PARAMETER = "token"  # noqa: S105 - the name of a query parameter


class Refusal(StrEnum):
    """Why a custom-backend visitor is refused (shown on the 403 page)."""

    NO_SESSION = "Sign in through the site that publishes this status page to read it."
    MALFORMED = "The sign-in token is not well formed."
    FORGED = "The signature of the sign-in token does not match the key of this page."
    EXPIRED = "The sign-in token has expired. Sign in again to get a fresh one."
    OTHER_PAGE = "The sign-in token was made for another status page."
    NOT_CONFIGURED = "This page has no access key yet: nobody can sign in to it."


@dataclass(frozen=True)
class Visitor:
    """A visitor let in (`subject`: who the customer's backend said they are, if any)."""

    subject: str = ""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def access_token_make(*, page_id: int, secret: str, subject: str, expires_at: int) -> str:
    """A custom-backend token (what a customer's backend makes: docs/status-pages.md)."""
    payload = _b64(
        json.dumps(
            {"page": page_id, "sub": subject, "exp": expires_at}, separators=(",", ":")
        ).encode()
    )
    signature = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(signature)}"


def access_token_check(page: StatusPage, token: str, now: float | None = None) -> Visitor | Refusal:
    """The visitor a token names, or why it is refused. The page named in the payload is
    compared first (to say so), then the signature (constant time), then the expiry."""
    if not page.access_secret:
        return Refusal.NOT_CONFIGURED
    payload, _, signature = token.rpartition(".")
    try:
        claims = json.loads(_unb64(payload))
        given = _unb64(signature)
        page_id, subject, expires_at = claims["page"], claims["sub"], claims["exp"]
    except (ValueError, binascii.Error, KeyError, TypeError):
        return Refusal.MALFORMED
    if not isinstance(page_id, int) or not isinstance(subject, str):
        return Refusal.MALFORMED
    if not isinstance(expires_at, int | float):
        return Refusal.MALFORMED
    if page_id != page.pk:
        return Refusal.OTHER_PAGE
    expected = hmac.new(page.access_secret.encode(), payload.encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, given):
        return Refusal.FORGED
    if expires_at <= (now if now is not None else time.time()):
        return Refusal.EXPIRED
    return Visitor(subject=subject[:200])


def cookie_name(page: StatusPage) -> str:
    return f"opsduty_sp_{page.pk}"


def _cookie_salt(page: StatusPage) -> str:
    # Rotating the page's key ends every session made under the old one.
    key_digest = hashlib.sha256(page.access_secret.encode()).hexdigest()[:16]
    return f"statuspages.access.{page.pk}.{key_digest}"


def session_cookie_set(
    response: HttpResponse, page: StatusPage, visitor: Visitor, path: str
) -> None:
    """Remember a custom-backend visitor on this page (a signed, path-bound cookie)."""
    response.set_signed_cookie(
        cookie_name(page),
        visitor.subject,
        salt=_cookie_salt(page),
        max_age=SESSION_SECONDS,
        path=path,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def _session_visitor(request: HttpRequest, page: StatusPage) -> Visitor | None:
    try:
        subject = request.get_signed_cookie(
            cookie_name(page), salt=_cookie_salt(page), max_age=SESSION_SECONDS
        )
    except (KeyError, signing.BadSignature):
        return None
    return Visitor(subject=subject or "")


@dataclass(frozen=True)
class Decision:
    """What to do with a request: let in (`visitor`), or answer `status` (302 to `location`,
    403 with `refusal`, 404)."""

    visitor: Visitor | None = None
    status: int = 200
    location: str = ""
    refusal: Refusal | None = None
    # A visitor who came with a good token: the answer sets the session cookie.
    new_session: bool = False


def sign_in_url(page: StatusPage, path: str, on_custom_domain: bool) -> str:
    """The OpsDuty sign-in page, coming back to the page afterwards. From a custom domain
    (whose visitors carry no OpsDuty session cookie), back to the page's /status/ address."""
    if on_custom_domain:
        back = f"/status/{page.slug}/"
        return f"{settings.OPSDUTY_PUBLIC_URL}/login/?{urlencode({'next': back})}"
    return f"/login/?{urlencode({'next': path})}"


def access_decide(request: HttpRequest, page: StatusPage, *, on_custom_domain: bool) -> Decision:
    """Whether this request may read `page` (docs/status-pages.md, "Access modes")."""
    if page.access_mode == AccessMode.OPSDUTY_MEMBERS:
        user = request.user
        if not user.is_authenticated:
            return Decision(
                status=302, location=sign_in_url(page, request.get_full_path(), on_custom_domain)
            )
        if getattr(user, "organization_id", None) != page.organization_id:
            return Decision(status=404)
        return Decision(visitor=Visitor(subject=str(user.pk)))
    if page.access_mode == AccessMode.CUSTOM_BACKEND:
        token = request.GET.get(TOKEN_PARAMETER)
        if token is not None:
            checked = access_token_check(page, token)
            if isinstance(checked, Refusal):
                return Decision(status=403, refusal=checked)
            return Decision(visitor=checked, new_session=True)
        visitor = _session_visitor(request, page)
        if visitor is None:
            return Decision(status=403, refusal=Refusal.NO_SESSION)
        return Decision(visitor=visitor)
    return Decision(visitor=Visitor())
