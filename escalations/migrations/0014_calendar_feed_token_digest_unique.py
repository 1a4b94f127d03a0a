"""The SHA-256 column of calendar feed tokens, filled by 0013, becomes unique and required
(its own migration: PostgreSQL refuses to alter a table with pending trigger events)."""

from django.db import migrations

import opsduty.crypto


class Migration(migrations.Migration):
    dependencies = [
        ("escalations", "0013_calendar_feed_token_encrypted"),
    ]

    operations = [
        migrations.AlterField(
            model_name="calendarfeed",
            name="token_hash",
            field=opsduty.crypto.SecretDigestField(
                editable=False, max_length=64, of="token", unique=True
            ),
        ),
    ]
