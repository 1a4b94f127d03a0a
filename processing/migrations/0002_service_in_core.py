"""Service moved from escalations to the core (opsduty.models): state only. The table
keeps its name (`escalations_service`), so the database does not change."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("opsduty", "0003_service"),
        ("processing", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="eventorchestration",
                    name="service",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="orchestrations",
                        to="opsduty.service",
                    ),
                ),
                migrations.AlterField(
                    model_name="route",
                    name="service",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="routing_routes",
                        to="opsduty.service",
                    ),
                ),
                migrations.AlterField(
                    model_name="routingrule",
                    name="default_service",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="default_for_routing_rules",
                        to="opsduty.service",
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]
