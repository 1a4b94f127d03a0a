"""Secrets at rest: provider tokens and signing secrets are stored encrypted (Fernet, from
`cryptography`), never in clear text, and shown once. The credentials in URLs (webhook keys,
heartbeat check-in keys, calendar feed tokens) are stored encrypted too, for the pages that
show them again, and found by their SHA-256 (`SecretDigestField`, `secret_digest`).

Keys come from `OPSDUTY_ENCRYPTION_KEYS` (Fernet keys, the first encrypts, every one
decrypts, so a key can be rotated: put the new one first, save the secrets again, then
drop the old one). Without it one key is derived from `SECRET_KEY` (HKDF), so
a development database stays readable across restarts.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import models

__all__ = [
    "EncryptedTextField",
    "SecretDigestField",
    "secret_digest",
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


def secret_digest(value: str) -> str:
    """The lookup form of a URL credential: its SHA-256, hex.

    Unsalted on purpose: rows are found by it, and the credentials are random (120 bits and
    more), so the digest cannot be reversed by guessing.
    """
    return hashlib.sha256(value.encode()).hexdigest()


class SecretDigestField(models.CharField):  # type: ignore[type-arg]
    """The `secret_digest` of another field of the row (`of`, an `EncryptedTextField`), set
    by the field itself whenever the row is saved, so the two cannot disagree.

    A save with `update_fields` must name this field along with `of`; a queryset
    `.update()` of `of` would not reach it (nothing does that).
    """

    def __init__(self, *args: Any, of: str = "", **kwargs: Any) -> None:
        self.of = of
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("unique", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["of"] = self.of
        return name, path, args, kwargs

    def pre_save(self, model_instance: models.Model, add: bool) -> str:
        plain = str(getattr(model_instance, self.of) or "")
        if not plain and getattr(model_instance, self.attname):
            # The credential read as empty: its encryption key is gone (EncryptedTextField).
            # Keep the digest, so the URL goes on working, instead of hashing "".
            return str(getattr(model_instance, self.attname))
        value = secret_digest(plain)
        setattr(model_instance, self.attname, value)
        return value


def url_credentials_encrypt(schema_editor: Any, table: str, column: str, digest: str) -> None:
    """Migrations: encrypt `column` of every row in place and fill its `digest` column.

    Raw SQL, not the historical model: its field would already try to decrypt the clear
    values. Rows already encrypted (a re-run) keep their value.
    """
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f'SELECT id, "{column}" FROM "{table}"')  # noqa: S608 - our own names
        for row_id, value in cursor.fetchall():
            plain = secret_decrypt(value) if value.startswith(_PREFIX) else value
            cursor.execute(
                f'UPDATE "{table}" SET "{column}" = %s, "{digest}" = %s WHERE id = %s',  # noqa: S608
                [secret_encrypt(plain), secret_digest(plain), row_id],
            )


def secrets_reencrypt(connection: Any, table: str, column: str) -> tuple[int, int]:
    """Encrypt every stored secret of `table.column` again with the first key (key rotation:
    `manage.py reencrypt_secrets`). (rows rewritten, rows no key opens: left as they are)."""
    done = unreadable = 0
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT id, "{column}" FROM "{table}" WHERE "{column}" <> %s', [""])  # noqa: S608
        for row_id, value in cursor.fetchall():
            try:
                plain = secret_decrypt(value) if value.startswith(_PREFIX) else value
            except SecretUnreadable:
                unreadable += 1
                continue
            cursor.execute(
                f'UPDATE "{table}" SET "{column}" = %s WHERE id = %s',  # noqa: S608
                [secret_encrypt(plain), row_id],
            )
            done += 1
    return done, unreadable


def url_credentials_decrypt(schema_editor: Any, table: str, column: str, digest: str) -> None:
    """Migrations, backwards: the clear value back in `column` (the digest column emptied)."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f'SELECT id, "{column}" FROM "{table}"')  # noqa: S608 - our own names
        for row_id, value in cursor.fetchall():
            plain = secret_decrypt(value) if value.startswith(_PREFIX) else value
            cursor.execute(
                f'UPDATE "{table}" SET "{column}" = %s, "{digest}" = NULL WHERE id = %s',  # noqa: S608
                [plain, row_id],
            )
