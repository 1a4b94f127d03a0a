"""Service moved from escalations to the core (opsduty.models): state only. The table
keeps its name (`escalations_service`), so the database does not change."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("opsduty", "0003_service"),
        ("signals", "0003_heartbeats"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="heartbeat",
                    name="service",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="heartbeats",
                        to="opsduty.service",
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]
