"""Calendar feed tokens are stored encrypted (opsduty/crypto.py) and found by their SHA-256;
existing rows are converted in place (and back, backwards)."""

from typing import Any

from django.db import migrations, models

import escalations.schedules.models
import opsduty.crypto


def encrypt(apps: Any, schema_editor: Any) -> None:
    opsduty.crypto.url_credentials_encrypt(
        schema_editor, "escalations_calendarfeed", "token", "token_hash"
    )


def decrypt(apps: Any, schema_editor: Any) -> None:
    opsduty.crypto.url_credentials_decrypt(
        schema_editor, "escalations_calendarfeed", "token", "token_hash"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("escalations", "0012_notification_delivery_status_and_more"),
    ]

    operations = [
        migrations.AddField(
            model_name="calendarfeed",
            name="token_hash",
            field=models.CharField(max_length=64, null=True, editable=False),
        ),
        migrations.AlterField(
            model_name="calendarfeed",
            name="token",
            field=opsduty.crypto.EncryptedTextField(
                default=escalations.schedules.models.new_feed_token
            ),
        ),
        migrations.RunPython(encrypt, decrypt),
    ]
