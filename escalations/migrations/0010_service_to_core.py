"""Service moved from escalations to the core (opsduty.models): state only. The table
keeps its name (`escalations_service`), so the database does not change."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("escalations", "0009_service_to_core_prepare"),
        ("incidents", "0007_service_in_core"),
        ("processing", "0002_service_in_core"),
        ("signals", "0004_service_in_core"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(
                    name="Service",
                ),
            ],
            database_operations=[],
        ),
    ]
