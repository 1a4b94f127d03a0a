"""Sign-in: users authenticate with organization domain + email + password."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from opsduty.models import User, normalize_email

# Checks a correct password must also pass (an app at the edge registers them in its
# `AppConfig.ready`: integrations/sso refuses members of an organization that requires SSO).
# Each answers why `user` may not sign in with a password, or None.
PasswordSignInCheck = Callable[[User], "str | None"]
_password_checks: list[PasswordSignInCheck] = []


def password_sign_in_check_register(check: PasswordSignInCheck) -> None:
    """Add a check that a correct password must also pass (idempotent)."""
    if check not in _password_checks:
        _password_checks.append(check)


def password_sign_in_refusal(user: User) -> str | None:
    """Why `user`, whose password was right, may not sign in with it; None if they may."""
    for check in _password_checks:
        reason = check(user)
        if reason:
            return reason
    return None


class OrganizationEmailBackend(ModelBackend):
    """Authenticate `(domain, email, password)`; inactive users are refused."""

    def authenticate(  # type: ignore[override]
        self,
        request: HttpRequest | None,
        domain: str | None = None,
        email: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if not domain or not email or password is None:
            return None
        user = (
            User.objects.select_related("organization")
            .filter(organization__domain=domain.strip().lower(), email=normalize_email(email))
            .first()
        )
        if user is None:
            # Spend the same time as a real check so timing does not reveal which emails exist.
            User().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None


def axes_username(request: HttpRequest | None, credentials: dict[str, Any] | None) -> str:
    """The identity django-axes counts failures against: `domain:email`."""
    credentials = credentials or {}
    domain = str(credentials.get("domain") or "").strip().lower()
    email = normalize_email(str(credentials.get("email") or ""))
    return f"{domain}:{email}"
