"""Sign-in: users authenticate with organization domain + email + password."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from opsduty.models import User, normalize_email


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
