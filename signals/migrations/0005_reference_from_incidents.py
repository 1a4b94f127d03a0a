"""IncidentReference moved from incidents to signals (the receiver hands it out): state only.
The table keeps its name (`incidents_incidentreference`), so the database does not change."""

import django.db.models.deletion
import django.utils.timezone
import uuid
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0008_reference_to_signals_prepare"),
        ("opsduty", "0003_service"),
        ("signals", "0004_service_in_core"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="IncidentReference",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "public_id",
                            models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("pending", "Pending"),
                                    ("completed", "Completed"),
                                    ("failed", "Failed"),
                                    ("stopped", "Stopped"),
                                ],
                                default="pending",
                                max_length=16,
                            ),
                        ),
                        ("reason", models.TextField(blank=True)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "incident",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                to="incidents.incident",
                            ),
                        ),
                        (
                            "organization",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="opsduty.organization",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "incidents_incidentreference",
                    },
                ),
                migrations.AlterField(
                    model_name="rawevent",
                    name="reference",
                    field=models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE, to="signals.incidentreference"
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]
