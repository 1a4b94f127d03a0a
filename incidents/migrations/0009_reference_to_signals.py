"""IncidentReference moved from incidents to signals (the receiver hands it out): state only.
The table keeps its name (`incidents_incidentreference`), so the database does not change."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0008_reference_to_signals_prepare"),
        ("signals", "0005_reference_from_incidents"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(
                    name="IncidentReference",
                ),
            ],
            database_operations=[],
        ),
    ]
