"""`manage.py reencrypt_secrets`: encrypt every secret stored with `EncryptedTextField`
(Twilio auth tokens, Slack bot tokens, webhook keys, heartbeat check-in keys, calendar feed
tokens) again with the first of `OPSDUTY_ENCRYPTION_KEYS`, the step of a key rotation
between "put the new key first" and "drop the old one" (docs/security.md)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from opsduty.crypto import EncryptedTextField, secrets_reencrypt


class Command(BaseCommand):
    help = "Encrypt every stored secret again with the first encryption key."

    def handle(self, *args: Any, **options: Any) -> None:
        # The app registry, not imports: the core names no app (docs/architecture.md).
        for model in apps.get_models():
            for field in model._meta.concrete_fields:
                if not isinstance(field, EncryptedTextField):
                    continue
                with transaction.atomic():
                    done, unreadable = secrets_reencrypt(
                        connection, model._meta.db_table, str(field.column)
                    )
                line = f"{model._meta.label}.{field.name}: {done} re-encrypted"
                if unreadable:
                    line += f", {unreadable} that no configured key opens (left as they are)"
                self.stdout.write(line)
