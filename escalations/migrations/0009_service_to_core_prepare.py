"""Service moved from escalations to the core (opsduty.models): state only. The table
keeps its name (`escalations_service`), so the database does not change."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("escalations", "0008_schedules"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name="service",
                    name="escalation_policy",
                ),
                migrations.RemoveField(
                    model_name="service",
                    name="organization",
                ),
                migrations.RemoveField(
                    model_name="service",
                    name="team",
                ),
            ],
            database_operations=[],
        ),
    ]
