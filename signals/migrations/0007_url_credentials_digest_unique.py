"""The SHA-256 columns of webhook and heartbeat keys, filled by 0006, become unique and
required (a migration of their own: PostgreSQL refuses to alter a table with pending
trigger events from 0006's updates in the same transaction)."""

from django.db import migrations

import opsduty.crypto


class Migration(migrations.Migration):
    dependencies = [
        ("signals", "0006_url_credentials_encrypted"),
    ]

    operations = [
        migrations.AlterField(
            model_name="webhook",
            name="key_hash",
            field=opsduty.crypto.SecretDigestField(
                editable=False, max_length=64, of="key", unique=True
            ),
        ),
        migrations.AlterField(
            model_name="heartbeat",
            name="public_primary_key_hash",
            field=opsduty.crypto.SecretDigestField(
                editable=False, max_length=64, of="public_primary_key", unique=True
            ),
        ),
    ]
