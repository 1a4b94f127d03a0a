"""Secrets at rest: provider tokens and signing secrets are stored encrypted (Fernet, from
`cryptography`), never in clear text, and shown once.

Keys come from `OPSDUTY_ENCRYPTION_KEYS` (Fernet keys, the first encrypts, every one
decrypts, so a key can be rotated: put the new one first, save the secrets again, then
drop the old one). Without it one key is derived from `SECRET_KEY` (HKDF), so
a development database stays readable across restarts.
"""

from __future__ import annotations

import base64
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import models

__all__ = [
    "EncryptedTextField",
    "SecretUnreadable",
    "secret_decrypt",
    "secret_encrypt",
    "secret_hint",
]

_PREFIX = "fernet:"


class SecretUnreadable(Exception):
    """A stored secret no configured key can decrypt (the key was changed or lost)."""


@cache
def _fernet() -> MultiFernet:
    keys: list[str] = list(settings.OPSDUTY_ENCRYPTION_KEYS)
    if not keys:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"opsduty-secrets", info=b"fernet"
        ).derive(settings.SECRET_KEY.encode())
        keys = [base64.urlsafe_b64encode(derived).decode()]
    return MultiFernet([Fernet(key.encode()) for key in keys])


def secret_encrypt(plain: str) -> str:
    """The stored form of `plain` ("" stays "")."""
    if not plain:
        return ""
    return _PREFIX + _fernet().encrypt(plain.encode()).decode()


def secret_decrypt(stored: str) -> str:
    """The clear text of a stored secret; `SecretUnreadable` if no key opens it."""
    if not stored:
        return ""
    if not stored.startswith(_PREFIX):
        raise SecretUnreadable("the stored value is not an encrypted secret")
    try:
        return _fernet().decrypt(stored[len(_PREFIX) :].encode()).decode()
    except InvalidToken as error:
        raise SecretUnreadable("no configured encryption key opens this secret") from error


def secret_hint(plain: str) -> str:
    """What the UI may show of a secret after it was saved: its last four characters."""
    return f"…{plain[-4:]}" if len(plain) > 4 else "…"  # noqa: RUF001 - an ellipsis, on purpose


class EncryptedTextField(models.TextField):  # type: ignore[type-arg]
    """A text column holding a Fernet token; Python code sees the clear text.

    Never filtered on (the tokens differ every time), never in `__str__` or logs.
    """

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None:
            return value
        try:
            return secret_decrypt(value)
        except SecretUnreadable:
            # A changed or lost key: the row still loads (its secret reads as empty, so
            # signatures fail and the settings page asks for the secret again).
            return ""

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None:
            return value
        return secret_encrypt(str(value))
