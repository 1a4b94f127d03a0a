"""Webhook keys and heartbeat check-in keys are stored encrypted (opsduty/crypto.py) and
found by their SHA-256; existing rows are converted in place (and back, backwards)."""

from typing import Any

from django.db import migrations, models

import opsduty.crypto
import signals.heartbeats.models
import signals.webhooks.models

COLUMNS = [
    ("signals_webhook", "key", "key_hash"),
    ("signals_heartbeat", "public_primary_key", "public_primary_key_hash"),
]


def encrypt(apps: Any, schema_editor: Any) -> None:
    for table, column, digest in COLUMNS:
        opsduty.crypto.url_credentials_encrypt(schema_editor, table, column, digest)


def decrypt(apps: Any, schema_editor: Any) -> None:
    for table, column, digest in COLUMNS:
        opsduty.crypto.url_credentials_decrypt(schema_editor, table, column, digest)


class Migration(migrations.Migration):
    dependencies = [
        ("signals", "0005_reference_from_incidents"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhook",
            name="key_hash",
            field=models.CharField(max_length=64, null=True, editable=False),
        ),
        migrations.AddField(
            model_name="heartbeat",
            name="public_primary_key_hash",
            field=models.CharField(max_length=64, null=True, editable=False),
        ),
        migrations.AlterField(
            model_name="webhook",
            name="key",
            field=opsduty.crypto.EncryptedTextField(
                default=signals.webhooks.models.new_webhook_key, editable=False
            ),
        ),
        migrations.AlterField(
            model_name="heartbeat",
            name="public_primary_key",
            field=opsduty.crypto.EncryptedTextField(
                default=signals.heartbeats.models.new_public_key
            ),
        ),
        migrations.RunPython(encrypt, decrypt),
    ]
