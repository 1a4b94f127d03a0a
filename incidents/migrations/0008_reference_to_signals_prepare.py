"""IncidentReference moved from incidents to signals (the receiver hands it out): state only.
The table keeps its name (`incidents_incidentreference`), so the database does not change."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0007_service_in_core"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name="incidentreference",
                    name="incident",
                ),
                migrations.RemoveField(
                    model_name="incidentreference",
                    name="organization",
                ),
            ],
            database_operations=[],
        ),
    ]
