"""The built-in template `grafana` (Grafana Alerting) joins the base template choices: state
only in effect (choices are not stored in the database)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("processing", "0002_service_in_core"),
    ]

    operations = [
        migrations.AlterField(
            model_name="receivechannel",
            name="base_template",
            field=models.CharField(
                choices=[
                    ("generic", "Generic JSON"),
                    ("alertmanager", "Prometheus Alertmanager"),
                    ("grafana", "Grafana Alerting"),
                    ("checkly", "Checkly"),
                    ("deadmanssnitch", "Dead Man's Snitch"),
                    ("sentry", "Sentry"),
                ],
                default="generic",
                max_length=32,
            ),
        ),
    ]
