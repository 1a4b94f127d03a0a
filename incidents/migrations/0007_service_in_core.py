"""Service moved from escalations to the core (opsduty.models): state only. The table
keeps its name (`escalations_service`), so the database does not change."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0006_incident_number_deferred"),
        ("opsduty", "0003_service"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="incident",
                    name="service",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="incidents",
                        to="opsduty.service",
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]
