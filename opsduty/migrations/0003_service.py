"""Service moved from escalations to the core (opsduty.models): state only. The table
keeps its name (`escalations_service`), so the database does not change."""

import django.db.models.deletion
import django.utils.timezone
import opsduty.models
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("escalations", "0009_service_to_core_prepare"),
        ("opsduty", "0002_label"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Service",
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
                        ("name", models.CharField(max_length=200)),
                        ("description", models.TextField(blank=True, max_length=2000)),
                        (
                            "service_type",
                            models.CharField(
                                choices=[("technical", "Technical"), ("business", "Business")],
                                default="technical",
                                max_length=16,
                            ),
                        ),
                        (
                            "routing_key",
                            models.CharField(
                                default=opsduty.models.new_routing_key, max_length=64, unique=True
                            ),
                        ),
                        ("slack_channel", models.CharField(blank=True, max_length=80)),
                        (
                            "maintenance_mode",
                            models.CharField(
                                blank=True,
                                choices=[
                                    ("debug", "Debug (escalations paused)"),
                                    ("maintenance", "Maintenance (maintenance incident)"),
                                ],
                                max_length=16,
                                null=True,
                            ),
                        ),
                        ("maintenance_window_start", models.DateTimeField(blank=True, null=True)),
                        ("maintenance_window_end", models.DateTimeField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "escalation_policy",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="services",
                                to="escalations.escalationpolicy",
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
                        (
                            "team",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="services",
                                to="opsduty.team",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "escalations_service",
                        "ordering": ["id"],
                        "indexes": [
                            models.Index(
                                condition=models.Q(("maintenance_mode__isnull", False)),
                                fields=["maintenance_window_end"],
                                name="service_maintenance_due",
                            )
                        ],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("organization", "name"), name="service_name_per_org"
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
